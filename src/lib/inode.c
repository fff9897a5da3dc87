/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * inode: in-memory inodes, the cache that finds them, their life and death,
 * and the on-disk orphan list.
 *
 * An in-memory inode is the host-endian copy of one inode-table slot
 * (codec.h converts it and says what a slot may not hold) plus what only
 * memory knows (pins, FUSE lookups, open handles, the dio_file).
 * The cache is a hash table of them keyed by inode number, grown as it
 * fills.  The life of one:
 *
 *   inode_get() ── miss: read slot ──▶ cached, pinned ◀── inode_get() (hit)
 *                                         │ inode_put(): last pin,
 *                                         │ no lookups, no opens
 *                       ┌─────────────────┼─────────────────────┐
 *                  links > 0, times     links > 0,          links == 0
 *                  written              times dirty         (orphan)
 *                       │                  │ write them        │ free: blocks,
 *                       │                  │                   │ xattrs, orphan
 *                       ▼                  ▼                   ▼ list, number
 *                    dropped from memory (freeing set while the disk work runs)
 *
 * Rules:
 *  1. fs->icache_lock guards the hash table and each inode's refs, nlookup,
 *     nopen and freeing; it is the innermost lock (never held while taking
 *     meta_lock, dfile.lock or doing I/O).
 *  2. Dead inodes (mode 0: freed, or made by a transaction that aborted)
 *     stay in the table only until their last pin goes and are never
 *     found: a new inode may reuse the number at once.
 *  3. An inode being freed (freeing, links 0) is not found either: nothing
 *     can reach it by name.  One being evicted with links > 0 is taken back
 *     by inode_get(), and the evicting thread then leaves it in memory.
 *  4. inode_get() holds meta_lock shared from reading the slot until the
 *     inode is in the table, so a transaction (meta_lock exclusive) sees
 *     every inode either in memory or only on disk, never half loaded; the
 *     orphan list relies on it when it patches a slot on disk.
 *  5. The orphan list is singly linked through orphan_next from the
 *     superblock's orphan_head.  Adding pushes at the head; removing walks
 *     from the head to find the predecessor.  The list holds only unlinked
 *     inodes still open or looked up, so it is short, and every such inode
 *     is in memory: the walk touches no disk block but the one it patches.
 *     Replay at mount frees the head each time, so it never walks.
 *  6. This module calls none of those above it (extent.c, dir.c, xattr.c):
 *     it frees an inode's blocks, directory tree and xattrs, and binds its
 *     dio_file to the worker, through fs->content (struct
 *     inode_content_ops), which fs.c installs at mount.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "diofs/codec.h"
#include "diofs/inode.h"

#define ICACHE_MIN_BUCKETS	256

/* ---- the table; icache_lock held ------------------------------------------ */

static size_t ihash(const struct fs *fs, uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 32) &
	       (fs->nbuckets - 1);
}

/* Rule 2: dead inodes are not found. */
static struct inode *icache_find(struct fs *fs, uint64_t ino)
{
	struct inode *ip;

	for (ip = fs->ibuckets[ihash(fs, ino)]; ip; ip = ip->hash_next)
		if (ip->ino == ino && ip->mode)
			return ip;
	return NULL;
}

/* Double the buckets when the table averages two inodes per chain; a
 * failed allocation just leaves the chains longer. */
static void icache_grow(struct fs *fs)
{
	size_t old = fs->nbuckets, i;
	struct inode **nb, **ob = fs->ibuckets;

	nb = calloc(old * 2, sizeof(*nb));
	if (!nb)
		return;
	fs->ibuckets = nb;
	fs->nbuckets = old * 2;
	for (i = 0; i < old; i++) {
		struct inode *ip = ob[i], *next;

		for (; ip; ip = next) {
			size_t h = ihash(fs, ip->ino);

			next = ip->hash_next;
			ip->hash_next = nb[h];
			nb[h] = ip;
		}
	}
	free(ob);
}

static void icache_insert(struct fs *fs, struct inode *ip)
{
	size_t h;

	if (fs->ninodes >= 2 * fs->nbuckets)
		icache_grow(fs);
	h = ihash(fs, ip->ino);
	ip->hash_next = fs->ibuckets[h];
	fs->ibuckets[h] = ip;
	fs->ninodes++;
}

