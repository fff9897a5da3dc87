/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * inode: the mounted filesystem's private state and its in-memory inodes.
 *
 * This header is shared by the engine modules behind fs.h (fs.c, txn.c,
 * inode.c, extent.c, file.c, namei.c, dir.c, xattr.c); nothing outside
 * src/lib uses it but the unit tests.  Calls among them only go down:
 * fs.c, namei.c and file.c on top, then extent.c, dir.c and xattr.c, then
 * inode.c, then txn.c; what inode.c needs from the modules above it comes
 * through struct inode_content_ops.
 *
 * Rules:
 *  1. fs->meta_lock is cache.h's metadata lock: held shared to read
 *     metadata blocks, exclusive from txn_begin() to commit or abort.  It
 *     is never held across file data I/O.
 *  2. An in-memory inode is found through fs->icache (under icache_lock)
 *     and pinned by inode->refs.  Its host-endian fields are protected by
 *     meta_lock (exclusive to change them, shared to read them); its data
 *     size is inode->dfile.size, protected by dfile.lock (dio.h rule 5).
 *  3. An inode changed in a transaction is written back with inode_write()
 *     in that same transaction.
 *  4. An inode is freed (blocks, xattrs, number) when links, nlookup and
 *     nopen are all zero; while links is zero but it is still looked up or
 *     open it stays on the on-disk orphan list (super orphan_head), so the
 *     next mount frees it after a crash.
 *  5. After a failed metadata commit fs->error is set (a negative errno)
 *     and stays: every later change returns -EROFS (fs.h rule 5).
 *  6. nlookup and nopen change under icache_lock.  An inode stays in memory
 *     while refs, nlookup or nopen is nonzero; inode_put() of the last pin
 *     of an inode with neither lookups nor opens writes back its deferred
 *     times (rule 8) or frees it (rule 4), then drops it from memory.
 *  7. A transaction changes in-memory inodes and fs->sb in place.  If it
 *     aborts, fs_txn_end() restores fs->sb and the blocks, and every inode
 *     that joined it (inode_join(), inode_write()) is reloaded from its
 *     restored block by the callback its join registered (txn.c knows no
 *     inodes); an inode made by inode_new() in it is dead (mode 0, no
 *     longer found).  A regular file's dfile.size is not reloaded: it
 *     belongs to dfile.lock.  The transaction's pin on each joined inode
 *     goes once meta_lock is released.
 *  8. A write that does not change the size sets mtime and ctime in memory
 *     only (times_dirty, under meta_lock exclusive), and a read sets atime
 *     so (inode_accessed()); they reach the disk with the inode's next
 *     inode_write(), fsync, last close, sync, eviction or unmount.
 *  9. Functions that read metadata take meta_lock shared through
 *     fs_meta_rdlock(), which knows when the calling thread already holds
 *     it exclusive in its own transaction; so inode_get(), inode_put(),
 *     extent_map() and the lookups of dir.c and xattr.c may be called
 *     inside a transaction as well as outside one.  inode_put() inside a
 *     transaction defers any freeing to fs_txn_end().
 * 10. After fs_shutdown() (shut_down set, with fs->error -EIO) inode_get()
 *     and fs_txn_begin() answer -EIO, and the commit machinery writes
 *     nothing more.
 */
#ifndef DIOFS_INODE_H
#define DIOFS_INODE_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "diofs/alloc.h"
#include "diofs/bdev.h"
#include "diofs/btree.h"
#include "diofs/cache.h"
#include "diofs/commit.h"
#include "diofs/dio.h"
#include "diofs/format.h"
#include "diofs/fs.h"
#include "diofs/super.h"

struct inode;
struct fs_txn_cb;

/*
 * What an inode holds beyond its slot, kept by the modules above inode.c:
 * fs.c installs the table at mount (from extent.c, dir.c and xattr.c), so
 * that inode.c frees an inode and binds its dio_file without calling them.
 */
struct inode_content_ops {
	/* Free every data block (and the extent tree) of ip, in t. */
	int (*free_data)(struct txn *t, struct inode *ip);
	/* Free the tree of an empty directory, in t. */
	int (*free_dir)(struct txn *t, struct inode *dp);
	/* Free the xattr tree of ip, in t. */
	int (*free_xattrs)(struct txn *t, struct inode *ip);
	/* The worker's view of every inode's data (dio.h). */
	const struct dio_file_ops *dio_ops;
};

