/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuse-null: a FUSE filesystem that keeps names and attributes in memory
 * and nothing else, so that bench/compare can show what the FUSE transport
 * itself allows on a machine: whatever a real FUSE daemon does costs on
 * top of this.
 *
 * Reads return zeros up to the file's size; writes only move the size;
 * fsync returns at once.  Everything the kernel side decides is set as the
 * diofs daemon sets it (src/fuse/ops.c ops_init(), src/fuse/main.c), so
 * the two differ only in the work done per request:
 *   - entry, negative-entry and attribute timeouts of 1 s;
 *   - asynchronous direct I/O, parallel directory operations, asynchronous
 *     reads, cached symlinks, POSIX ACLs with the umask applied by the
 *     daemon (DONT_MASK) when the kernel offers them;
 *   - no writeback cache, no splicing, O_TRUNC as a setattr;
 *   - FUSE_HANDLE_KILLPRIV_V2, negotiated through the daemon's channel
 *     (src/fuse/channel.c), so the kernel does not ask for
 *     security.capability before every write (set-id bits are never
 *     cleared here: no benchmark sets them);
 *   - max_write 1 MiB, max_background 128 (congestion at 96);
 *   - direct_io on O_DIRECT opens only, keep_cache off;
 *   - readdirplus next to readdir, so the kernel chooses as for diofs;
 *   - no flush handler, so the kernel stops sending flush on close;
 *   - default_permissions, a clone_fd multi-threaded loop of at most 32
 *     workers, all of them kept when idle.
 * bench/compare mounts it as fuseblk (-o blkdev,fsname=DEVICE) on the same
 * loop device, as root's diofs mounts are.
 *
 * Rules:
 *  1. One mutex guards all state; a request holds it for a hash look-up
 *     or two and never while replying to the kernel.
 *  2. A node lives while it has a name (st_nlink), a kernel reference
 *     (nlookup) or an open file handle (opens); the last of the three to
 *     go frees it.
 *  3. A directory's entries sit in its slot array in creation order, and
 *     a readdir offset is a slot number: an unlink leaves its slot empty,
 *     so a listing that runs while entries go (rm -r) skips none.  The
 *     array is emptied when the directory is.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"

#define NULL_TIMEOUT		1.0
#define NULL_MAX_WRITE		(1024 * 1024)
#define NULL_MAX_THREADS	32
#define NULL_MAX_BACKGROUND	128	/* as diofs (src/fuse/main.c) */
#define NULL_IDLE_THREADS	NULL_MAX_THREADS
/* The kernel never asks for more than max_write bytes in one read. */
#define NULL_ZEROS		NULL_MAX_WRITE

struct dent;

struct node {
	struct stat st;		/* st_ino is what stat(2) shows */
	uint64_t nlookup;	/* rule 2 */
	unsigned opens;
	char *link;		/* a symlink's target */
	struct dent **slots;	/* a directory's entries (rule 3) */
	size_t nslots, cap, live;
};

struct dent {
	struct dent *hnext;	/* hash chain */
	struct node *parent;
	struct node *node;
	size_t slot;
	char name[];
};

static struct {
	pthread_mutex_t lock;
	struct node root;
	struct dent **buckets;
	size_t nbuckets, count;
	ino_t next_ino;
	char *zeros;
} nfs = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct node *node_of(fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &nfs.root : (struct node *)(uintptr_t)ino;
}

