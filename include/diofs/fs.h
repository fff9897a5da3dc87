/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fs: a mounted diofs filesystem, as the daemon sees it.
 *
 * Every operation names files by inode number, never by path, and mirrors
 * one FUSE low-level request.  The daemon translates requests into these
 * calls and their results into replies; no FUSE type appears here.
 *
 * Rules:
 *  1. Every function returns 0 (or a byte count) on success and a negative
 *     errno on failure.  Names longer than DIOFS_NAME_MAX bytes fail with
 *     -ENAMETOOLONG in every call that takes one.
 *  2. Permission checks are the kernel's (default_permissions): these
 *     functions check only what the kernel cannot (ENOTEMPTY, EXDEV-free
 *     rename loops, sticky directories are the kernel's too).
 *  3. Lookup counts follow FUSE: every call that returns a struct fs_attr
 *     for a new reference (lookup, mknod, mkdir, symlink, link, create)
 *     adds one; fs_forget() drops them.  An inode with no links is freed
 *     when its lookup count and open count both reach zero, and at the
 *     next mount after a crash.
 *  4. Reads and writes go through the direct-I/O worker with the calling
 *     thread's struct dio_ctx; so do the zeros that truncation (fs_setattr
 *     with FS_SET_SIZE), hole punching and zero-range (fs_fallocate) write
 *     at their edges.  fs_setattr takes a NULL ctx only when it does not
 *     change the size (-EINVAL otherwise).
 *  5. After a failed metadata write the filesystem becomes read-only: every
 *     later change fails with -EROFS (fs_error() tells why).
 *  6. Attribute flags (fs_set_flags()) are enforced here, for every caller:
 *     an immutable inode takes no change at all (data, size, attributes,
 *     xattrs, names, links) and an append-only one only writes at or past
 *     its end; neither can lose a name.  An immutable directory takes no
 *     new or removed entries, an append-only one takes new entries but
 *     loses none (as the kernel's may_create/may_delete for ext4).  These
 *     refusals are -EPERM.
 *  7. After fs_shutdown() every call fails with -EIO (fs_forget() and
 *     fs_release() do nothing) and nothing more is written to the device.
 */
#ifndef DIOFS_FS_H
#define DIOFS_FS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "diofs/commit.h"
#include "diofs/dio.h"
#include "diofs/format.h"	/* DIOFS_NAME_MAX, DIOFS_ROOT_INO */

struct fs;
struct inode;

/* When reads update the access time (mount options). */
enum fs_atime {
	FS_ATIME_RELATIME,	/* when atime <= mtime or ctime, or a day old */
	FS_ATIME_STRICT,	/* on every read */
	FS_ATIME_NEVER,		/* noatime */
};

struct fs_mount_opts {
	bool read_only;
	enum fs_atime atime;
	bool nodiratime;	/* listing a directory leaves its atime alone */
	size_t cache_blocks;	/* metadata cache size; 0: a default */
	unsigned commit_secs;	/* commit interval (-o commit); 0: 5 s */
	bool sync;		/* every change commits before it returns */
	/* Where the engine reports what it finds wrong while mounted: a
	 * block or inode that fails its checks, an I/O error, the journal
	 * failing, the switch to read-only after an error; one line at a
	 * time with a syslog(3) level (bdev_set_report()).  NULL: nothing is
	 * reported. */
	void (*log)(int level, const char *line);
	/* Tests only: leave out the flush that orders a commit record after
	 * the journal blocks and data it covers, so that crash tests can
	 * show they catch a journal that breaks its ordering. */
	bool test_skip_commit_flush;
};

/*
 * Open the device and mount.  On failure *err_msg is a one-line reason; it
 * starts with FS_NOT_DIOFS (and the result is -EINVAL) when the device
 * holds no diofs superblock, and says "run fsck.diofs" (-EUCLEAN) when the
 * root directory cannot be read.  A device that cannot be opened for
 * writing is mounted read-only, as fs_mount_notice() then says.
 */
#define FS_NOT_DIOFS "not a diofs filesystem"
int fs_mount(const char *device, const struct fs_mount_opts *opts,
	     struct fs **out, const char **err_msg);
/* Write back everything and close the device. */
int fs_unmount(struct fs *fs);
struct bdev *fs_bdev(struct fs *fs);
uint32_t fs_block_size(const struct fs *fs);
/* The error that made the filesystem read-only (rule 5), or 0. */
int fs_error(const struct fs *fs);
/* What the mount did that the user should hear of (a write-protected
 * device, a journal replay, the superblock's error flag), in one line, or
 * NULL. */
const char *fs_mount_notice(const struct fs *fs);
/* Whether the mount found the journal to replay (the filesystem was not
 * unmounted cleanly) and replayed it. */
bool fs_mount_replayed(const struct fs *fs);
/* Whether the filesystem takes no changes: mounted read-only, on a device
 * opened read-only, or with a feature this diofs can read but not write
 * (the kernel's mount should say ro too). */
bool fs_read_only(const struct fs *fs);
/*
 * Remount.  ro: write everything home, mark the superblock clean, then
 * refuse every change with -EROFS, as a read-only mount does.  !ro: take
 * changes again (the superblock is marked in use first; a filesystem
 * mounted read-only starts its journal as a read-write mount does);
 * -EROFS when the device is open read-only (write-protected, or not
 * writable by the caller) or the filesystem has features this diofs can
 * only read, -EBUSY for a filesystem mounted read-only whose journal was
 * replayed in memory only, and the sticky error (rule 5) if there is one.  The caller makes sure no change
 * is under way (the kernel refuses a read-only remount while files are
 * open for writing).
 */
int fs_set_read_only(struct fs *fs, bool ro);
/*
 * Drop (exclusive false) or take back the O_EXCL claim on a block device
 * while keeping it open: a fuseblk mount makes the kernel claim the device,
 * which it cannot while the engine holds it.  0 for an image file, whose
 * lock stays.  -EBUSY when taking it back finds another holder.
 */
int fs_bdev_set_exclusive(struct fs *fs, bool exclusive);

struct fs_attr {
	uint64_t ino;
	uint64_t generation;
	mode_t mode;
	nlink_t nlink;
	uid_t uid;
	gid_t gid;
	dev_t rdev;
	uint64_t size;
	uint64_t blocks;	/* 512-byte units allocated */
	uint32_t blksize;
	struct timespec atime, mtime, ctime;
};

/* The caller of a request, for ownership of new files. */
struct fs_cred {
	uid_t uid;
	gid_t gid;
	mode_t umask;
};

/*
 * Attribute flags (chattr(1)), as Linux's FS_IOC_GETFLAGS names them: the
 * values are linux/fs.h's FS_*_FL.  FS_FL_SETTABLE are the ones diofs keeps.
 */
#define FS_FL_IMMUTABLE		0x00000010u	/* FS_IMMUTABLE_FL, chattr +i */
#define FS_FL_APPEND		0x00000020u	/* FS_APPEND_FL, chattr +a */
#define FS_FL_NODUMP		0x00000040u	/* FS_NODUMP_FL, chattr +d */
#define FS_FL_NOATIME		0x00000080u	/* FS_NOATIME_FL, chattr +A */
#define FS_FL_SETTABLE		(FS_FL_IMMUTABLE | FS_FL_APPEND | \
				 FS_FL_NODUMP | FS_FL_NOATIME)