struct fs {
	struct bdev *bdev;
	struct super sb;
	struct cache *cache;
	struct alloc *alloc;
	pthread_rwlock_t meta_lock;	/* rule 1 */
	/* The engine's own worker context, for file data it moves when the
	 * caller has none to lend (long symlink targets), under dio_lock. */
	struct dio_ctx *dio;
	pthread_mutex_t dio_lock;
	/* The queue that moves the runs of attribute values (xattr.c),
	 * under xattr_io_lock: one libaio context for the mount, since
	 * setting one up and tearing it down costs milliseconds. */
	struct bdev_queue *xattr_q;
	pthread_mutex_t xattr_io_lock;
	bool read_only;
	int error;			/* rule 5 */
	bool shut_down;			/* fs_shutdown(): rule 10 */
	enum fs_atime atime;		/* fs_mount_opts */
	bool nodiratime;
	const struct inode_content_ops *content;

	pthread_mutex_t icache_lock;	/* rule 2 */
	struct inode **ibuckets;
	size_t nbuckets;
	size_t ninodes;

	bool own_bdev;			/* fs_mount() opened it: unmount closes it */
	struct journal *journal;
	struct commit commit;		/* read-write mounts (commit.h) */
	bool committing;		/* commit is set up */
	struct commit_opts commit_opts;	/* for commit_init(), at mount or remount */
	char notice[200];		/* fs_mount_notice() */
	bool replayed;			/* fs_mount_replayed() */
	uint64_t data_blocks;		/* blocks in the groups' data areas */
	/* the open transaction (rule 7), under meta_lock exclusive (txn.c) */
	struct txn *txn;
	struct super sb_saved;		/* fs->sb at fs_txn_begin() */
	struct fs_txn_cb *txn_after;	/* callbacks run after the unlock */
	size_t txn_nafter, txn_cap_after;
};

/* The host-endian form of struct diofs_inode, plus in-memory state. */
struct inode {
	struct fs *fs;
	uint64_t ino;

	/* as stored (format.h) */
	uint32_t mode, flags, uid, gid, links, generation;
	uint64_t blocks;
	struct timespec atime, mtime, ctime, crtime;
	uint64_t parent, rdev;
	uint64_t ext_root, xattr_root, orphan_next;
	uint16_t nr_extents, xattr_len;
	union {
		struct diofs_extent ext[DIOFS_INLINE_EXTENTS]; /* little-endian */
		uint8_t inline_data[DIOFS_INLINE_DATA];
	};
	uint8_t xattr[DIOFS_INLINE_XATTR];
	/* the data size lives in dfile.size (rule 2) */
	struct dio_file dfile;

	/* in memory only */
	unsigned refs;			/* pins: rule 2 */
	uint64_t nlookup;		/* FUSE lookup count */
	unsigned nopen;			/* open file handles */
	bool times_dirty;		/* rule 8 */
	int write_error;		/* errno of a failed write-behind (fs.h),
					 * until fs_fsync() reports it; atomic */
	bool freeing;			/* being freed or evicted: rule 6 */
	/* rule 7, under meta_lock exclusive */
	bool txn_joined;		/* joined the open transaction */
	bool txn_created;		/* made by inode_new() in it */
	struct inode *hash_next;
};

/* Mount the filesystem on an open device (fs_mount() without the open);
 * fs_unmount() leaves the device open.  For tools and tests. */
int fs_mount_bdev(struct bdev *bdev, const struct fs_mount_opts *opts,
		  struct fs **out, const char **err_msg);

/* ---- transactions, the metadata lock, the sticky error (txn.c) --------- */

/* Rule 9: take meta_lock shared unless this thread's transaction holds it;
 * returns what fs_meta_unlock() needs to know. */
bool fs_meta_rdlock(struct fs *fs);
void fs_meta_unlock(struct fs *fs, bool taken);
/* Begin a transaction (takes meta_lock exclusive) / end it (commit or
 * abort, then release).  fs_txn_end() sets fs->error on a failed commit. */