static void icache_remove(struct fs *fs, struct inode *ip)
{
	struct inode **pp = &fs->ibuckets[ihash(fs, ip->ino)];

	while (*pp != ip)
		pp = &(*pp)->hash_next;
	*pp = ip->hash_next;
	ip->hash_next = NULL;
	fs->ninodes--;
}

static void inode_destroy(struct inode *ip)
{
	dio_file_destroy(&ip->dfile);
	free(ip);
}

int inode_cache_init(struct fs *fs)
{
	fs->nbuckets = ICACHE_MIN_BUCKETS;
	fs->ninodes = 0;
	fs->ibuckets = calloc(fs->nbuckets, sizeof(*fs->ibuckets));
	return fs->ibuckets ? 0 : -ENOMEM;
}

void inode_cache_destroy(struct fs *fs)
{
	size_t i;

	for (i = 0; i < fs->nbuckets; i++) {
		struct inode *ip = fs->ibuckets[i], *next;

		for (; ip; ip = next) {
			next = ip->hash_next;
			inode_destroy(ip);
		}
	}
	free(fs->ibuckets);
	fs->ibuckets = NULL;
	fs->nbuckets = fs->ninodes = 0;
}

/* ---- the on-disk form ---------------------------------------------------------- */

/* Slot d from ip's fields as stored. */
static void inode_encode(const struct inode *ip, struct diofs_inode *d)
{
	struct codec_inode r;

	memset(&r, 0, sizeof(r));
	r.mode = ip->mode;
	r.flags = ip->flags;
	r.uid = ip->uid;
	r.gid = ip->gid;
	r.links = ip->links;
	r.generation = ip->generation;
	r.ino = ip->mode ? ip->ino : 0;	/* a free slot: 0 */
	/* Written by the worker under dfile.lock only (inode.h rule 2). */
	r.size = __atomic_load_n(&ip->dfile.size, __ATOMIC_RELAXED);
	r.blocks = ip->blocks;
	r.time[CODEC_ATIME] = ip->atime;
	r.time[CODEC_MTIME] = ip->mtime;
	r.time[CODEC_CTIME] = ip->ctime;
	r.time[CODEC_CRTIME] = ip->crtime;
	r.parent = ip->parent;
	r.rdev = ip->rdev;
	r.ext_root = ip->ext_root;
	r.xattr_root = ip->xattr_root;
	r.orphan_next = ip->orphan_next;
	r.nr_extents = ip->nr_extents;
	r.xattr_len = ip->xattr_len;
	memcpy(r.inline_data, ip->inline_data, sizeof(r.inline_data));
	memcpy(r.xattr, ip->xattr, sizeof(r.xattr));
	codec_inode_encode(&r, d);
}

/* Decode slot d of inode ino, refusing (and reporting) what later code
 * could not trust; a free slot (mode 0) is the caller's to judge. */
static int inode_decode(const struct fs *fs, uint64_t ino,
			const struct diofs_inode *d, struct codec_inode *r)
{
	unsigned bad;

	codec_inode_decode(d, r);
	bad = codec_inode_check(r, ino, &fs->sb);
	if (!bad)
		return 0;
	if (r->mode)
		bdev_report(fs->bdev, LOG_ERR,
			    "inode %" PRIu64 " is corrupt: its %s field is out of range",
			    ino, codec_inode_field_name(__builtin_ctz(bad)));
	return -EUCLEAN;
}

/* ip's fields as stored from r, but for mode and links, which lookups
 * read under icache_lock, and the size (inode.h rule 2): the caller's. */
static void inode_from_rec(struct inode *ip, const struct codec_inode *r)
{
	ip->flags = r->flags;
	ip->uid = r->uid;
	ip->gid = r->gid;
	ip->generation = r->generation;
	ip->blocks = r->blocks;
	ip->atime = r->time[CODEC_ATIME];
	ip->mtime = r->time[CODEC_MTIME];
	ip->ctime = r->time[CODEC_CTIME];
	ip->crtime = r->time[CODEC_CRTIME];
	ip->parent = r->parent;
	ip->rdev = r->rdev;
	ip->ext_root = r->ext_root;
	ip->xattr_root = r->xattr_root;
	ip->orphan_next = r->orphan_next;
	ip->nr_extents = r->nr_extents;
	ip->xattr_len = r->xattr_len;
	memcpy(ip->inline_data, r->inline_data, sizeof(ip->inline_data));
	memcpy(ip->xattr, r->xattr, sizeof(ip->xattr));
}