static fuse_ino_t ino_of(struct node *n)
{
	return n == &nfs.root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

static size_t hash(const struct node *parent, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (uintptr_t)parent;

	while (*name)
		h = (h ^ (unsigned char)*name++) * 0x100000001b3ull;
	return (size_t)(h ^ (h >> 29));
}

static struct dent **dent_find(struct node *parent, const char *name)
{
	struct dent **p;

	if (!nfs.nbuckets)
		return NULL;
	p = &nfs.buckets[hash(parent, name) & (nfs.nbuckets - 1)];
	for (; *p; p = &(*p)->hnext)
		if ((*p)->parent == parent && !strcmp((*p)->name, name))
			return p;
	return NULL;
}

static void hash_insert(struct dent *d)
{
	size_t i = hash(d->parent, d->name) & (nfs.nbuckets - 1);

	d->hnext = nfs.buckets[i];
	nfs.buckets[i] = d;
}

/* Keep at most one entry per bucket on average. */
static int hash_grow(void)
{
	struct dent **old = nfs.buckets, *d, *next;
	size_t n = nfs.nbuckets, i;

	if (nfs.count < nfs.nbuckets)
		return 0;
	nfs.nbuckets = n ? n * 2 : 1024;
	nfs.buckets = calloc(nfs.nbuckets, sizeof(*nfs.buckets));
	if (!nfs.buckets) {
		nfs.buckets = old;
		nfs.nbuckets = n;
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		for (d = old[i]; d; d = next) {
			next = d->hnext;
			hash_insert(d);
		}
	free(old);
	return 0;
}

static void now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static void touch(struct node *n)
{
	now(&n->st.st_mtim);
	n->st.st_ctim = n->st.st_mtim;
}

/* Rule 2 */
static void node_put(struct node *n)
{
	if (n == &nfs.root || n->st.st_nlink || n->nlookup || n->opens)
		return;
	free(n->link);
	free(n->slots);
	free(n);
}

/* Link d into its parent's slots and the hash (rule 3). */
static int dent_add(struct dent *d)
{
	struct node *dir = d->parent;

	if (hash_grow())
		return -ENOMEM;
	if (dir->nslots == dir->cap) {
		size_t cap = dir->cap ? dir->cap * 2 : 16;
		struct dent **s = realloc(dir->slots, cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		dir->slots = s;
		dir->cap = cap;
	}
	d->slot = dir->nslots++;
	dir->slots[d->slot] = d;
	dir->live++;
	hash_insert(d);
	nfs.count++;
	touch(dir);
	return 0;
}

/* Unlink the entry *p points at; the caller frees it. */
static void dent_remove(struct dent **p)
{
	struct dent *d = *p;
	struct node *dir = d->parent;

	*p = d->hnext;
	nfs.count--;
	dir->slots[d->slot] = NULL;
	if (--dir->live == 0)
		dir->nslots = 0;
	touch(dir);
}

static struct dent *dent_new(struct node *parent, const char *name,
			     struct node *n)
{
	size_t len = strlen(name);
	struct dent *d = malloc(sizeof(*d) + len + 1);

	if (!d)
		return NULL;
	d->parent = parent;
	d->node = n;
	memcpy(d->name, name, len + 1);
	return d;
}

static void fill_entry(struct node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino_of(n);
	e->attr = n->st;
	e->attr_timeout = NULL_TIMEOUT;
	e->entry_timeout = NULL_TIMEOUT;
}

static void null_init(void *userdata, struct fuse_conn_info *conn)
{
	unsigned want_on = FUSE_CAP_ASYNC_DIO | FUSE_CAP_PARALLEL_DIROPS |
			   FUSE_CAP_ASYNC_READ | FUSE_CAP_CACHE_SYMLINKS;
	unsigned want_off = FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_SPLICE_READ |
			    FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
			    FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_HANDLE_KILLPRIV;
	unsigned acl_caps = FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;

	(void)userdata;
	conn->want |= want_on & conn->capable;
	conn->want &= ~want_off;
	if ((conn->capable & acl_caps) == acl_caps)
		conn->want |= acl_caps;
	conn->max_write = NULL_MAX_WRITE;
	conn->max_background = NULL_MAX_BACKGROUND;
	conn->congestion_threshold = NULL_MAX_BACKGROUND * 3 / 4;
}

static void null_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	struct dent **p;

	pthread_mutex_lock(&nfs.lock);
	p = dent_find(node_of(parent), name);
	if (p) {
		(*p)->node->nlookup++;
		fill_entry((*p)->node, &e);
	} else {
		/* a negative entry, cached as diofs's are */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = NULL_TIMEOUT;
	}
	pthread_mutex_unlock(&nfs.lock);
	fuse_reply_entry(req, &e);
}

static void forget_locked(fuse_ino_t ino, uint64_t nlookup)
{
	struct node *n = node_of(ino);

	n->nlookup -= nlookup < n->nlookup ? nlookup : n->nlookup;
	node_put(n);
}

static void null_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	pthread_mutex_lock(&nfs.lock);
	forget_locked(ino, nlookup);
	pthread_mutex_unlock(&nfs.lock);
	fuse_reply_none(req);
}

static void null_forget_multi(fuse_req_t req, size_t count,
			      struct fuse_forget_data *forgets)
{
	size_t i;

	pthread_mutex_lock(&nfs.lock);
	for (i = 0; i < count; i++)
		forget_locked(forgets[i].ino, forgets[i].nlookup);
	pthread_mutex_unlock(&nfs.lock);
	fuse_reply_none(req);
}

static void null_getattr(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	pthread_mutex_lock(&nfs.lock);
	st = node_of(ino)->st;
	pthread_mutex_unlock(&nfs.lock);
	fuse_reply_attr(req, &st, NULL_TIMEOUT);
}

static void null_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			 int to_set, struct fuse_file_info *fi)
{
	struct node *n = node_of(ino);
	struct stat st;

	(void)fi;
	pthread_mutex_lock(&nfs.lock);
	if (to_set & FUSE_SET_ATTR_MODE)
		n->st.st_mode = (n->st.st_mode & S_IFMT) |
				(attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		n->st.st_uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		n->st.st_gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		n->st.st_size = attr->st_size;
		n->st.st_blocks = (attr->st_size + 511) / 512;
		touch(n);
	}
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		now(&n->st.st_atim);
	else if (to_set & FUSE_SET_ATTR_ATIME)
		n->st.st_atim = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		now(&n->st.st_mtim);
	else if (to_set & FUSE_SET_ATTR_MTIME)
		n->st.st_mtim = attr->st_mtim;
	if (to_set & FUSE_SET_ATTR_CTIME)
		n->st.st_ctim = attr->st_ctim;
	else
		now(&n->st.st_ctim);
	st = n->st;
	pthread_mutex_unlock(&nfs.lock);
	fuse_reply_attr(req, &st, NULL_TIMEOUT);
}