int fs_txn_begin(struct fs *fs, struct txn **t);
int fs_txn_end(struct fs *fs, struct txn *t, int err);
/* Rule 7: callbacks of the calling thread's open transaction.  end(arg,
 * committed) runs when it commits or aborts, with meta_lock still held
 * and, on abort, fs->sb and the blocks already restored; after_unlock(arg)
 * runs once fs_txn_end() has released meta_lock.  Either may be NULL; both
 * are registered, or neither (-ENOMEM). */
int fs_txn_on_end(struct fs *fs, void (*end)(void *arg, int committed),
		  void (*after_unlock)(void *arg), void *arg);
/* Whether the calling thread has a transaction of fs open. */
bool fs_txn_mine(const struct fs *fs);
/* Make everything done so far durable (commit.h rule 2): fsync and
 * friends.  Returns fs->error once the filesystem has failed. */
int fs_commit(struct fs *fs);
/* After err: true if it was -ENOSPC and a commit made the blocks freed by
 * earlier transactions allocatable (alloc.h rule 2): try once more.  Call
 * with no lock held. */
bool fs_retry_nospc(struct fs *fs, int err);
/* Transactions between these commit together (commit.h rule 1). */
void fs_update_begin(struct fs *fs);
void fs_update_end(struct fs *fs);
/* Enter the sticky error state (rule 5) with err (negative), unless it
 * already holds an earlier error. */
void fs_set_error(struct fs *fs, int err);

/* ---- in-memory inodes (inode.c) ------------------------------------------ */

/* Find inode ino (reading it if needed) and pin it.  -ENOENT for a free
 * inode number, -EUCLEAN for a corrupt one. */
int inode_get(struct fs *fs, uint64_t ino, struct inode **out);
/* Unpin; frees the inode if rule 4 says so. */
void inode_put(struct inode *ip);
/* A new inode in t: number allocated near parent, fields set, written.
 * links is 1 (2 for a directory), parent is parent, the times are now,
 * size and blocks 0, generation one more than the slot's last; it is
 * pinned once with nlookup and nopen 0. */
int inode_new(struct fs *fs, struct txn *t, uint64_t parent, mode_t mode,
	      uid_t uid, gid_t gid, dev_t rdev, struct inode **out);
/* Rule 3 (joins t, rule 7). */
int inode_write(struct txn *t, struct inode *ip);
/* Rule 7: ip's fields are about to change in t.  Call it before the first
 * change when an error may come before inode_write(). */
int inode_join(struct txn *t, struct inode *ip);
/* Current time, for timestamps. */
struct timespec inode_now(void);
/* Orphan list (rule 4): add when links drops to 0; remove when freed, or
 * when an inode made unnamed gets its first name (a long symlink). */
int inode_orphan_add(struct txn *t, struct inode *ip);
int inode_orphan_remove(struct txn *t, struct inode *ip);
/* Fill *a from ip; the caller holds meta_lock (shared is enough). */
void inode_attr(struct inode *ip, struct fs_attr *a);
/* Write ip's deferred times (rule 8), in a transaction of its own. */
int inode_sync(struct inode *ip);
/* A read of ip's data or entries: set atime in memory (rule 8) if the
 * mount's atime mode and ip's NOATIME flag say so. */
void inode_accessed(struct inode *ip);
/* Whether inode_accessed() would set the access time now. */
bool inode_atime_due(struct inode *ip);

/* fs.h rule 6, with meta_lock held (shared is enough). */
static inline bool inode_immutable(const struct inode *ip)
{
	return ip->flags & DIOFS_IFL_IMMUTABLE;
}

static inline bool inode_append_only(const struct inode *ip)
{
	return ip->flags & DIOFS_IFL_APPEND;
}

/* -EPERM unless a name of ip in dp may go (unlink, rmdir, rename away or
 * over). */
static inline int inode_may_unname(const struct inode *dp,
				   const struct inode *ip)
{
	if (inode_immutable(dp) || inode_append_only(dp) ||
	    inode_immutable(ip) || inode_append_only(ip))
		return -EPERM;
	return 0;
}