/* The inode-table block holding ino, and ino's slot in it. */
static int slot_read(struct fs *fs, uint64_t ino, struct mbuf **b,
		     struct diofs_inode **d)
{
	uint64_t blkno;
	uint32_t off;
	int err;

	err = super_inode_loc(&fs->sb, ino, &blkno, &off);
	if (err)
		return err;
	err = cache_read(fs->cache, blkno, DIOFS_MAGIC_ITABLE, b);
	if (err)
		return err;
	*d = (struct diofs_inode *)((char *)(*b)->data + off);
	return 0;
}

/* Read inode ino into the new in-memory inode ip (meta_lock held). */
static int inode_load(struct fs *fs, uint64_t ino, struct inode *ip)
{
	struct codec_inode r;
	struct diofs_inode *d;
	struct mbuf *b;
	int err;

	err = slot_read(fs, ino, &b, &d);
	if (err == -EUCLEAN && alloc_inode_in_use(fs->alloc, ino) == 0)
		return -ENOENT;	/* an inode-table block never written */
	if (err)
		return err;
	err = inode_decode(fs, ino, d, &r);
	cache_release(fs->cache, b);
	if (!r.mode)
		return -ENOENT;
	if (err)
		return err;
	ip->fs = fs;
	ip->ino = ino;
	ip->mode = r.mode;
	ip->links = r.links;
	inode_from_rec(ip, &r);
	return -dio_file_init(&ip->dfile, fs->content->dio_ops,
			      fs->sb.block_bits, r.size, ip);
}

/* ---- pins ------------------------------------------------------------------- */

int inode_get(struct fs *fs, uint64_t ino, struct inode **out)
{
	struct inode *ip, *other;
	bool taken;
	int err;

	if (fs_is_shut_down(fs))
		return -EIO;		/* rule 10 */
	if (ino == 0 || ino >= fs->sb.inodes_count)
		return -ENOENT;

	pthread_mutex_lock(&fs->icache_lock);
	ip = icache_find(fs, ino);
	if (ip) {
		/* Rule 3. */
		err = ip->freeing && !ip->links ? -ENOENT : 0;
		if (!err) {
			ip->refs++;
			ip->freeing = false;
			*out = ip;
		}
		pthread_mutex_unlock(&fs->icache_lock);
		return err;
	}
	pthread_mutex_unlock(&fs->icache_lock);

	ip = calloc(1, sizeof(*ip));
	if (!ip)
		return -ENOMEM;
	taken = fs_meta_rdlock(fs);	/* rule 4 */
	err = inode_load(fs, ino, ip);
	if (err) {
		fs_meta_unlock(fs, taken);
		free(ip);
		return err;
	}
	pthread_mutex_lock(&fs->icache_lock);
	other = icache_find(fs, ino);
	if (other) {
		/* Loaded by another reader meanwhile: theirs is the one. */
		err = other->freeing && !other->links ? -ENOENT : 0;
		if (!err) {
			other->refs++;
			other->freeing = false;
			*out = other;
		}
	} else {
		ip->refs = 1;
		icache_insert(fs, ip);
		*out = ip;
	}
	pthread_mutex_unlock(&fs->icache_lock);
	fs_meta_unlock(fs, taken);
	if (other)
		inode_destroy(ip);
	return err;
}

/* Rule 4 of inode.h: blocks, xattrs, orphan list entry, number. */
static int inode_free_disk(struct inode *ip)
{
	struct fs *fs = ip->fs;
	bool is_dir = S_ISDIR(ip->mode);
	struct txn *t;
	int err;

	err = fs_txn_begin(fs, &t);
	if (err)
		return err;
	err = inode_join(t, ip);
	if (!err && is_dir)
		err = fs->content->free_dir(t, ip);
	else if (!err && !(ip->flags & DIOFS_IFL_INLINE))
		err = fs->content->free_data(t, ip);
	if (!err)
		err = fs->content->free_xattrs(t, ip);
	if (!err)
		err = inode_orphan_remove(t, ip);
	if (!err) {
		/* The generation stays in the slot for the next inode_new(). */
		ip->mode = 0;
		ip->links = 0;
		ip->flags = 0;
		ip->nr_extents = ip->xattr_len = 0;
		ip->ext_root = ip->xattr_root = 0;
		memset(ip->inline_data, 0, sizeof(ip->inline_data));
		memset(ip->xattr, 0, sizeof(ip->xattr));
		__atomic_store_n(&ip->dfile.size, 0, __ATOMIC_RELAXED);
		err = inode_write(t, ip);
	}
	if (!err)
		err = alloc_inode_free(fs->alloc, t, ip->ino, is_dir);
	return fs_txn_end(fs, t, err);
}

