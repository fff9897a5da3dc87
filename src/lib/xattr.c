/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xattr: extended attributes, inline in the inode and in a per-inode tree.
 *
 * An attribute name is a namespace prefix and a suffix.  The prefix is
 * stored as a one-byte name_index (format.h: user., trusted., security.,
 * system.) and only the suffix is kept.  Each attribute is one struct
 * diofs_xattr_entry (codec.h converts them): first in the inode's 240-byte
 * inline area, packed and padded to 4 bytes; what does not fit there goes
 * to the inode's xattr tree (xattr_root), keyed like directory entries by
 * the hash of the index byte and the suffix, plus a collision counter.
 *
 * POSIX ACLs are the attributes system.posix_acl_access and
 * system.posix_acl_default, stored like any other: the kernel interprets
 * and enforces them (FUSE_CAP_POSIX_ACL), diofs only keeps the bytes.
 *
 * Rules:
 *  1. Names: the prefix must be one of user., trusted., security., or the
 *     two ACL names of system. (-EOPNOTSUPP otherwise); the suffix is 1 to
 *     255 bytes (-EINVAL if empty) and the whole name at most 255
 *     (XATTR_NAME_MAX; -ERANGE beyond, as the kernel's own check says).
 *  2. Values: at most DIOFS_XATTR_VALUE_MAX (64 KiB, the VFS's
 *     XATTR_SIZE_MAX; -E2BIG beyond).  A value that fits one tree entry
 *     with its name (btree_max_value(block_size) - 4 - suffix length: 1 KiB
 *     and more for 4 KiB blocks, about 300 bytes for 1 KiB blocks) is kept
 *     in the entry; a larger one goes to a run of blocks of its own
 *     (format.h, struct diofs_xattr_ref) and the entry keeps a reference:
 *     its block number, length and crc32c.
 *  3. A run is written like file data, in place with O_DIRECT, before
 *     xattr_set() returns and so before the transaction that references
 *     it can commit (the ordered-data rule of doc/DESIGN.md).  Its blocks
 *     are always newly allocated: a value is never rewritten in place, so
 *     a crash leaves either the old reference and the old run, which stays
 *     allocated (busy, alloc.h rule 2) until the change is durable, or the
 *     new ones.  Replacing, removing and xattr_destroy() free the old run
 *     in the same transaction; runs are counted in the inode's blocks.
 *  4. The first run on a filesystem without DIOFS_FEAT_INCOMPAT_XATTR_RUNS
 *     sets the flag, in the transaction that references the run.
 *  5. An inode holds any number of attributes, and values, but a new name
 *     that would take its listing past XATTR_LIST_MAX (64 KiB, the most
 *     the kernel lists) is refused with -ENOSPC, as ext4 refuses one when
 *     its attribute space is full: a file whose names cannot be listed
 *     cannot be copied or backed up with them.
 *  6. Placement: a value that is set (new or again) goes inline if it
 *     fits the inline area's free space at that moment, else to the tree.
 *     Removing an inline entry closes its gap, but pulls nothing in from
 *     the tree: only the names being set move, so the listing order
 *     (inline first, then tree order) changes only for them.
 *  7. xattr_get() and xattr_list() take meta_lock shared themselves
 *     (fs_meta_rdlock(): inode.h rule 9).  The others run inside the
 *     caller's transaction, after it has joined the inode (inode_join()),
 *     and the caller writes the inode back (inode.h rules 3 and 7).  Tree
 *     nodes are counted in the inode's blocks as they come and go.
 *  8. Listing shows every namespace: the engine does not know the caller's
 *     capabilities, and the kernel checks access to each name on get.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "diofs/codec.h"
#include "diofs/crc.h"
#include "diofs/inode.h"

#define XATTR_NAME_LIMIT	255	/* XATTR_NAME_MAX, whole name */
#define XATTR_LIST_LIMIT	65536	/* XATTR_LIST_MAX, a listing's bytes */

struct xattr_prefix {
	const char *prefix;
	size_t len;
	uint8_t index;
};

static const struct xattr_prefix xattr_prefixes[] = {
	{ "user.", 5, DIOFS_XATTR_USER },
	{ "trusted.", 8, DIOFS_XATTR_TRUSTED },
	{ "security.", 9, DIOFS_XATTR_SECURITY },
	{ "system.", 7, DIOFS_XATTR_SYSTEM },
};

/* A parsed name (rule 1). */
struct xattr_name {
	uint8_t index;
	uint8_t len;
	const char *suffix;
};

static int xattr_parse(const char *name, struct xattr_name *xn)
{
	size_t full = strlen(name), i;

	if (full > XATTR_NAME_LIMIT)
		return -ERANGE;
	for (i = 0; i < sizeof(xattr_prefixes) / sizeof(xattr_prefixes[0]);
	     i++) {
		const struct xattr_prefix *p = &xattr_prefixes[i];

		if (strncmp(name, p->prefix, p->len))
			continue;
		xn->index = p->index;
		xn->suffix = name + p->len;
		xn->len = (uint8_t)(full - p->len);
		if (xn->len == 0)
			return -EINVAL;
		if (p->index == DIOFS_XATTR_SYSTEM &&
		    strcmp(xn->suffix, "posix_acl_access") &&
		    strcmp(xn->suffix, "posix_acl_default"))
			return -EOPNOTSUPP;
		return 0;
	}
	return -EOPNOTSUPP;
}

static const char *xattr_prefix_of(uint8_t index)
{
	size_t i;

	if (index == DIOFS_XATTR_OTHER)
		return "";
	for (i = 0; i < sizeof(xattr_prefixes) / sizeof(xattr_prefixes[0]);
	     i++)
		if (xattr_prefixes[i].index == index)
			return xattr_prefixes[i].prefix;
	return NULL;
}

static size_t xattr_value_max(const struct inode *ip, size_t name_len)
{
	return btree_max_value(ip->fs->sb.block_size) -
	       codec_xattr_size(name_len, 0);
}

static bool xattr_is(const struct codec_xattr *x, const struct xattr_name *xn)
{
	return x->name_index == xn->index && x->name_len == xn->len &&
	       !memcmp(x->name, xn->suffix, xn->len);
}

/* What an entry holds for a value: the value itself, or (rule 2) the
 * reference to its run. */
struct xattr_stored {
	const void *value;
	size_t size;
	bool run;
	struct diofs_xattr_ref ref;	/* when run */
};

static size_t stored_size(const struct xattr_stored *st)
{
	return st->run ? sizeof(st->ref) : st->size;
}

/* Encode the entry of xn into buf (codec_xattr_size() bytes); its size. */
static size_t xattr_encode(void *buf, const struct xattr_name *xn,
			   const struct xattr_stored *st)
{
	return codec_xattr_encode(buf,
				  xn->index | (st->run ? DIOFS_XATTR_RUN : 0),
				  xn->suffix, xn->len,
				  st->run ? (const void *)&st->ref : st->value,
				  stored_size(st));
}

/* ---- value runs (rules 2-4) ------------------------------------------------- */

static void *run_buf(const struct fs *fs, uint64_t nblocks)
{
	void *p;

	if (posix_memalign(&p, bdev_mem_align(fs->bdev),
			   nblocks * fs->sb.block_size))
		return NULL;
	return p;
}

/* Move the run's nblocks blocks at start to or from buf, synchronously. */
static int run_io(struct fs *fs, enum bdev_op op, void *buf, uint64_t start,
		  uint64_t nblocks)
{
	size_t len = nblocks * fs->sb.block_size;
	uint64_t off = start * fs->sb.block_size;
	ssize_t n;

	pthread_mutex_lock(&fs->xattr_io_lock);
	n = op == BDEV_WRITE ? bdev_pwrite(fs->xattr_q, buf, len, off)
			     : bdev_pread(fs->xattr_q, buf, len, off);
	pthread_mutex_unlock(&fs->xattr_io_lock);
	return n < 0 ? (int)n : 0;
}

/* Rule 4. */
static int run_feature(struct txn *t, struct fs *fs)
{
	if (fs->sb.incompat & DIOFS_FEAT_INCOMPAT_XATTR_RUNS)
		return 0;
	/* fs_txn_end() restores fs->sb if the transaction aborts */
	fs->sb.incompat |= DIOFS_FEAT_INCOMPAT_XATTR_RUNS;
	return super_update(&fs->sb, fs->cache, t);
}

/* Write st's value to a new run and make st the reference to it. */
static int run_write(struct txn *t, struct inode *ip, struct xattr_stored *st)
{
	struct fs *fs = ip->fs;
	uint32_t bs = fs->sb.block_size;
	uint64_t n = codec_xattr_run_blocks((uint32_t)st->size, bs);
	struct codec_xattr_ref r;
	uint64_t len;
	uint8_t *buf;
	int err;

	buf = run_buf(fs, n);
	if (!buf)
		return -ENOMEM;
	err = run_feature(t, fs);
	if (!err)
		err = alloc_blocks(fs->alloc, t,
				   super_inode_goal(&fs->sb, ip->ino), n, n,
				   &r.start, &len);
	if (err)
		goto out;
	memcpy(buf, st->value, st->size);
	/* the tail of the last block is zero, never stale device bytes */
	memset(buf + st->size, 0, n * bs - st->size);
	/* An error leaves the blocks to the transaction's abort. */
	err = run_io(fs, BDEV_WRITE, buf, r.start, n);
	if (err)
		goto out;
	ip->blocks += n;
	r.size = (uint32_t)st->size;
	r.crc = diofs_crc32c(0, st->value, st->size);
	codec_xattr_ref_encode(&r, &st->ref);
	st->run = true;
out:
	free(buf);
	return err;
}

static int run_free(struct txn *t, struct inode *ip,
		    const struct codec_xattr_ref *r)
{
	uint64_t n = codec_xattr_run_blocks(r->size, ip->fs->sb.block_size);
	int err;

	err = alloc_free(ip->fs->alloc, t, r->start, n);
	if (err == -EINVAL)	/* not a run the allocator could have made */
		err = -EUCLEAN;
	if (!err)
		ip->blocks -= n;
	return err;
}

/* The value of the run r into value (r->size bytes), checked. */
static int run_read(struct inode *ip, const struct codec_xattr_ref *r,
		    void *value)
{
	struct fs *fs = ip->fs;
	uint64_t n = codec_xattr_run_blocks(r->size, fs->sb.block_size);
	uint8_t *buf;
	int err;

	if (r->start + n > fs->sb.blocks_count || r->start + n < r->start)
		return -EUCLEAN;
	buf = run_buf(fs, n);
	if (!buf)
		return -ENOMEM;
	err = run_io(fs, BDEV_READ, buf, r->start, n);
	if (!err && diofs_crc32c(0, buf, r->size) != r->crc)
		err = -EUCLEAN;
	if (!err)
		memcpy(value, buf, r->size);
	free(buf);
	return err;
}

/* The reference of x, if it has one: -EUCLEAN when it is damaged. */
static int entry_ref(const struct codec_xattr *x, struct codec_xattr_ref *r)
{
	return x->run ? codec_xattr_ref_decode(x, r) : 0;
}

/* ---- the inline area ------------------------------------------------------- */

/* Name in the inline area: 0 with the entry in *x and its offset in *off,
 * -ENODATA, or -EUCLEAN. */
static int inl_find(struct inode *ip, const struct xattr_name *xn,
		    struct codec_xattr *x, size_t *off)
{
	size_t pos = 0, next;

	if (ip->xattr_len > DIOFS_INLINE_XATTR)
		return -EUCLEAN;
	while (pos < ip->xattr_len) {
		if (codec_xattr_inline(ip->xattr, ip->xattr_len, pos, x, &next))
			return -EUCLEAN;
		if (xattr_is(x, xn)) {
			*off = pos;
			return 0;
		}
		pos = next;
	}
	return -ENODATA;
}

/* Remove the entry x at off, as inl_find() found it. */
static void inl_remove(struct inode *ip, const struct codec_xattr *x,
		       size_t off)
{
	size_t n = codec_xattr_padded(x->name_len, x->value_len);

	memmove(ip->xattr + off, ip->xattr + off + n, ip->xattr_len - off - n);
	ip->xattr_len -= n;
	memset(ip->xattr + ip->xattr_len, 0, n);
}

static bool inl_fits(const struct inode *ip, const struct xattr_name *xn,
		     const struct xattr_stored *st)
{
	return ip->xattr_len + codec_xattr_padded(xn->len, stored_size(st)) <=
	       DIOFS_INLINE_XATTR;
}

static void inl_append(struct inode *ip, const struct xattr_name *xn,
		       const struct xattr_stored *st)
{
	xattr_encode(ip->xattr + ip->xattr_len, xn, st);
	/* the padding is already zero: the free part of the area is kept so */
	ip->xattr_len += codec_xattr_padded(xn->len, stored_size(st));
}

/* ---- the tree -------------------------------------------------------------- */

/* The btree_ops argument: node blocks are charged to the inode. */
struct xattr_tree {
	struct btree bt;
	struct btree_ops ops;
	struct inode *ip;
	uint8_t *val;		/* a buffer of btree_max_value() bytes */
	size_t val_max;
};

static int xattr_node_alloc(void *arg, struct txn *t, uint64_t goal,
			    uint64_t *blkno)
{
	struct xattr_tree *xt = arg;
	struct fs *fs = xt->ip->fs;
	int err;

	if (!goal)
		goal = super_inode_goal(&fs->sb, xt->ip->ino);
	err = alloc_btree_alloc(fs->alloc, t, goal, blkno);
	if (!err)
		xt->ip->blocks++;
	return err;
}

static void xattr_node_free(void *arg, struct txn *t, uint64_t blkno)
{
	struct xattr_tree *xt = arg;

	alloc_btree_free(xt->ip->fs->alloc, t, blkno);
	xt->ip->blocks--;
}

static int xattr_tree_init(struct xattr_tree *xt, struct inode *ip)
{
	xt->ip = ip;
	xt->ops.alloc_block = xattr_node_alloc;
	xt->ops.free_block = xattr_node_free;
	xt->ops.arg = xt;
	xt->bt.cache = ip->fs->cache;
	xt->bt.ops = &xt->ops;
	xt->bt.magic_leaf = DIOFS_MAGIC_XATTR_LEAF;
	xt->bt.magic_node = DIOFS_MAGIC_XATTR_NODE;
	xt->bt.root = ip->xattr_root;
	xt->val_max = btree_max_value(ip->fs->sb.block_size);
	xt->val = malloc(xt->val_max);
	return xt->val ? 0 : -ENOMEM;
}

/* End a read-only use of the tree. */
static void xattr_tree_free(struct xattr_tree *xt)
{
	free(xt->val);
}

/* End a change: the root may have moved. */
static void xattr_tree_done(struct xattr_tree *xt)
{
	xt->ip->xattr_root = xt->bt.root;
	xattr_tree_free(xt);
}

static uint64_t xattr_hash(const struct inode *ip, const struct xattr_name *xn)
{
	uint8_t buf[1 + 255];

	buf[0] = xn->index;
	memcpy(buf + 1, xn->suffix, xn->len);
	return diofs_name_hash(ip->fs->sb.hash_seed, buf, 1 + (size_t)xn->len);
}

/* The entry with the least key >= key, into xt->val and *x; checked. */
static int tree_next(struct xattr_tree *xt, uint64_t key, uint64_t *found,
		     struct codec_xattr *x)
{
	size_t vlen = xt->val_max;
	int err;

	err = btree_lookup(&xt->bt, key, BTREE_GE, found, xt->val, &vlen);
	if (err)
		return err;
	if (vlen > xt->val_max)
		return -EUCLEAN;
	return codec_xattr_value(xt->val, vlen, x);
}

/*
 * Find xn in the tree (the collision walk of dir.c's rule 2): 0 with *key
 * and *x the entry (in xt->val), or -ENODATA with *free_n the lowest
 * unused counter.
 */
static int tree_find(struct xattr_tree *xt, const struct xattr_name *xn,
		     uint64_t *key, struct codec_xattr *x, unsigned *free_n)
{
	uint64_t h = xattr_hash(xt->ip, xn);
	uint64_t k = diofs_dir_key(h, 0);
	uint64_t last = diofs_dir_key(h, DIOFS_DIR_COLLISIONS - 1);
	unsigned next_n = 0;
	bool gap = false;
	int err;

	if (!xt->bt.root)
		goto none;
	for (;;) {
		err = tree_next(xt, k, key, x);
		if (err == -ENOENT || (!err && *key > last))
			break;
		if (err)
			return err;
		if (!gap && (unsigned)(*key & 0xff) != next_n)
			gap = true;
		if (!gap)
			next_n++;
		if (xattr_is(x, xn))
			return 0;
		if (*key == last)
			break;
		k = *key + 1;
	}
none:
	if (free_n)
		*free_n = next_n;
	return -ENODATA;
}

static int tree_insert(struct xattr_tree *xt, struct txn *t,
		       const struct xattr_name *xn, unsigned n,
		       const struct xattr_stored *st)
{
	uint8_t *buf = malloc(codec_xattr_size(xn->len, stored_size(st)));
	size_t len;
	int err;

	if (!buf)
		return -ENOMEM;
	/* 256 names of one inode with one 54-bit hash: a broken seed only */
	if (n >= DIOFS_DIR_COLLISIONS) {
		err = -ENOSPC;
		goto out;
	}
	len = xattr_encode(buf, xn, st);
	err = btree_insert(&xt->bt, t, diofs_dir_key(xattr_hash(xt->ip, xn), n),
			   buf, len);
out:
	free(buf);
	return err;
}

static int tree_update(struct xattr_tree *xt, struct txn *t, uint64_t key,
		       const struct xattr_name *xn,
		       const struct xattr_stored *st)
{
	uint8_t *buf = malloc(codec_xattr_size(xn->len, stored_size(st)));
	size_t len;
	int err;

	if (!buf)
		return -ENOMEM;
	len = xattr_encode(buf, xn, st);
	err = btree_update(&xt->bt, t, key, buf, len);
	free(buf);
	return err;
}

/* ---- the interface ---------------------------------------------------------- */

static ssize_t xattr_list_locked(struct inode *ip, char *list, size_t size);

/* Rule 5: would a new name xn still leave the listing within its limit? */
static int list_room(struct inode *ip, const struct xattr_name *xn)
{
	ssize_t used = xattr_list_locked(ip, NULL, 0);

	if (used < 0)
		return (int)used;
	if ((size_t)used + strlen(xattr_prefix_of(xn->index)) + xn->len + 1 >
	    XATTR_LIST_LIMIT)
		return -ENOSPC;
	return 0;
}

int xattr_set(struct txn *t, struct inode *ip, const char *name,
	      const void *value, size_t size, int flags)
{
	struct xattr_stored st = { .value = value, .size = size };
	struct codec_xattr_ref old = { 0 };
	struct xattr_name xn;
	struct xattr_tree xt;
	struct codec_xattr x;
	uint64_t key = 0;
	unsigned free_n = 0;
	size_t off = 0;
	bool inl = false, intree = false, old_run = false;
	int err;

	err = xattr_parse(name, &xn);
	if (err)
		return err;
	if (size > DIOFS_XATTR_VALUE_MAX)
		return -E2BIG;
	if ((flags & ~(XATTR_CREATE | XATTR_REPLACE)) ||
	    (flags & XATTR_CREATE && flags & XATTR_REPLACE))
		return -EINVAL;
	err = xattr_tree_init(&xt, ip);
	if (err)
		return err;

	err = inl_find(ip, &xn, &x, &off);
	if (!err)
		inl = true;
	else if (err == -ENODATA)
		err = tree_find(&xt, &xn, &key, &x, &free_n);
	if (!err && !inl)
		intree = true;
	if (err && err != -ENODATA)
		goto out;
	err = 0;
	if (flags & XATTR_CREATE && (inl || intree)) {
		err = -EEXIST;
		goto out;
	}
	if (flags & XATTR_REPLACE && !inl && !intree) {
		err = -ENODATA;
		goto out;
	}
	if (inl || intree) {
		/* x points into what changes below: keep its reference */
		err = entry_ref(&x, &old);
		old_run = x.run;
	} else {
		err = list_room(ip, &xn);
	}
	/* Rule 3: the new run is written before anything refers to it. */
	if (!err && size > xattr_value_max(ip, xn.len))
		err = run_write(t, ip, &st);
	if (err)
		goto out;

	if (inl)
		inl_remove(ip, &x, off);
	if (inl_fits(ip, &xn, &st)) {
		if (intree)
			err = btree_delete(&xt.bt, t, key);
		if (!err)
			inl_append(ip, &xn, &st);
	} else if (intree) {
		err = tree_update(&xt, t, key, &xn, &st);
	} else {
		if (inl)	/* it left the inline area: find a counter */
			err = tree_find(&xt, &xn, &key, &x, &free_n);
		if (err == -ENODATA)
			err = 0;
		if (!err)
			err = tree_insert(&xt, t, &xn, free_n, &st);
	}
	if (!err && old_run)
		err = run_free(t, ip, &old);
out:
	xattr_tree_done(&xt);
	return err;
}

/* The value of the entry x into value (size bytes; 0: only the length). */
static ssize_t entry_value(struct inode *ip, const struct codec_xattr *x,
			   void *value, size_t size)
{
	struct codec_xattr_ref r;
	int err;

	if (!x->run) {
		if (size && size < x->value_len)
			return -ERANGE;
		if (size)
			memcpy(value, x->value, x->value_len);
		return (ssize_t)x->value_len;
	}
	err = codec_xattr_ref_decode(x, &r);
	if (!err && size && size < r.size)
		err = -ERANGE;
	if (!err && size)
		err = run_read(ip, &r, value);
	return err ? err : (ssize_t)r.size;
}

static ssize_t xattr_get_locked(struct inode *ip,
				const struct xattr_name *xn, void *value,
				size_t size)
{
	struct codec_xattr x;
	struct xattr_tree xt;
	uint64_t key;
	size_t off;
	ssize_t ret;

	ret = inl_find(ip, xn, &x, &off);
	if (!ret)
		return entry_value(ip, &x, value, size);
	if (ret != -ENODATA)
		return ret;

	ret = xattr_tree_init(&xt, ip);
	if (ret)
		return ret;
	ret = tree_find(&xt, xn, &key, &x, NULL);
	if (!ret)
		ret = entry_value(ip, &x, value, size);
	xattr_tree_free(&xt);
	return ret;
}

ssize_t xattr_get(struct inode *ip, const char *name, void *value,
		  size_t size)
{
	struct xattr_name xn;
	ssize_t ret;
	bool taken;

	ret = xattr_parse(name, &xn);
	if (ret)
		return ret;
	taken = fs_meta_rdlock(ip->fs);
	ret = xattr_get_locked(ip, &xn, value, size);
	fs_meta_unlock(ip->fs, taken);
	return ret;
}

/* Append one name to the list being built; the total size goes on. */
static int list_add(const struct codec_xattr *x, char *list,
		    size_t size, size_t *pos)
{
	const char *prefix = xattr_prefix_of(x->name_index);
	size_t plen, n;

	if (!prefix)
		return -EUCLEAN;
	plen = strlen(prefix);
	n = plen + x->name_len + 1;
	if (size) {
		if (*pos + n > size)
			return -ERANGE;
		memcpy(list + *pos, prefix, plen);
		memcpy(list + *pos + plen, x->name, x->name_len);
		list[*pos + n - 1] = '\0';
	}
	*pos += n;
	return 0;
}

static ssize_t xattr_list_locked(struct inode *ip, char *list, size_t size)
{
	struct codec_xattr x;
	struct xattr_tree xt;
	size_t pos = 0, off = 0, next;
	uint64_t key = 0;
	int err;

	if (ip->xattr_len > DIOFS_INLINE_XATTR)
		return -EUCLEAN;
	while (off < ip->xattr_len) {
		if (codec_xattr_inline(ip->xattr, ip->xattr_len, off, &x, &next))
			return -EUCLEAN;
		err = list_add(&x, list, size, &pos);
		if (err)
			return err;
		off = next;
	}
	if (!ip->xattr_root)
		return (ssize_t)pos;

	err = xattr_tree_init(&xt, ip);
	if (err)
		return err;
	for (;;) {
		err = tree_next(&xt, key, &key, &x);
		if (err == -ENOENT) {
			err = 0;
			break;
		}
		if (!err)
			err = list_add(&x, list, size, &pos);
		if (err)
			break;
		key++;
	}
	xattr_tree_free(&xt);
	return err ? err : (ssize_t)pos;
}

ssize_t xattr_list(struct inode *ip, char *list, size_t size)
{
	ssize_t ret;
	bool taken;

	taken = fs_meta_rdlock(ip->fs);
	ret = xattr_list_locked(ip, list, size);
	fs_meta_unlock(ip->fs, taken);
	return ret;
}

int xattr_remove(struct txn *t, struct inode *ip, const char *name)
{
	struct codec_xattr_ref r;
	struct xattr_name xn;
	struct xattr_tree xt;
	struct codec_xattr x;
	uint64_t key;
	size_t off;
	bool run;
	int err;

	err = xattr_parse(name, &xn);
	if (err)
		return err;
	err = inl_find(ip, &xn, &x, &off);
	if (!err) {
		run = x.run;
		err = entry_ref(&x, &r);
		if (err)
			return err;
		inl_remove(ip, &x, off);
		return run ? run_free(t, ip, &r) : 0;
	}
	if (err != -ENODATA)
		return err;
	err = xattr_tree_init(&xt, ip);
	if (err)
		return err;
	err = tree_find(&xt, &xn, &key, &x, NULL);
	run = !err && x.run;
	if (!err)
		err = entry_ref(&x, &r);
	if (!err)
		err = btree_delete(&xt.bt, t, key);
	if (!err && run)
		err = run_free(t, ip, &r);
	xattr_tree_done(&xt);
	return err;
}

/* Free the runs of every entry, inline and in the tree (xt). */
static int free_runs(struct txn *t, struct inode *ip, struct xattr_tree *xt)
{
	struct codec_xattr_ref r;
	struct codec_xattr x;
	size_t off = 0, next;
	uint64_t key = 0;
	int err = 0;

	if (ip->xattr_len > DIOFS_INLINE_XATTR)
		return -EUCLEAN;
	while (off < ip->xattr_len && !err) {
		err = codec_xattr_inline(ip->xattr, ip->xattr_len, off, &x,
					 &next);
		if (!err && x.run)
			err = codec_xattr_ref_decode(&x, &r);
		if (!err && x.run)
			err = run_free(t, ip, &r);
		off = next;
	}
	if (err || !ip->xattr_root)
		return err;
	for (;;) {
		err = tree_next(xt, key, &key, &x);
		if (err == -ENOENT)
			return 0;
		if (!err && x.run)
			err = codec_xattr_ref_decode(&x, &r);
		if (!err && x.run)
			err = run_free(t, ip, &r);
		if (err)
			return err;
		key++;
	}
}

int xattr_destroy(struct txn *t, struct inode *ip)
{
	struct xattr_tree xt;
	int err;

	err = xattr_tree_init(&xt, ip);
	if (err)
		return err;
	err = free_runs(t, ip, &xt);
	if (!err)
		err = btree_destroy(&xt.bt, t);
	xattr_tree_done(&xt);
	if (!err) {
		memset(ip->xattr, 0, sizeof(ip->xattr));
		ip->xattr_len = 0;
	}
	return err;
}