static void null_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char *target;

	pthread_mutex_lock(&nfs.lock);
	target = node_of(ino)->link ? strdup(node_of(ino)->link) : NULL;
	pthread_mutex_unlock(&nfs.lock);
	if (!target) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fuse_reply_readlink(req, target);
	free(target);
}

/* A new node named name in parent; reply with its entry or an error. */
static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev, const char *link,
		      struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct node *dir = node_of(parent), *n;
	struct fuse_entry_param e;
	struct dent *d = NULL;
	int rc = -ENOMEM;

	n = calloc(1, sizeof(*n));
	if (!n)
		goto out_err;
	if (link && !(n->link = strdup(link)))
		goto out_node;
	d = dent_new(dir, name, n);
	if (!d)
		goto out_node;
	/* DONT_MASK: the umask is the daemon's to apply */
	n->st.st_mode = S_ISLNK(mode) ? mode : mode & ~ctx->umask;
	n->st.st_nlink = S_ISDIR(mode) ? 2 : 1;
	n->st.st_uid = ctx->uid;
	n->st.st_gid = ctx->gid;
	n->st.st_rdev = rdev;
	n->st.st_blksize = 4096;
	n->st.st_size = link ? (off_t)strlen(link) : 0;
	now(&n->st.st_atim);
	n->st.st_mtim = n->st.st_ctim = n->st.st_atim;
	n->nlookup = 1;
	if (fi)
		n->opens = 1;

	pthread_mutex_lock(&nfs.lock);
	if (dent_find(dir, name)) {
		rc = -EEXIST;
	} else {
		n->st.st_ino = ++nfs.next_ino;
		rc = dent_add(d);
	}
	if (rc == 0) {
		if (S_ISDIR(mode))
			dir->st.st_nlink++;
		fill_entry(n, &e);
	}
	pthread_mutex_unlock(&nfs.lock);
	if (rc < 0)
		goto out_node;

	if (fi) {
		fi->direct_io = !!(fi->flags & O_DIRECT);
		fi->keep_cache = 0;
		fuse_reply_create(req, &e, fi);
	} else {
		fuse_reply_entry(req, &e);
	}
	return;