/* Who asks to change flags: ext4's rules need the caller's capabilities. */
struct fs_flags_caller {
	uid_t uid;
	bool cap_linux_immutable;	/* may set or clear immutable, append */
	bool cap_fowner;		/* may act as any file's owner */
};

int fs_get_flags(struct fs *fs, uint64_t ino, uint32_t *flags);
/*
 * Set ino's flags to flags (FS_FL_*): -EOPNOTSUPP for a flag outside
 * FS_FL_SETTABLE, -EPERM unless the caller owns the inode or has
 * cap_fowner, and -EPERM for a change of immutable or append-only without
 * cap_linux_immutable, or for a change of the other flags of an inode that
 * stays immutable.  Sets ctime.
 */
int fs_set_flags(struct fs *fs, uint64_t ino, uint32_t flags,
		 const struct fs_flags_caller *who);

/*
 * FS_IOC_SHUTDOWN.  FS_SHUTDOWN_FULLSYNC writes deferred times and commits
 * the journal first, FS_SHUTDOWN_METAFLUSH commits what the running
 * transaction holds, FS_SHUTDOWN_NOSYNC writes nothing more.  Then the
 * filesystem is dead (rule 7): the device is left as a crash at that
 * moment would leave it, and the next mount replays the journal.
 */
enum fs_shutdown_how {
	FS_SHUTDOWN_FULLSYNC = 0,	/* FS_GOING_DOWN_FULLSYNC */
	FS_SHUTDOWN_METAFLUSH = 1,	/* FS_GOING_DOWN_METAFLUSH */
	FS_SHUTDOWN_NOSYNC = 2,		/* FS_GOING_DOWN_NOSYNC */
};
int fs_shutdown(struct fs *fs, enum fs_shutdown_how how);
bool fs_is_shut_down(const struct fs *fs);

/* fs_setattr() mask bits */
#define FS_SET_MODE		0x001
#define FS_SET_UID		0x002
#define FS_SET_GID		0x004
#define FS_SET_SIZE		0x008
#define FS_SET_ATIME		0x010
#define FS_SET_MTIME		0x020
#define FS_SET_ATIME_NOW	0x040
#define FS_SET_MTIME_NOW	0x080
#define FS_SET_CTIME		0x100
/* Clear the set-user-ID bit of a non-directory, and its set-group-ID bit
 * when it is group-executable, as Linux does when a file is written,
 * truncated or given away: changes nothing (no ctime, no transaction)
 * when neither bit is set. */