static void put_after_unlock(void *arg)
{
	inode_put(arg);
}

void inode_put(struct inode *ip)
{
	struct fs *fs = ip->fs;
	bool tried = false;

	pthread_mutex_lock(&fs->icache_lock);
	for (;;) {
		bool disk;

		if (--ip->refs > 0 || ip->nlookup || ip->nopen)
			break;
		/* Disk work needs a transaction: the caller's must end first. */
		if (fs_txn_mine(fs)) {
			ip->refs = 1;
			if (fs_txn_on_end(fs, NULL, put_after_unlock, ip))
				ip->refs = 0;	/* left cached until unmount */
			break;
		}
		disk = ip->mode && !tried && !fs->read_only &&
		       !fs_error(fs) && (!ip->links || ip->times_dirty);
		if (!disk) {
			icache_remove(fs, ip);
			pthread_mutex_unlock(&fs->icache_lock);
			inode_destroy(ip);
			return;
		}
		ip->freeing = true;
		ip->refs = 1;
		pthread_mutex_unlock(&fs->icache_lock);
		/* A failure leaves an orphan for the next mount, or loses
		 * deferred times: either way the inode leaves memory. */
		if (!ip->links)
			inode_free_disk(ip);
		else
			inode_sync(ip);
		tried = true;
		pthread_mutex_lock(&fs->icache_lock);
		if (!ip->freeing)
			tried = false;	/* taken back meanwhile (rule 3) */
		ip->freeing = false;
	}
	pthread_mutex_unlock(&fs->icache_lock);
}

/* ---- transactions -------------------------------------------------------------- */

static void txn_ended(void *arg, int committed);

int inode_join(struct txn *t, struct inode *ip)
{
	struct fs *fs = ip->fs;
	int err;

	/* The flags are the open transaction's: the caller must own it. */
	assert(fs_txn_mine(fs));
	if (ip->txn_joined)
		return 0;
	pthread_mutex_lock(&fs->icache_lock);
	ip->refs++;
	pthread_mutex_unlock(&fs->icache_lock);
	/* The pin keeps ip in memory until the transaction's callbacks ran. */
	err = fs_txn_on_end(fs, txn_ended, put_after_unlock, ip);
	if (err) {
		pthread_mutex_lock(&fs->icache_lock);
		ip->refs--;
		pthread_mutex_unlock(&fs->icache_lock);
		return err;
	}
	ip->txn_joined = true;
	return 0;
}

int inode_write(struct txn *t, struct inode *ip)
{
	struct fs *fs = ip->fs;
	struct diofs_inode *d;
	struct mbuf *b;
	int err;

	err = inode_join(t, ip);
	if (!err)
		err = slot_read(fs, ip->ino, &b, &d);
	if (err)
		return err;
	err = txn_add(t, b);
	if (!err) {
		inode_encode(ip, d);
		ip->times_dirty = false;
	}
	cache_release(fs->cache, b);
	return err;
}

/* Rule 7 of inode.h at abort: reload ip from its restored slot, or kill
 * it if the transaction made it. */
static void inode_restore(struct inode *ip, bool created)
{
	struct fs *fs = ip->fs;
	struct codec_inode r;
	struct diofs_inode *d;
	struct mbuf *b;
	int err;

	if (created) {
		pthread_mutex_lock(&fs->icache_lock);
		ip->mode = 0;	/* rule 2 */
		ip->links = 0;
		pthread_mutex_unlock(&fs->icache_lock);
		return;
	}
	err = slot_read(fs, ip->ino, &b, &d);
	if (err)
		goto out_error;
	err = inode_decode(fs, ip->ino, d, &r);
	cache_release(fs->cache, b);
	if (err)
		goto out_error;
	/* Copy the on-disk fields; memory-only ones stay. */
	pthread_mutex_lock(&fs->icache_lock);
	ip->mode = r.mode;
	ip->links = r.links;
	pthread_mutex_unlock(&fs->icache_lock);
	inode_from_rec(ip, &r);
	ip->times_dirty = false;
	/* A directory's size is metadata (dir.c); a file's is dfile.lock's. */
	if (S_ISDIR(ip->mode))
		ip->dfile.size = r.size;
	return;

out_error:
	/* Memory and disk now disagree about ip: stop all changes. */
	fs_set_error(fs, err);
}