/* For fs.c: the inode cache over a mount's life. */
int inode_cache_init(struct fs *fs);
/* Free every inode on the on-disk orphan list (mount after a crash). */
int inode_orphan_replay(struct fs *fs);
/* Write every in-memory inode's deferred times (syncfs). */
int inode_sync_all(struct fs *fs);
/* Unmount: drop the lookups and opens the kernel still holds, freeing
 * unlinked inodes, and write every inode's deferred times. */
int inode_release_all(struct fs *fs);
/* Unmount: forget every in-memory inode without writing anything. */
void inode_cache_destroy(struct fs *fs);

/* ---- extents (extent.c) --------------------------------------------------- */

/* The dio_file_ops of regular files: get_block, convert, set_size, release. */
extern const struct dio_file_ops extent_dio_ops;
/* Look up the mapping at lblk without allocating (as get_block, create 0). */
int extent_map(struct inode *ip, uint64_t lblk, uint64_t max,
	       struct dio_map *map);
/* Free the blocks of [lblk, lblk+len) (a hole punch, or truncate with
 * len UINT64_MAX - lblk), in t. */
int extent_punch(struct txn *t, struct inode *ip, uint64_t lblk, uint64_t len);
/* Free every block of ip, data and tree, in t (the inode is being freed). */
int extent_destroy(struct txn *t, struct inode *ip);
/* Remove file blocks [lblk, lblk+len), freeing theirs, and move every later
 * extent down by len (extent.c rule 7); -EINVAL for len 0. */
int extent_collapse(struct txn *t, struct inode *ip, uint64_t lblk,
		    uint64_t len);
/* Move every extent at or after file block lblk up by len, cutting the one
 * that straddles lblk, leaving a hole of len blocks; -EFBIG (nothing
 * changed) if an extent would end past file block limit. */
int extent_insert_range(struct txn *t, struct inode *ip, uint64_t lblk,
			uint64_t len, uint64_t limit);
/* Allocate [lblk, lblk+len) as unwritten where there are holes, in t. */
int extent_prealloc(struct txn *t, struct inode *ip, uint64_t lblk,
		    uint64_t len);
/* Every block the extents of ip hold (data and tree), for fsck. */
int extent_check(struct inode *ip, void (*visit)(void *arg, uint64_t pblk,
						 uint64_t len), void *arg);

/* ---- directories (dir.c) ----------------------------------------------------- */

/* Find name in directory dp: *ino and *ftype, or -ENOENT. */
int dir_lookup(struct inode *dp, const char *name, size_t len, uint64_t *ino,
	       uint8_t *ftype);
/* Add name -> ino; -EEXIST if present. */
int dir_add(struct txn *t, struct inode *dp, const char *name, size_t len,
	    uint64_t ino, uint8_t ftype);
/* Remove name; -ENOENT if absent. */
int dir_remove(struct txn *t, struct inode *dp, const char *name, size_t len);
/* Point an existing name at another inode (rename over, exchange). */
int dir_replace(struct txn *t, struct inode *dp, const char *name, size_t len,
		uint64_t ino, uint8_t ftype);
/* Entries from cookie on (fs.h readdir semantics, without "." and ".."):
 * fill(arg, name, len, ino, ftype, next_cookie) returns nonzero to stop. */
int dir_iterate(struct inode *dp, uint64_t cookie,
		int (*fill)(void *arg, const char *name, size_t len,
			    uint64_t ino, uint8_t ftype, uint64_t next_cookie),
		void *arg);
/* Free every block of an empty directory's tree, in t. */
int dir_destroy(struct txn *t, struct inode *dp);

/* ---- extended attributes (xattr.c) ------------------------------------------ */

int xattr_set(struct txn *t, struct inode *ip, const char *name,
	      const void *value, size_t size, int flags);
ssize_t xattr_get(struct inode *ip, const char *name, void *value,
		  size_t size);
ssize_t xattr_list(struct inode *ip, char *list, size_t size);
int xattr_remove(struct txn *t, struct inode *ip, const char *name);
/* Free the xattr tree, in t (the inode is being freed). */
int xattr_destroy(struct txn *t, struct inode *ip);

#endif