#define FS_SET_KILL_SETID	0x200

struct fs_setattr {
	unsigned mask;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	uint64_t size;
	struct timespec atime, mtime, ctime;
};

int fs_lookup(struct fs *fs, uint64_t parent, const char *name,
	      struct fs_attr *attr);
void fs_forget(struct fs *fs, uint64_t ino, uint64_t nlookup);
int fs_getattr(struct fs *fs, uint64_t ino, struct fs_attr *attr);
int fs_setattr(struct fs *fs, struct dio_ctx *ctx, uint64_t ino,
	       const struct fs_setattr *sa, struct fs_attr *attr);

/* Create a regular file, fifo, socket or device node (mode says which). */
int fs_mknod(struct fs *fs, uint64_t parent, const char *name, mode_t mode,
	     dev_t rdev, const struct fs_cred *cred, struct fs_attr *attr);
int fs_mkdir(struct fs *fs, uint64_t parent, const char *name, mode_t mode,
	     const struct fs_cred *cred, struct fs_attr *attr);
int fs_symlink(struct fs *fs, uint64_t parent, const char *name,
	       const char *target, const struct fs_cred *cred,
	       struct fs_attr *attr);
int fs_link(struct fs *fs, uint64_t ino, uint64_t parent, const char *name,
	    struct fs_attr *attr);
int fs_unlink(struct fs *fs, uint64_t parent, const char *name);
int fs_rmdir(struct fs *fs, uint64_t parent, const char *name);
/* flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE, or RENAME_WHITEOUT (with
 * or without RENAME_NOREPLACE), which leaves a whiteout (a character device
 * 0/0 owned as cred says) under the old name in the same transaction.
 * cred may be NULL without RENAME_WHITEOUT. */
int fs_rename(struct fs *fs, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, unsigned flags,
	      const struct fs_cred *cred);
/* Returns the target's length; the target is copied without a NUL. */
ssize_t fs_readlink(struct fs *fs, uint64_t ino, char *buf, size_t size);

/* Open files: an unlinked file lives until its last close (rule 3).
 * flags are open(2)'s: writing an immutable file, writing an append-only
 * one without O_APPEND, or truncating either is -EPERM (rule 6). */
int fs_open(struct fs *fs, uint64_t ino, int flags);
/* Whether a read of the file now would set its access time, as the
 * mount's access-time mode says: a cache that answers reads above the
 * engine must let the next one reach it.  False for a file it cannot
 * find. */
bool fs_atime_due(struct fs *fs, uint64_t ino);
void fs_release(struct fs *fs, uint64_t ino);

/* A read updates the access time as the mount's enum fs_atime says,
 * unless the inode has FS_FL_NOATIME: in memory, so that it reaches the
 * journal with the inode's next write (inode.h rule 8); never a device
 * write of its own.  fs_readdir() likewise, unless nodiratime. */
ssize_t fs_read(struct fs *fs, struct dio_ctx *ctx, uint64_t ino,
		uint64_t off, const struct iovec *iov, int iovcnt);

/*
 * fs_read() in two halves, for a thread that keeps many reads in flight on
 * its ctx (dio.h, asynchronous use).  fs_read_start() finds the file and
 * submits the transfer; done(priv, result) then runs as dio.h says, inside
 * a call on the ctx, and may only note the result.  Once that call has
 * returned, the caller hands the result to fs_read_end(), which sets the
 * access time, lets the file go, and returns what fs_read() would have.
 * fs_read_start() returns 0 once done is sure to run, or -errno (nothing
 * submitted, done never runs, no fs_read_end()).
 */
struct fs_read {
	struct inode *ip;	/* the engine's: the file, held until the end */
};
int fs_read_start(struct fs *fs, struct dio_ctx *ctx, uint64_t ino,
		  uint64_t off, const struct iovec *iov, int iovcnt,
		  dio_done_fn done, void *priv, struct fs_read *rd);
ssize_t fs_read_end(struct fs_read *rd, ssize_t result);

/*
 * fs_write() in two halves, as fs_read_start() and fs_read_end() are.  The
 * iovec array and its memory belong to the write until fs_write_end() has
 * returned: after an ENOSPC that the next commit may cure, fs_write_end()
 * commits and writes once more, as fs_write() does, on ctx, which may
 * complete other transfers of ctx meanwhile (their done runs).
 */