/* The end of the transaction ip joined (meta_lock still held). */
static void txn_ended(void *arg, int committed)
{
	struct inode *ip = arg;
	bool created = ip->txn_created;

	ip->txn_joined = false;
	ip->txn_created = false;
	if (!committed)
		inode_restore(ip, created);
}

/* ---- creation ------------------------------------------------------------------ */

struct timespec inode_now(void)
{
	struct timespec ts;

	/* The kernel's granularity for file times: a clock tick. */
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return ts;
}

int inode_new(struct fs *fs, struct txn *t, uint64_t parent, mode_t mode,
	      uid_t uid, gid_t gid, dev_t rdev, struct inode **out)
{
	struct codec_inode r;
	struct diofs_inode *d;
	struct inode *ip;
	struct mbuf *b;
	uint64_t ino;
	int err;

	err = alloc_inode(fs->alloc, t, parent, S_ISDIR(mode), &ino);
	if (err)
		return err;
	/* The slot is readable now (alloc.h rule 5). */
	err = slot_read(fs, ino, &b, &d);
	if (err)
		return err;
	codec_inode_decode(d, &r);
	cache_release(fs->cache, b);
	if (r.mode)
		return -EUCLEAN;	/* the bitmap called it free */

	ip = calloc(1, sizeof(*ip));
	if (!ip)
		return -ENOMEM;
	ip->fs = fs;
	ip->ino = ino;
	ip->mode = mode;
	ip->uid = uid;
	ip->gid = gid;
	ip->links = S_ISDIR(mode) ? 2 : 1;
	ip->generation = r.generation + 1;
	ip->atime = ip->mtime = ip->ctime = ip->crtime = inode_now();
	ip->parent = parent;
	ip->rdev = rdev;
	err = -dio_file_init(&ip->dfile, fs->content->dio_ops,
			     fs->sb.block_bits, 0, ip);
	if (err) {
		free(ip);
		return err;
	}
	ip->refs = 1;	/* the caller's; joining adds the transaction's */
	err = inode_join(t, ip);
	if (err) {
		inode_destroy(ip);
		return err;
	}
	ip->txn_created = true;

	pthread_mutex_lock(&fs->icache_lock);
	icache_insert(fs, ip);
	pthread_mutex_unlock(&fs->icache_lock);
	err = inode_write(t, ip);
	if (err) {
		/* The transaction aborts and kills it (inode.h rule 7). */
		pthread_mutex_lock(&fs->icache_lock);
		ip->refs--;
		pthread_mutex_unlock(&fs->icache_lock);
		return err;
	}
	*out = ip;
	return 0;
}

void inode_attr(struct inode *ip, struct fs_attr *a)
{
	uint32_t bits = ip->fs->sb.block_bits;

	memset(a, 0, sizeof(*a));
	a->ino = ip->ino;
	a->generation = ip->generation;
	a->mode = ip->mode;
	a->nlink = ip->links;
	a->uid = ip->uid;
	a->gid = ip->gid;
	a->rdev = (dev_t)ip->rdev;
	a->size = __atomic_load_n(&ip->dfile.size, __ATOMIC_RELAXED);
	a->blocks = ip->blocks << (bits - 9);
	a->blksize = ip->fs->sb.block_size;
	a->atime = ip->atime;
	a->mtime = ip->mtime;
	a->ctime = ip->ctime;
}

int inode_sync(struct inode *ip)
{
	struct fs *fs = ip->fs;
	struct txn *t;
	bool dirty, taken;
	int err;

	taken = fs_meta_rdlock(fs);
	dirty = ip->times_dirty;
	fs_meta_unlock(fs, taken);
	if (!dirty)
		return 0;
	err = fs_txn_begin(fs, &t);
	if (err)
		return err;
	return fs_txn_end(fs, t, ip->times_dirty ? inode_write(t, ip) : 0);
}