out_node:
	free(d);
	free(n->link);
	free(n);
out_err:
	fuse_reply_err(req, -rc);
}

static void null_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode, dev_t rdev)
{
	make_node(req, parent, name, mode, rdev, NULL, NULL);
}

static void null_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode)
{
	make_node(req, parent, name, S_IFDIR | mode, 0, NULL, NULL);
}

static void null_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			 const char *name)
{
	make_node(req, parent, name, S_IFLNK | 0777, 0, link, NULL);
}

static void null_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, struct fuse_file_info *fi)
{
	make_node(req, parent, name, mode, 0, NULL, fi);
}

static void null_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		      const char *newname)
{
	struct node *n = node_of(ino), *dir = node_of(newparent);
	struct fuse_entry_param e;
	struct dent *d;
	int rc;

	d = dent_new(dir, newname, n);
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&nfs.lock);
	rc = dent_find(dir, newname) ? -EEXIST : dent_add(d);
	if (rc == 0) {
		n->st.st_nlink++;
		n->nlookup++;
		now(&n->st.st_ctim);
		fill_entry(n, &e);
	}
	pthread_mutex_unlock(&nfs.lock);
	if (rc < 0) {
		free(d);
		fuse_reply_err(req, -rc);
		return;
	}
	fuse_reply_entry(req, &e);
}

/* Drop the name *p points at from its node (dir: a directory's). */
static void unlink_locked(struct dent **p, int dir)
{
	struct dent *d = *p;
	struct node *n = d->node;

	dent_remove(p);
	if (dir) {
		n->st.st_nlink = 0;
		d->parent->st.st_nlink--;
	} else {
		n->st.st_nlink--;
	}
	now(&n->st.st_ctim);
	free(d);
	node_put(n);
}

static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name,
			int dir)
{
	struct dent **p;
	int rc = 0;

	pthread_mutex_lock(&nfs.lock);
	p = dent_find(node_of(parent), name);
	if (!p)
		rc = ENOENT;
	else if (dir && !S_ISDIR((*p)->node->st.st_mode))
		rc = ENOTDIR;
	else if (!dir && S_ISDIR((*p)->node->st.st_mode))
		rc = EISDIR;
	else if (dir && (*p)->node->live)
		rc = ENOTEMPTY;
	else
		unlink_locked(p, dir);
	pthread_mutex_unlock(&nfs.lock);
	fuse_reply_err(req, rc);
}

static void null_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, 0);
}

static void null_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, 1);
}

static int rename_locked(struct node *from, const char *name, struct node *to,
			 const char *newname, unsigned flags)
{
	struct dent **p, **q, *d, *nd;
	int isdir;

	if (flags & ~RENAME_NOREPLACE)
		return EINVAL;
	p = dent_find(from, name);
	if (!p)
		return ENOENT;
	d = *p;
	isdir = S_ISDIR(d->node->st.st_mode);
	q = dent_find(to, newname);
	if (q) {
		struct node *old = (*q)->node;

		if (flags & RENAME_NOREPLACE)
			return EEXIST;
		if (old == d->node)
			return 0;
		if (isdir && !S_ISDIR(old->st.st_mode))
			return ENOTDIR;
		if (!isdir && S_ISDIR(old->st.st_mode))
			return EISDIR;
		if (S_ISDIR(old->st.st_mode) && old->live)
			return ENOTEMPTY;
	}
	nd = dent_new(to, newname, d->node);
	if (!nd)
		return ENOMEM;
	if (q) {
		unlink_locked(q, isdir);
		/* the chain may have changed under p */
		p = dent_find(from, name);
	}
	dent_remove(p);
	free(d);
	if (dent_add(nd)) {
		/* only the hash can fail to grow, and it has room for the
		 * entry just removed */
		free(nd);
		return ENOMEM;
	}
	if (isdir && from != to) {
		from->st.st_nlink--;
		to->st.st_nlink++;
	}
	now(&nd->node->st.st_ctim);
	return 0;
}