struct fs_write {
	struct inode *ip;	/* the engine's: the file, held until the end */
	uint64_t off;
	const struct iovec *iov;
	int iovcnt;
	bool in_place;		/* may be answered early (write-behind) */
	bool behind;		/* answered early: fs_write_behind() */
};
int fs_write_start(struct fs *fs, struct dio_ctx *ctx, uint64_t ino,
		   uint64_t off, const struct iovec *iov, int iovcnt,
		   bool behind, dio_done_fn done, void *priv,
		   struct fs_write *wr);
ssize_t fs_write_end(struct dio_ctx *ctx, struct fs_write *wr,
		     ssize_t result);

/*
 * Write-behind.  Started with behind, a write that overwrites blocks
 * already written, inside end of file, is in place (wr->in_place,
 * dio_submit_behind()): it changes nothing but those bytes when it
 * completes, and only a device error can still fail it.  Its caller may
 * answer it before then, as a page cache answers a buffered write:
 * fs_write_behind() counts all of its bytes as written, sets the times
 * and returns that count.  Every read or write of the file that starts
 * afterwards, on any thread, comes after it (dio.h, asynchronous use,
 * rule 6).  fs_write_end() still runs at completion; a failure there is
 * logged and kept, and the file's next fs_fsync() reports it, once, as
 * ext4 reports a failed writeback.
 */
ssize_t fs_write_behind(struct fs_write *wr);

ssize_t fs_write(struct fs *fs, struct dio_ctx *ctx, uint64_t ino,
		 uint64_t off, const struct iovec *iov, int iovcnt);

/* Make the file's data and metadata durable: it waits for the file's
 * writes in flight, so the caller must have none in flight itself (dio.h,
 * asynchronous use, rule 4).  Directories too (fsyncdir). */
int fs_fsync(struct fs *fs, uint64_t ino, bool datasync);

/*
 * fs_fsync() in two halves, for a caller that serves other requests while
 * the commit runs: fs_fsync_start() does what comes before the commit
 * (the wait for the file's writes in flight, its deferred times) and asks
 * the committer for the commit (commit.h rule 5).  It returns
 * FS_FSYNC_STARTED when f->done will be called, once, from the
 * committer's thread, with fs_fsync()'s result; otherwise that result
 * itself, and f->done is not called.  f is the caller's until done.
 */
#define FS_FSYNC_STARTED	1
struct fs_fsync {
	void (*done)(struct fs_fsync *f, int err);	/* the caller's */
	/* the engine's: */
	struct commit_wait wait;
	struct fs *fs;
	int file_err;		/* the file's write-behind error, taken */
};
int fs_fsync_start(struct fs *fs, uint64_t ino, bool datasync,
		   struct fs_fsync *f);
/* mode: 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|KEEP_SIZE,
 * FALLOC_FL_ZERO_RANGE[|KEEP_SIZE], FALLOC_FL_COLLAPSE_RANGE or
 * FALLOC_FL_INSERT_RANGE alone (ext4's rules: file.c rule 6); others
 * -EOPNOTSUPP. */
int fs_fallocate(struct fs *fs, struct dio_ctx *ctx, uint64_t ino, int mode,
		 uint64_t off, uint64_t len);
/* SEEK_DATA / SEEK_HOLE: *result is the offset found; -ENXIO past EOF. */
int fs_lseek(struct fs *fs, uint64_t ino, uint64_t off, int whence,
	     uint64_t *result);
ssize_t fs_copy_file_range(struct fs *fs, struct dio_ctx *ctx,
			   uint64_t ino_in, uint64_t off_in, uint64_t ino_out,
			   uint64_t off_out, size_t len);
int fs_statfs(struct fs *fs, struct statvfs *st);
/* Make all metadata durable, every file's deferred times included. */
int fs_sync(struct fs *fs);

/*
 * Directory listing.  cookie 0 starts at the beginning; each entry carries
 * the cookie of the entry after it, stable while entries are added and
 * removed.  "." and ".." come first.  fill returns nonzero to stop (the
 * reply buffer is full); that entry is not consumed.
 */
typedef int (*fs_fill_dir_t)(void *arg, const char *name, uint64_t ino,
			     mode_t type, uint64_t next_cookie);
int fs_readdir(struct fs *fs, uint64_t ino, uint64_t cookie,
	       fs_fill_dir_t fill, void *arg);

/* Extended attributes; flags are XATTR_CREATE / XATTR_REPLACE.  get and
 * list with size 0 return the size needed. */
int fs_setxattr(struct fs *fs, uint64_t ino, const char *name,
		const void *value, size_t size, int flags);
ssize_t fs_getxattr(struct fs *fs, uint64_t ino, const char *name,
		    void *value, size_t size);
ssize_t fs_listxattr(struct fs *fs, uint64_t ino, char *list, size_t size);
int fs_removexattr(struct fs *fs, uint64_t ino, const char *name);

#endif