/* Linux's relatime rule (fs/inode.c), or what the mount asks instead. */
static bool atime_due(const struct inode *ip, struct timespec now)
{
	const struct timespec a = ip->atime;

	if (ip->flags & DIOFS_IFL_NOATIME)
		return false;
	if (a.tv_sec == now.tv_sec && a.tv_nsec == now.tv_nsec)
		return false;
	if (ip->fs->atime == FS_ATIME_STRICT)
		return true;
	if (ip->mtime.tv_sec > a.tv_sec ||
	    (ip->mtime.tv_sec == a.tv_sec && ip->mtime.tv_nsec >= a.tv_nsec) ||
	    ip->ctime.tv_sec > a.tv_sec ||
	    (ip->ctime.tv_sec == a.tv_sec && ip->ctime.tv_nsec >= a.tv_nsec))
		return true;
	return now.tv_sec - a.tv_sec >= 24 * 60 * 60;
}

bool inode_atime_due(struct inode *ip)
{
	struct fs *fs = ip->fs;
	bool due;

	if (fs->atime == FS_ATIME_NEVER || fs->read_only || fs_error(fs))
		return false;
	pthread_rwlock_rdlock(&fs->meta_lock);
	due = atime_due(ip, inode_now());
	pthread_rwlock_unlock(&fs->meta_lock);
	return due;
}

/* Rule 8: the new atime waits in memory for the inode's next write, so a
 * read never writes to the device nor forces a commit. */
void inode_accessed(struct inode *ip)
{
	struct fs *fs = ip->fs;
	struct timespec now;

	if (!inode_atime_due(ip))
		return;
	now = inode_now();
	pthread_rwlock_wrlock(&fs->meta_lock);
	if (atime_due(ip, now)) {
		ip->atime = now;
		ip->times_dirty = true;
	}
	pthread_rwlock_unlock(&fs->meta_lock);
}

/* ---- the orphan list (rule 5) ------------------------------------------------ */

/* The successor of ino on the list: from memory, or from its slot. */
static int orphan_next_of(struct fs *fs, uint64_t ino, uint64_t *next)
{
	struct codec_inode r;
	struct diofs_inode *d;
	struct inode *ip;
	struct mbuf *b;
	int err;

	pthread_mutex_lock(&fs->icache_lock);
	ip = icache_find(fs, ino);
	if (ip)
		*next = ip->orphan_next;
	pthread_mutex_unlock(&fs->icache_lock);
	if (ip)
		return 0;
	err = slot_read(fs, ino, &b, &d);
	if (err)
		return err;
	codec_inode_decode(d, &r);
	cache_release(fs->cache, b);
	*next = r.orphan_next;
	return codec_inode_check(&r, ino, &fs->sb) &
	       CODEC_BAD(CODEC_INODE_ORPHAN_NEXT) ? -EUCLEAN : 0;
}

/* Point ino's orphan_next at next, in memory if it is there (rule 4). */
static int orphan_set_next(struct txn *t, struct fs *fs, uint64_t ino,
			   uint64_t next)
{
	struct codec_inode r;
	struct diofs_inode *d;
	struct inode *ip;
	struct mbuf *b;
	int err;

	pthread_mutex_lock(&fs->icache_lock);
	ip = icache_find(fs, ino);
	if (ip)
		ip->refs++;
	pthread_mutex_unlock(&fs->icache_lock);
	if (ip) {
		err = inode_join(t, ip);
		if (!err) {
			ip->orphan_next = next;
			err = inode_write(t, ip);
		}
		inode_put(ip);
		return err;
	}
	err = slot_read(fs, ino, &b, &d);
	if (err)
		return err;
	err = txn_add(t, b);
	if (!err) {
		codec_inode_decode(d, &r);
		r.orphan_next = next;
		codec_inode_encode(&r, d);
	}
	cache_release(fs->cache, b);
	return err;
}

/* Find ip on the list: *prev is its predecessor (0: it is the head).
 * -ENOENT if it is not on the list. */
static int orphan_find(struct fs *fs, uint64_t ino, uint64_t *prev)
{
	uint64_t cur = fs->sb.orphan_head, p = 0, steps = 0;
	int err;

	while (cur && cur != ino) {
		if (++steps > fs->sb.inodes_count)
			return -EUCLEAN;	/* a cycle */
		p = cur;
		err = orphan_next_of(fs, cur, &cur);
		if (err)
			return err;
	}
	if (!cur)
		return -ENOENT;
	*prev = p;
	return 0;
}