static void null_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			fuse_ino_t newparent, const char *newname,
			unsigned int flags)
{
	int rc;

	pthread_mutex_lock(&nfs.lock);
	rc = rename_locked(node_of(parent), name, node_of(newparent), newname,
			   flags);
	pthread_mutex_unlock(&nfs.lock);
	fuse_reply_err(req, rc);
}

static void null_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	pthread_mutex_lock(&nfs.lock);
	node_of(ino)->opens++;
	pthread_mutex_unlock(&nfs.lock);
	fi->direct_io = !!(fi->flags & O_DIRECT);
	fi->keep_cache = 0;
	fuse_reply_open(req, fi);
}

static void null_release(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	struct node *n = node_of(ino);

	(void)fi;
	pthread_mutex_lock(&nfs.lock);
	n->opens--;
	node_put(n);
	pthread_mutex_unlock(&nfs.lock);
	fuse_reply_err(req, 0);
}

static void null_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	off_t end;

	(void)fi;
	pthread_mutex_lock(&nfs.lock);
	end = node_of(ino)->st.st_size;
	pthread_mutex_unlock(&nfs.lock);
	if (off >= end)
		size = 0;
	else if ((off_t)size > end - off)
		size = (size_t)(end - off);
	if (size > NULL_ZEROS)
		size = NULL_ZEROS;
	fuse_reply_buf(req, nfs.zeros, size);
}

static void null_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		       size_t size, off_t off, struct fuse_file_info *fi)
{
	struct node *n = node_of(ino);

	(void)buf;
	(void)fi;
	pthread_mutex_lock(&nfs.lock);
	if (off + (off_t)size > n->st.st_size) {
		n->st.st_size = off + (off_t)size;
		n->st.st_blocks = (n->st.st_size + 511) / 512;
	}
	touch(n);
	pthread_mutex_unlock(&nfs.lock);
	fuse_reply_write(req, size);
}

static void null_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			   off_t off, off_t len, struct fuse_file_info *fi)
{
	struct node *n = node_of(ino);

	(void)fi;
	if (mode) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	pthread_mutex_lock(&nfs.lock);
	if (off + len > n->st.st_size) {
		n->st.st_size = off + len;
		n->st.st_blocks = (n->st.st_size + 511) / 512;
	}
	now(&n->st.st_ctim);
	pthread_mutex_unlock(&nfs.lock);
	fuse_reply_err(req, 0);
}

static void null_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		       struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

/*
 * Offsets (rule 3): 0 is ".", 1 is "..", 2 + i is slot i; an entry's off
 * is where the listing goes on after it.
 */
static void list_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     int plus)
{
	struct node *dir = node_of(ino);
	struct fuse_entry_param e;
	char *buf, *p;
	size_t left = size, len;
	size_t i;

	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	p = buf;
	pthread_mutex_lock(&nfs.lock);
	for (i = (size_t)off; ; i++) {
		const char *name;
		struct node *n;

		if (i == 0) {
			name = ".";
			n = dir;
		} else if (i == 1) {
			name = "..";
			n = dir;	/* only its type is looked at */
		} else if (i - 2 < dir->nslots) {
			if (!dir->slots[i - 2])
				continue;
			name = dir->slots[i - 2]->name;
			n = dir->slots[i - 2]->node;
		} else {
			break;
		}
		fill_entry(n, &e);
		if (!plus) {
			len = fuse_add_direntry(req, p, left, name, &e.attr,
						(off_t)i + 1);
		} else {
			/* "." and ".." take no reference (as in diofs) */
			if (i < 2)
				e.ino = 0;
			len = fuse_add_direntry_plus(req, p, left, name, &e,
						     (off_t)i + 1);
		}
		if (len > left)
			break;
		if (plus && i >= 2)
			n->nlookup++;
		p += len;
		left -= len;
	}
	pthread_mutex_unlock(&nfs.lock);
	fuse_reply_buf(req, buf, size - left);
	free(buf);
}

static void null_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			 off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	list_dir(req, ino, size, off, 0);
}

static void null_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			     off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	list_dir(req, ino, size, off, 1);
}

static void null_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			  struct fuse_file_info *fi)
{
	null_fsync(req, ino, datasync, fi);
}