int inode_orphan_add(struct txn *t, struct inode *ip)
{
	struct fs *fs = ip->fs;
	uint64_t prev;
	int err;

	err = orphan_find(fs, ip->ino, &prev);
	if (err != -ENOENT)
		return err;	/* already there (0) or a broken list */
	err = inode_join(t, ip);
	if (err)
		return err;
	ip->orphan_next = fs->sb.orphan_head;
	fs->sb.orphan_head = ip->ino;
	err = inode_write(t, ip);
	if (!err)
		err = super_update(&fs->sb, fs->cache, t);
	return err;
}

int inode_orphan_remove(struct txn *t, struct inode *ip)
{
	struct fs *fs = ip->fs;
	uint64_t prev;
	int err;

	err = orphan_find(fs, ip->ino, &prev);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	if (prev) {
		err = orphan_set_next(t, fs, prev, ip->orphan_next);
	} else {
		fs->sb.orphan_head = ip->orphan_next;
		err = super_update(&fs->sb, fs->cache, t);
	}
	if (err)
		return err;
	ip->orphan_next = 0;
	return inode_write(t, ip);
}

int inode_orphan_replay(struct fs *fs)
{
	struct inode *ip;
	struct txn *t;
	uint64_t ino;
	int err;

	while ((ino = fs->sb.orphan_head) != 0) {
		err = inode_get(fs, ino, &ip);
		if (err == -ENOENT) {
			/* A free inode on the list: the rest of the chain is
			 * unknowable, so the list ends here (fsck finds any
			 * unreachable inode after it). */
			err = fs_txn_begin(fs, &t);
			if (err)
				return err;
			fs->sb.orphan_head = 0;
			err = fs_txn_end(fs, t, super_update(&fs->sb, fs->cache,
							     t));
			if (err)
				return err;
			continue;
		}
		if (err)
			return err;
		if (ip->links) {
			/* Linked again before the crash: just off the list. */
			err = fs_txn_begin(fs, &t);
			if (!err)
				err = fs_txn_end(fs, t,
						 inode_orphan_remove(t, ip));
			inode_put(ip);
		} else {
			inode_put(ip);	/* frees it, head first */
		}
		if (!err && fs->sb.orphan_head == ino)
			err = fs_error(fs) ? fs_error(fs) : -EIO;
		if (err)
			return err;
	}
	return 0;
}

/* ---- unmount -------------------------------------------------------------------- */

/* Pin every live in-memory inode; *n of them in the array returned. */
static struct inode **pin_all(struct fs *fs, size_t *n)
{
	struct inode **v, *ip;
	size_t i, k = 0;

	pthread_mutex_lock(&fs->icache_lock);
	v = malloc((fs->ninodes + 1) * sizeof(*v));
	if (v) {
		for (i = 0; i < fs->nbuckets; i++) {
			for (ip = fs->ibuckets[i]; ip; ip = ip->hash_next) {
				if (!ip->mode || ip->freeing)
					continue;
				ip->refs++;
				v[k++] = ip;
			}
		}
	}
	pthread_mutex_unlock(&fs->icache_lock);
	*n = k;
	return v;
}

int inode_sync_all(struct fs *fs)
{
	struct inode **v;
	size_t n, i;
	int err = 0, e;

	v = pin_all(fs, &n);
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		e = inode_sync(v[i]);
		if (e && !err)
			err = e;
		inode_put(v[i]);
	}
	free(v);
	return err;
}

int inode_release_all(struct fs *fs)
{
	struct inode **v;
	size_t n, i;
	int err = 0, e;

	v = pin_all(fs, &n);
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct inode *ip = v[i];

		/* The kernel forgets nothing at unmount: its references end
		 * here, and an unlinked inode is freed by the last put. */
		pthread_mutex_lock(&fs->icache_lock);
		ip->nlookup = 0;
		ip->nopen = 0;
		pthread_mutex_unlock(&fs->icache_lock);
		if (ip->links) {
			e = inode_sync(ip);
			if (e && !err)
				err = e;
		}
		inode_put(ip);
	}
	free(v);
	return err;
}