static void null_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv = {
		.f_bsize = 4096,
		.f_frsize = 4096,
		.f_blocks = 1ull << 30,
		.f_bfree = 1ull << 30,
		.f_bavail = 1ull << 30,
		.f_files = 1ull << 32,
		.f_ffree = 1ull << 32,
		.f_favail = 1ull << 32,
		.f_namemax = 255,
	};

	(void)ino;
	fuse_reply_statfs(req, &sv);
}

/* No extended attributes, and no ACLs: asking costs the round trip only. */
static void null_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			  size_t size)
{
	(void)ino;
	(void)name;
	(void)size;
	fuse_reply_err(req, ENODATA);
}

static void null_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)ino;
	if (size)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_xattr(req, 0);
}

static void null_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			  const char *value, size_t size, int flags)
{
	(void)ino;
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	fuse_reply_err(req, ENOTSUP);
}

static void null_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino;
	(void)name;
	fuse_reply_err(req, ENODATA);
}

static const struct fuse_lowlevel_ops null_ops = {
	.init = null_init,
	.lookup = null_lookup,
	.forget = null_forget,
	.forget_multi = null_forget_multi,
	.getattr = null_getattr,
	.setattr = null_setattr,
	.readlink = null_readlink,
	.mknod = null_mknod,
	.mkdir = null_mkdir,
	.unlink = null_unlink,
	.rmdir = null_rmdir,
	.symlink = null_symlink,
	.rename = null_rename,
	.link = null_link,
	.open = null_open,
	.read = null_read,
	.write = null_write,
	.release = null_release,
	.fsync = null_fsync,
	.readdir = null_readdir,
	.readdirplus = null_readdirplus,
	.fsyncdir = null_fsyncdir,
	.statfs = null_statfs,
	.create = null_create,
	.setxattr = null_setxattr,
	.getxattr = null_getxattr,
	.listxattr = null_listxattr,
	.removexattr = null_removexattr,
	.fallocate = null_fallocate,
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct fuse_loop_config *cfg;
	struct fuse_session *se;
	int rc = 1;

	if (fuse_parse_cmdline(&args, &opts))
		return 1;
	if (opts.show_help || opts.show_version || !opts.mountpoint) {
		printf("usage: %s MOUNTPOINT [-f] [-d] [-o option[,option...]]\n"
		       "A memory-only FUSE filesystem: names and attributes,\n"
		       "no data (reads return zeros).  Standard FUSE options:\n",
		       argv[0]);
		fuse_lowlevel_help();
		rc = opts.mountpoint || opts.show_help || opts.show_version ?
		     0 : 1;
		goto out_args;
	}
	nfs.zeros = calloc(1, NULL_ZEROS);
	if (!nfs.zeros)
		goto out_args;
	nfs.root.st.st_ino = nfs.next_ino = 1;
	nfs.root.st.st_mode = S_IFDIR | 0755;
	nfs.root.st.st_nlink = 2;
	nfs.root.st.st_blksize = 4096;
	now(&nfs.root.st.st_mtim);
	nfs.root.st.st_atim = nfs.root.st.st_ctim = nfs.root.st.st_mtim;
	if (fuse_opt_add_arg(&args, "-odefault_permissions,subtype=null"))
		goto out_zeros;

	se = fuse_session_new(&args, &null_ops, sizeof(null_ops), NULL);
	if (!se)
		goto out_zeros;
	if (fuse_set_signal_handlers(se))
		goto out_session;
	if (fuse_session_mount(se, opts.mountpoint))
		goto out_handlers;
	if (channel_attach(se) < 0)
		goto out_unmount;
	if (fuse_daemonize(opts.foreground))
		goto out_unmount;
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		goto out_unmount;
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	fuse_loop_cfg_set_max_threads(cfg, NULL_MAX_THREADS);
	fuse_loop_cfg_set_idle_threads(cfg, NULL_IDLE_THREADS);
	rc = fuse_session_loop_mt(se, cfg) < 0 ? 1 : 0;
	fuse_loop_cfg_destroy(cfg);
out_unmount:
	fuse_session_unmount(se);
out_handlers:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_zeros:
	free(nfs.zeros);
out_args:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return rc;
}
