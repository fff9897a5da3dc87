/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * namei: the namespace operations of fs.h.  Lookup and forget, making
 * names (mknod, mkdir, symlink, link), removing them (unlink, rmdir),
 * rename, readlink, readdir, and the extended-attribute calls.  The entries
 * themselves live in dir.c, the attributes in xattr.c; this file keeps the
 * rules that tie inodes and names together.
 *
 * Every change of the namespace is one transaction (but a symlink whose
 * target needs data blocks: rule 7):
 *
 *   check the names ──▶ pin the directories ──▶ fs_txn_begin()
 *     ──▶ look the names up under the lock; check liveness, types, loops,
 *         emptiness (nothing has changed yet, so a refusal just aborts)
 *     ──▶ inode_join() each inode about to change
 *     ──▶ dir_add / dir_remove / dir_replace, link counts, parent fields,
 *         times ──▶ inode_write() each ──▶ fs_txn_end()
 *     ──▶ unpin (the last unpin of an unlinked, unused inode frees it)
 *
 * Rules:
 *  1. Names: empty is -ENOENT, longer than DIOFS_NAME_MAX -ENAMETOOLONG,
 *     one holding '/' -EINVAL, in every call.  "." and ".." are never
 *     stored (format.h rule 5); as arguments they get Linux's answers:
 *     lookup resolves them, mknod/mkdir/symlink/link say -EEXIST, unlink
 *     -EISDIR, rmdir -EINVAL for "." and -ENOTEMPTY for "..", rename
 *     -EBUSY (-EEXIST for a new name with RENAME_NOREPLACE).
 *  2. Link counts: a file's is its number of names; a directory's is 2
 *     plus its subdirectories, and drops to 0 at once when it is removed.
 *     An inode whose count reaches 0 goes on the orphan list in the same
 *     transaction, and is freed by its last inode_put() once the kernel
 *     has forgotten it and closed it (inode.h rule 4).  A removed directory
 *     (links 0) takes no new names and cannot be listed (-ENOENT).
 *     links changes under icache_lock as well, since inode_get() and
 *     inode_put() read it under that lock alone.
 *  3. Times: a change sets mtime and ctime of every directory whose
 *     entries change and ctime of every inode whose links, parent or
 *     attributes change (the moved inode of a rename too, as ext4 does).
 *  4. New inodes: uid and gid are the caller's; a setgid directory gives
 *     its gid instead, and its S_ISGID bit to new subdirectories.  The
 *     mode is masked with cred->umask: without FUSE_CAP_DONT_MASK the
 *     kernel has applied the same umask already (masking twice changes
 *     nothing), and a daemon that applies a default ACL itself passes a
 *     zero umask.  Symlinks are always 0777.  Clearing S_ISGID of files
 *     made by non-members is the kernel's (vfs_prepare_mode).
 *  5. Lookup counts (fs.h rule 3) change under icache_lock, and only once
 *     the transaction that made the reference has committed.
 *  6. Locking: changes hold meta_lock exclusive (the transaction), and
 *     dir.c, xattr.c and inode_get() then know not to take it again.
 *     Read-only calls take it shared only around what they read
 *     themselves and never hold it while calling a function that takes
 *     it, so a writer-preferring lock would do as well.  fs_lookup()
 *     therefore finds the inode number, pins the inode, and looks the
 *     name up once more: a pinned inode cannot be freed, so if the name
 *     still means it, the answer was true at that moment (otherwise a
 *     rename or unlink came in between, and it tries again).  inode_put()
 *     always runs with no lock held.
 *  7. A symlink target of up to DIOFS_INLINE_DATA bytes lives in the
 *     inode's data area (DIOFS_IFL_INLINE); a longer one (up to 4095
 *     bytes, PATH_MAX - 1) in data blocks mapped by inline extents, which
 *     the worker writes and reads like a file's (fs->dio, the engine's own
 *     context, under fs->dio_lock).  The worker's get_block() opens
 *     transactions of its own, and a thread never opens a second one while
 *     it holds one, so such a symlink takes three steps: a transaction
 *     makes the inode unnamed, with no links, on the orphan list (a crash
 *     now leaves it for the next mount to free); the worker writes the
 *     target into unwritten blocks and converts them once it is on the
 *     device; a second transaction names the inode and takes it off the
 *     list.  No name ever points at a target that is not on the device.
 *  8. RENAME_WHITEOUT leaves a whiteout under the source's old name: a new
 *     character device 0/0 of mode 0 (S_IFCHR alone, as ext4 makes it),
 *     owned as any new inode of the caller (rule 4), made and named in
 *     the rename's own transaction, so a crash leaves either the old
 *     state or the moved name and the whiteout together.  Since Linux
 *     5.8 the VFS lets any user make a whiteout (no CAP_MKNOD), and diofs
 *     checks nothing of its own.  With RENAME_EXCHANGE it is -EINVAL.
 */
#include <errno.h>
#include <stdio.h>		/* RENAME_NOREPLACE, _EXCHANGE, _WHITEOUT */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diofs/codec.h"
#include "diofs/inode.h"

#define NAMEI_LINK_MAX		65000u	/* names of one file, as ext4 */
#define NAMEI_SYMLINK_MAX	4095u	/* PATH_MAX - 1 */

/* A long target always fits the inline extents, however fragmented. */
static_assert((NAMEI_SYMLINK_MAX + DIOFS_MIN_BLOCK_SIZE - 1) /
	      DIOFS_MIN_BLOCK_SIZE <= DIOFS_INLINE_EXTENTS,
	      "symlink extents");

enum name_kind { NAME_PLAIN, NAME_DOT, NAME_DOTDOT };

/* Rule 1. */
static int name_check(const char *name, size_t *len, enum name_kind *kind)
{
	size_t n = strnlen(name, DIOFS_NAME_MAX + 1);

	if (n == 0)
		return -ENOENT;
	if (n > DIOFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (memchr(name, '/', n))
		return -EINVAL;
	*len = n;
	if (!strcmp(name, "."))
		*kind = NAME_DOT;
	else if (!strcmp(name, ".."))
		*kind = NAME_DOTDOT;
	else
		*kind = NAME_PLAIN;
	return 0;
}

/* Pin directory ino; -ENOTDIR if it is something else. */
static int get_dir(struct fs *fs, uint64_t ino, struct inode **out)
{
	struct inode *dp;
	int err;

	err = inode_get(fs, ino, &dp);
	if (err)
		return err;
	/* The type bits of a live inode never change: no lock needed. */
	if (!S_ISDIR(dp->mode)) {
		inode_put(dp);
		return -ENOTDIR;
	}
	*out = dp;
	return 0;
}

/* Rule 2: links is read under icache_lock by inode_get()/inode_put(). */
static void set_links(struct inode *ip, uint32_t links)
{
	pthread_mutex_lock(&ip->fs->icache_lock);
	ip->links = links;
	pthread_mutex_unlock(&ip->fs->icache_lock);
}

static void nlookup_add(struct inode *ip)
{
	pthread_mutex_lock(&ip->fs->icache_lock);
	ip->nlookup++;
	pthread_mutex_unlock(&ip->fs->icache_lock);
}

static void dir_touch(struct inode *dp, struct timespec now)
{
	dp->mtime = now;
	dp->ctime = now;
}

/* Whether name may be added to dp: 0, -EEXIST, or -ENOENT (dp removed). */
static int may_add(struct inode *dp, const char *name, size_t len)
{
	int err;

	if (!dp->links)
		return -ENOENT;
	if (inode_immutable(dp))
		return -EPERM;		/* fs.h rule 6 */
	err = dir_lookup(dp, name, len, NULL, NULL);
	if (!err)
		return -EEXIST;
	return err == -ENOENT ? 0 : err;
}

/* ip loses a name in t; a directory loses its only one (rule 2). */
static int drop_link(struct txn *t, struct inode *ip, struct timespec now)
{
	int err = 0;

	if (S_ISDIR(ip->mode)) {
		/* empty, so this frees at most an empty root */
		err = dir_destroy(t, ip);
		set_links(ip, 0);
	} else {
		set_links(ip, ip->links - 1);
	}
	ip->ctime = now;
	if (!err && !ip->links)
		err = inode_orphan_add(t, ip);
	if (!err)
		err = inode_write(t, ip);
	return err;
}

/* ---- lookup and forget ------------------------------------------------------ */

/* What name stands for in dp at this moment (rule 6). */
static int name_ino(struct inode *dp, const char *name, size_t len,
		    enum name_kind kind, uint64_t *ino)
{
	bool taken, live;
	uint64_t parent;

	taken = fs_meta_rdlock(dp->fs);
	live = dp->links != 0;
	parent = dp->parent;
	fs_meta_unlock(dp->fs, taken);
	if (!live)
		return -ENOENT;
	if (kind == NAME_DOT)
		*ino = dp->ino;
	else if (kind == NAME_DOTDOT)
		*ino = parent;
	else
		return dir_lookup(dp, name, len, ino, NULL);
	return 0;
}

int fs_lookup(struct fs *fs, uint64_t parent, const char *name,
	      struct fs_attr *attr)
{
	struct inode *dp, *ip = NULL;
	enum name_kind kind;
	uint64_t ino = 0, again = 0;
	size_t len;
	bool taken;
	int err, err2;

	err = name_check(name, &len, &kind);
	if (err)
		return err;
	err = get_dir(fs, parent, &dp);
	if (err)
		return err;
	/* Rule 6: pin, then make sure the name still means that inode. */
	err = name_ino(dp, name, len, kind, &ino);
	while (!err) {
		err = inode_get(fs, ino, &ip);
		err2 = name_ino(dp, name, len, kind, &again);
		if (!err2 && again == ino)
			break;		/* inode_get()'s answer stands */
		if (!err) {
			inode_put(ip);
			ip = NULL;
		}
		err = err2;
		ino = again;
	}
	if (!err) {
		nlookup_add(ip);
		taken = fs_meta_rdlock(fs);
		inode_attr(ip, attr);
		fs_meta_unlock(fs, taken);
	}
	if (ip)
		inode_put(ip);
	inode_put(dp);
	return err;
}

void fs_forget(struct fs *fs, uint64_t ino, uint64_t nlookup)
{
	struct inode *ip;

	if (inode_get(fs, ino, &ip))
		return;
	pthread_mutex_lock(&fs->icache_lock);
	ip->nlookup -= nlookup < ip->nlookup ? nlookup : ip->nlookup;
	pthread_mutex_unlock(&fs->icache_lock);
	inode_put(ip);		/* frees an unlinked inode nobody uses */
}

/* ---- symlink targets (rule 7) ----------------------------------------------- */

/* Move len bytes of ip's data at off, through the engine's own worker
 * context: symlink and readlink get none from their caller. */
static ssize_t symlink_io(struct inode *ip, enum dio_dir dir, uint64_t off,
			  void *buf, size_t len)
{
	struct fs *fs = ip->fs;
	struct iovec iov = { buf, len };
	ssize_t n;

	pthread_mutex_lock(&fs->dio_lock);
	n = dio_rw(fs->dio, &ip->dfile, dir, off, &iov, 1);
	pthread_mutex_unlock(&fs->dio_lock);
	return n;
}

/*
 * Store the target in t: inline, or (too long for that) nothing yet but
 * its size, the inode made an unnamed orphan until symlink_write() has
 * put the target on the device and name_symlink() names it.
 */
static int symlink_store(struct txn *t, struct inode *ip, const char *target,
			 size_t len)
{
	int err = 0;

	if (len <= DIOFS_INLINE_DATA) {
		memcpy(ip->inline_data, target, len);
		ip->flags |= DIOFS_IFL_INLINE;
	} else {
		set_links(ip, 0);
		err = inode_orphan_add(t, ip);
	}
	if (!err)
		__atomic_store_n(&ip->dfile.size, len, __ATOMIC_RELAXED);
	return err;
}

/* Write a long target into ip's blocks, allocated unwritten and converted
 * once the bytes (and the zeros after them) are on the device. */
static int symlink_write(struct inode *ip, const char *target, size_t len)
{
	size_t done = 0;
	ssize_t n;

	/* A short write leaves the rest to a second call, which says why. */
	while (done < len) {
		n = symlink_io(ip, DIO_WRITE, done, (char *)target + done,
			       len - done);
		if (n <= 0)
			return n < 0 ? (int)n : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* Read a block-stored target of len bytes; copy up to size of it. */
static int symlink_read_blocks(struct inode *ip, size_t len, char *out,
			       size_t size)
{
	char *buf;
	ssize_t n;
	int err = 0;

	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	n = symlink_io(ip, DIO_READ, 0, buf, len);
	/* A target holds no NUL: zeros are blocks never written, a hole or
	 * an unwritten extent, which the worker reads as zeros. */
	if (n < 0)
		err = (int)n;
	else if ((size_t)n != len || memchr(buf, 0, len))
		err = -EUCLEAN;
	else
		memcpy(out, buf, len < size ? len : size);
	free(buf);
	return err;
}

ssize_t fs_readlink(struct fs *fs, uint64_t ino, char *buf, size_t size)
{
	struct inode *ip;
	uint64_t len;
	bool taken, inl;
	int err = 0;

	err = inode_get(fs, ino, &ip);
	if (err)
		return err;
	if (!S_ISLNK(ip->mode)) {
		inode_put(ip);
		return -EINVAL;
	}
	taken = fs_meta_rdlock(fs);
	len = ip->dfile.size;
	inl = ip->flags & DIOFS_IFL_INLINE;
	if (len == 0 || len > NAMEI_SYMLINK_MAX ||
	    (inl && len > DIOFS_INLINE_DATA))
		err = -EUCLEAN;
	else if (inl)
		memcpy(buf, ip->inline_data, len < size ? len : size);
	fs_meta_unlock(fs, taken);
	/* A target never changes: the blocks are read without the lock. */
	if (!err && !inl)
		err = symlink_read_blocks(ip, len, buf, size);
	inode_put(ip);
	return err ? err : (ssize_t)len;
}

/* ---- making names ---------------------------------------------------------- */

/* Rule 4. */
static void new_owner(const struct inode *dp, const struct fs_cred *cred,
		      mode_t *mode, uid_t *uid, gid_t *gid)
{
	*uid = cred->uid;
	*gid = cred->gid;
	if (S_ISLNK(*mode))
		*mode = S_IFLNK | 0777;
	else
		*mode &= S_IFMT | (07777 & ~(cred->umask & 0777));
	if (dp->mode & S_ISGID) {
		*gid = dp->gid;
		if (S_ISDIR(*mode))
			*mode |= S_ISGID;
	}
}

/* Name the new inode ip in dp, in t. */
static int name_new(struct txn *t, struct inode *dp, const char *name,
		    size_t len, struct inode *ip, struct fs_attr *attr)
{
	int err;

	err = inode_join(t, dp);
	if (!err)
		err = dir_add(t, dp, name, len, ip->ino, codec_ftype(ip->mode));
	if (!err) {
		if (S_ISDIR(ip->mode))
			set_links(dp, dp->links + 1);
		dir_touch(dp, ip->ctime);
		err = inode_write(t, ip);
	}
	if (!err)
		err = inode_write(t, dp);
	if (!err)
		inode_attr(ip, attr);
	return err;
}

/* Rule 7: the last step of a long symlink, whose target is on the device
 * now: name it and take it off the orphan list, in one transaction. */
static int name_symlink(struct fs *fs, struct inode *dp, const char *name,
			size_t len, struct inode *ip, struct fs_attr *attr)
{
	struct txn *t;
	int err;

	err = fs_txn_begin(fs, &t);
	if (err)
		return err;
	/* The name may have been taken meanwhile. */
	err = may_add(dp, name, len);
	if (!err)
		err = inode_join(t, ip);
	if (!err) {
		set_links(ip, 1);
		err = inode_orphan_remove(t, ip);
	}
	if (!err)
		err = name_new(t, dp, name, len, ip, attr);
	return fs_txn_end(fs, t, err);
}

/* A new inode of mode (a symlink to target) named name in parent. */
static int create_once(struct fs *fs, uint64_t parent, const char *name,
		       mode_t mode, dev_t rdev, const char *target,
		       const struct fs_cred *cred, struct fs_attr *attr)
{
	struct inode *dp, *ip = NULL;
	enum name_kind kind;
	size_t len, tlen = 0;
	bool unnamed;
	struct txn *t;
	uid_t uid;
	gid_t gid;
	int err;

	err = name_check(name, &len, &kind);
	if (err)
		return err;
	if (kind != NAME_PLAIN)
		return -EEXIST;
	if (target) {
		tlen = strnlen(target, NAMEI_SYMLINK_MAX + 1);
		if (tlen == 0)
			return -ENOENT;
		if (tlen > NAMEI_SYMLINK_MAX)
			return -ENAMETOOLONG;
	}
	/* Rule 7: a long target is written before the inode is named. */
	unnamed = tlen > DIOFS_INLINE_DATA;
	err = get_dir(fs, parent, &dp);
	if (err)
		return err;
	err = fs_txn_begin(fs, &t);
	if (err)
		goto out_put;
	err = may_add(dp, name, len);
	if (!err) {
		new_owner(dp, cred, &mode, &uid, &gid);
		err = inode_new(fs, t, dp->ino, mode, uid, gid, rdev, &ip);
	}
	if (!err && target)
		err = symlink_store(t, ip, target, tlen);
	if (!err && !unnamed)
		err = name_new(t, dp, name, len, ip, attr);
	err = fs_txn_end(fs, t, err);
	if (!err && unnamed) {
		err = symlink_write(ip, target, tlen);
		if (!err)
			err = name_symlink(fs, dp, name, len, ip, attr);
	}
	if (!err)
		nlookup_add(ip);	/* rule 5 */
	if (ip)
		inode_put(ip);	/* frees an unnamed one left behind */
out_put:
	inode_put(dp);
	return err;
}

/* create_once(), and once more if a commit frees space (alloc.h rule 2). */
static int namei_create(struct fs *fs, uint64_t parent, const char *name,
			mode_t mode, dev_t rdev, const char *target,
			const struct fs_cred *cred, struct fs_attr *attr)
{
	int err = create_once(fs, parent, name, mode, rdev, target, cred,
			      attr);

	if (fs_retry_nospc(fs, err))
		err = create_once(fs, parent, name, mode, rdev, target, cred,
				  attr);
	return err;
}

int fs_mknod(struct fs *fs, uint64_t parent, const char *name, mode_t mode,
	     dev_t rdev, const struct fs_cred *cred, struct fs_attr *attr)
{
	switch (mode & S_IFMT) {
	case 0:			/* mknod(2) makes a regular file of it */
		mode |= S_IFREG;
		/* fall through */
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
		rdev = 0;
		break;
	case S_IFCHR:
	case S_IFBLK:
		break;
	case S_IFDIR:
		return -EPERM;
	default:
		return -EINVAL;
	}
	return namei_create(fs, parent, name, mode, rdev, NULL, cred, attr);
}

int fs_mkdir(struct fs *fs, uint64_t parent, const char *name, mode_t mode,
	     const struct fs_cred *cred, struct fs_attr *attr)
{
	return namei_create(fs, parent, name, S_IFDIR | (mode & 07777), 0,
			    NULL, cred, attr);
}

int fs_symlink(struct fs *fs, uint64_t parent, const char *name,
	       const char *target, const struct fs_cred *cred,
	       struct fs_attr *attr)
{
	return namei_create(fs, parent, name, S_IFLNK | 0777, 0, target, cred,
			    attr);
}

static int link_once(struct fs *fs, uint64_t ino, uint64_t parent,
		     const char *name, struct fs_attr *attr)
{
	struct inode *dp, *ip;
	struct timespec now;
	enum name_kind kind;
	struct txn *t;
	size_t len;
	int err;

	err = name_check(name, &len, &kind);
	if (err)
		return err;
	if (kind != NAME_PLAIN)
		return -EEXIST;
	err = inode_get(fs, ino, &ip);
	if (err)
		return err;
	if (S_ISDIR(ip->mode)) {
		err = -EPERM;
		goto out_put;
	}
	err = get_dir(fs, parent, &dp);
	if (err)
		goto out_put;
	err = fs_txn_begin(fs, &t);
	if (err)
		goto out_put_dir;
	err = may_add(dp, name, len);
	if (!err && (inode_immutable(ip) || inode_append_only(ip)))
		err = -EPERM;	/* as vfs_link() */
	/* An unlinked file stays unlinked: it is on the orphan list. */
	if (!err && !ip->links)
		err = -ENOENT;
	if (!err && ip->links >= NAMEI_LINK_MAX)
		err = -EMLINK;
	if (!err)
		err = inode_join(t, dp);
	if (!err)
		err = inode_join(t, ip);
	if (!err)
		err = dir_add(t, dp, name, len, ip->ino, codec_ftype(ip->mode));
	if (!err) {
		now = inode_now();
		set_links(ip, ip->links + 1);
		ip->ctime = now;
		dir_touch(dp, now);
		err = inode_write(t, ip);
	}
	if (!err)
		err = inode_write(t, dp);
	if (!err)
		inode_attr(ip, attr);
	err = fs_txn_end(fs, t, err);
	if (!err)
		nlookup_add(ip);
out_put_dir:
	inode_put(dp);
out_put:
	inode_put(ip);
	return err;
}

int fs_link(struct fs *fs, uint64_t ino, uint64_t parent, const char *name,
	    struct fs_attr *attr)
{
	int err = link_once(fs, ino, parent, name, attr);

	if (fs_retry_nospc(fs, err))
		err = link_once(fs, ino, parent, name, attr);
	return err;
}

/* ---- removing names ---------------------------------------------------------- */

/* unlink (dir false) and rmdir (dir true). */
static int namei_remove(struct fs *fs, uint64_t parent, const char *name,
			bool dir)
{
	struct inode *dp, *ip = NULL;
	struct timespec now;
	enum name_kind kind;
	struct txn *t;
	uint64_t ino;
	size_t len;
	int err;

	err = name_check(name, &len, &kind);
	if (err)
		return err;
	if (kind != NAME_PLAIN)
		return !dir ? -EISDIR : kind == NAME_DOT ? -EINVAL : -ENOTEMPTY;
	err = get_dir(fs, parent, &dp);
	if (err)
		return err;
	err = fs_txn_begin(fs, &t);
	if (err)
		goto out_put;
	now = inode_now();
	err = dir_lookup(dp, name, len, &ino, NULL);
	if (!err)
		err = inode_get(fs, ino, &ip);
	if (!err && dir && !S_ISDIR(ip->mode))
		err = -ENOTDIR;
	if (!err && !dir && S_ISDIR(ip->mode))
		err = -EISDIR;
	if (!err && dir && ip->dfile.size)
		err = -ENOTEMPTY;
	if (!err)
		err = inode_may_unname(dp, ip);
	if (!err)
		err = inode_join(t, dp);
	if (!err)
		err = inode_join(t, ip);
	if (!err)
		err = dir_remove(t, dp, name, len);
	if (!err)
		err = drop_link(t, ip, now);
	if (!err) {
		if (dir)
			set_links(dp, dp->links - 1);
		dir_touch(dp, now);
		err = inode_write(t, dp);
	}
	err = fs_txn_end(fs, t, err);
	if (ip)
		inode_put(ip);	/* may free it: after the transaction */
out_put:
	inode_put(dp);
	return err;
}

int fs_unlink(struct fs *fs, uint64_t parent, const char *name)
{
	return namei_remove(fs, parent, name, false);
}

int fs_rmdir(struct fs *fs, uint64_t parent, const char *name)
{
	return namei_remove(fs, parent, name, true);
}

/* ---- rename ------------------------------------------------------------------- */

/* The inodes of one rename: parents p1 (old) and p2 (new), source s and
 * the target tg it replaces or exchanges with (NULL: none). */
struct rename_op {
	struct txn *t;
	struct inode *p1, *p2, *s, *tg, *wh;
	const char *name, *newname;
	size_t len, newlen;
	unsigned flags;
	const struct fs_cred *cred;	/* owner of the whiteout */
};

/* *inside: whether directory anc is dir or one of its ancestors.  One
 * inode per level, up to the root: O(depth). */
static int is_under(struct inode *dir, uint64_t anc, bool *inside)
{
	struct fs *fs = dir->fs;
	uint64_t cur = dir->ino, steps = 0, next;
	struct inode *ip;
	int err;

	*inside = false;
	while (cur != anc) {
		if (cur == fs->sb.root_ino)
			return 0;
		if (++steps > fs->sb.inodes_count)
			return -EUCLEAN;	/* a cycle of parents */
		err = inode_get(fs, cur, &ip);
		if (err)
			return err == -ENOENT ? -EUCLEAN : err;
		next = ip->parent;
		inode_put(ip);		/* a live directory: nothing to free */
		cur = next;
	}
	*inside = true;
	return 0;
}

/* Linux's checks, in Linux's order; nothing has changed yet. */
static int rename_check(struct rename_op *r)
{
	bool sdir = S_ISDIR(r->s->mode);
	bool tdir = r->tg && S_ISDIR(r->tg->mode);
	bool inside;
	int err;

	/* A directory may not go below itself... */
	if (sdir && r->p1 != r->p2) {
		err = is_under(r->p2, r->s->ino, &inside);
		if (err)
			return err;
		if (inside)
			return -EINVAL;
	}
	/* ...nor replace (or trade places with) one of its ancestors. */
	if (tdir && r->p1 != r->p2) {
		err = is_under(r->p1, r->tg->ino, &inside);
		if (err)
			return err;
		if (inside)
			return r->flags & RENAME_EXCHANGE ? -EINVAL : -ENOTEMPTY;
	}
	if (r->s == r->tg || !r->tg || r->flags & RENAME_EXCHANGE)
		return 0;
	if (sdir && !tdir)
		return -ENOTDIR;
	if (!sdir && tdir)
		return -EISDIR;
	if (tdir && r->tg->dfile.size)
		return -ENOTEMPTY;
	return 0;
}

/* A directory moved from p1 to p2: its ".." follows it (rule 2). */
static void move_dir(struct inode *d, struct inode *from, struct inode *to)
{
	d->parent = to->ino;
	set_links(from, from->links - 1);
	set_links(to, to->links + 1);
}

static int rename_move(struct rename_op *r, struct timespec now)
{
	struct inode *s = r->s, *tg = r->tg;
	int err;

	if (tg) {
		err = dir_replace(r->t, r->p2, r->newname, r->newlen, s->ino,
				  codec_ftype(s->mode));
		if (!err)
			err = drop_link(r->t, tg, now);
		if (!err && S_ISDIR(tg->mode))
			set_links(r->p2, r->p2->links - 1);
	} else {
		err = dir_add(r->t, r->p2, r->newname, r->newlen, s->ino,
			      codec_ftype(s->mode));
	}
	if (!err && r->wh)
		err = dir_replace(r->t, r->p1, r->name, r->len, r->wh->ino,
				  codec_ftype(r->wh->mode));
	else if (!err)
		err = dir_remove(r->t, r->p1, r->name, r->len);
	if (!err && S_ISDIR(s->mode) && r->p1 != r->p2)
		move_dir(s, r->p1, r->p2);
	return err;
}

static int rename_exchange(struct rename_op *r)
{
	struct inode *s = r->s, *tg = r->tg;
	int err;

	err = dir_replace(r->t, r->p1, r->name, r->len, tg->ino,
			  codec_ftype(tg->mode));
	if (!err)
		err = dir_replace(r->t, r->p2, r->newname, r->newlen, s->ino,
				  codec_ftype(s->mode));
	if (!err && r->p1 != r->p2) {
		if (S_ISDIR(s->mode))
			move_dir(s, r->p1, r->p2);
		if (S_ISDIR(tg->mode))
			move_dir(tg, r->p2, r->p1);
	}
	return err;
}

/* Rule 8: the whiteout that takes the source's place, made in r->t. */
static int rename_new_whiteout(struct rename_op *r)
{
	mode_t mode = S_IFCHR;
	uid_t uid;
	gid_t gid;

	new_owner(r->p1, r->cred, &mode, &uid, &gid);
	return inode_new(r->p1->fs, r->t, r->p1->ino, mode, uid, gid, 0,
			 &r->wh);
}

/* Everything under the transaction; the inodes pinned go to r. */
static int rename_locked(struct rename_op *r)
{
	struct fs *fs = r->p1->fs;
	uint64_t sino, tino = 0;
	struct timespec now;
	int err;

	if (!r->p1->links || !r->p2->links)
		return -ENOENT;
	err = dir_lookup(r->p1, r->name, r->len, &sino, NULL);
	if (err)
		return err;
	err = dir_lookup(r->p2, r->newname, r->newlen, &tino, NULL);
	if (err && err != -ENOENT)
		return err;
	if (!err && r->flags & RENAME_NOREPLACE)
		return -EEXIST;
	if (err && r->flags & RENAME_EXCHANGE)
		return -ENOENT;
	err = inode_get(fs, sino, &r->s);
	if (err)
		return err;
	if (tino) {
		err = inode_get(fs, tino, &r->tg);
		if (err)
			return err;
	}
	/* fs.h rule 6: the source loses its name, a target its own; with no
	 * target the new directory only gains one. */
	err = inode_may_unname(r->p1, r->s);
	if (!err && r->tg)
		err = inode_may_unname(r->p2, r->tg);
	else if (!err && inode_immutable(r->p2))
		err = -EPERM;
	if (!err)
		err = rename_check(r);
	/* Two names of one inode: POSIX says do nothing. */
	if (err || r->s == r->tg)
		return err;

	err = inode_join(r->t, r->p1);
	if (!err)
		err = inode_join(r->t, r->p2);
	if (!err)
		err = inode_join(r->t, r->s);
	if (!err && r->tg)
		err = inode_join(r->t, r->tg);
	if (!err && r->flags & RENAME_WHITEOUT)
		err = rename_new_whiteout(r);
	if (err)
		return err;
	now = inode_now();
	if (r->flags & RENAME_EXCHANGE)
		err = rename_exchange(r);
	else
		err = rename_move(r, now);
	if (err)
		return err;
	r->s->ctime = now;
	dir_touch(r->p1, now);
	dir_touch(r->p2, now);
	err = inode_write(r->t, r->s);
	if (!err && r->tg) {
		r->tg->ctime = now;
		err = inode_write(r->t, r->tg);
	}
	if (!err)
		err = inode_write(r->t, r->p1);
	if (!err && r->p2 != r->p1)
		err = inode_write(r->t, r->p2);
	if (!err && r->wh)
		err = inode_write(r->t, r->wh);
	return err;
}

static int rename_once(struct fs *fs, uint64_t parent, const char *name,
		       uint64_t newparent, const char *newname, unsigned flags,
		       const struct fs_cred *cred)
{
	struct rename_op r = {
		.name = name, .newname = newname, .flags = flags, .cred = cred,
	};
	enum name_kind k1, k2;
	int err;

	/* The combinations renameat2(2) refuses, in the same words. */
	if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) ||
	    (flags & RENAME_EXCHANGE &&
	     flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)) ||
	    (flags & RENAME_WHITEOUT && !cred))
		return -EINVAL;
	err = name_check(name, &r.len, &k1);
	if (!err)
		err = name_check(newname, &r.newlen, &k2);
	if (err)
		return err;
	if (k1 != NAME_PLAIN)
		return -EBUSY;
	if (k2 != NAME_PLAIN)
		return flags & RENAME_NOREPLACE ? -EEXIST : -EBUSY;
	err = get_dir(fs, parent, &r.p1);
	if (err)
		return err;
	err = get_dir(fs, newparent, &r.p2);
	if (err)
		goto out_put;
	err = fs_txn_begin(fs, &r.t);
	if (!err)
		err = fs_txn_end(fs, r.t, rename_locked(&r));
	if (r.wh)
		inode_put(r.wh);	/* frees it if the transaction failed */
	if (r.tg)
		inode_put(r.tg);	/* may free it: after the transaction */
	if (r.s)
		inode_put(r.s);
	inode_put(r.p2);
out_put:
	inode_put(r.p1);
	return err;
}

int fs_rename(struct fs *fs, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, unsigned flags,
	      const struct fs_cred *cred)
{
	int err = rename_once(fs, parent, name, newparent, newname, flags,
			      cred);

	if (fs_retry_nospc(fs, err))
		err = rename_once(fs, parent, name, newparent, newname, flags,
				  cred);
	return err;
}

/* ---- readdir ------------------------------------------------------------------- */

struct readdir_arg {
	fs_fill_dir_t fill;
	void *arg;
};

static int readdir_fill(void *arg, const char *name, size_t len,
			uint64_t ino, uint8_t ftype, uint64_t next_cookie)
{
	struct readdir_arg *ra = arg;

	return ra->fill(ra->arg, name, ino, (mode_t)ftype << 12, next_cookie);
}

/*
 * Cookies: "." is 0 and hands on 1, ".." is 1 and hands on 2; a stored
 * entry's cookie is its tree key, which is at least 256 (format.h), and
 * it hands on key + 1 (dir.c).
 */
int fs_readdir(struct fs *fs, uint64_t ino, uint64_t cookie,
	       fs_fill_dir_t fill, void *arg)
{
	struct readdir_arg ra = { fill, arg };
	struct inode *dp;
	uint64_t parent;
	bool taken, live;
	int err;

	err = get_dir(fs, ino, &dp);
	if (err)
		return err;
	taken = fs_meta_rdlock(fs);
	live = dp->links != 0;
	parent = dp->parent;
	fs_meta_unlock(fs, taken);
	if (!live)
		err = -ENOENT;	/* as Linux answers for a removed directory */
	else if (cookie < 1 && fill(arg, ".", dp->ino, S_IFDIR, 1))
		err = 0;
	else if (cookie < 2 && fill(arg, "..", parent, S_IFDIR, 2))
		err = 0;
	else
		err = dir_iterate(dp, cookie, readdir_fill, &ra);
	if (!err && !fs->nodiratime)
		inode_accessed(dp);
	inode_put(dp);
	return err;
}

/* ---- extended attributes ------------------------------------------------------- */

/* One xattr change in its own transaction: set value, or remove when
 * value is NULL (xattr_change() tries once more after -ENOSPC). */
static int xattr_change_once(struct fs *fs, uint64_t ino, const char *name,
			     const void *value, size_t size, int flags)
{
	struct inode *ip;
	struct txn *t;
	int err;

	err = inode_get(fs, ino, &ip);
	if (err)
		return err;
	err = fs_txn_begin(fs, &t);
	if (err)
		goto out_put;
	/* fs.h rule 6, as the kernel's xattr_permission() */
	err = inode_immutable(ip) || inode_append_only(ip) ? -EPERM : 0;
	if (!err)
		err = inode_join(t, ip);
	if (!err)
		err = value ? xattr_set(t, ip, name, value, size, flags) :
			      xattr_remove(t, ip, name);
	if (!err) {
		ip->ctime = inode_now();
		err = inode_write(t, ip);
	}
	err = fs_txn_end(fs, t, err);
out_put:
	inode_put(ip);
	return err;
}

static int xattr_change(struct fs *fs, uint64_t ino, const char *name,
			const void *value, size_t size, int flags)
{
	int err = xattr_change_once(fs, ino, name, value, size, flags);

	if (fs_retry_nospc(fs, err))
		err = xattr_change_once(fs, ino, name, value, size, flags);
	return err;
}

int fs_setxattr(struct fs *fs, uint64_t ino, const char *name,
		const void *value, size_t size, int flags)
{
	/* An empty value may come with a NULL pointer; it is still a set. */
	return xattr_change(fs, ino, name, value ? value : "", size, flags);
}

ssize_t fs_getxattr(struct fs *fs, uint64_t ino, const char *name,
		    void *value, size_t size)
{
	struct inode *ip;
	ssize_t n;
	int err;

	err = inode_get(fs, ino, &ip);
	if (err)
		return err;
	n = xattr_get(ip, name, value, size);
	inode_put(ip);
	return n;
}

ssize_t fs_listxattr(struct fs *fs, uint64_t ino, char *list, size_t size)
{
	struct inode *ip;
	ssize_t n;
	int err;

	err = inode_get(fs, ino, &ip);
	if (err)
		return err;
	n = xattr_list(ip, list, size);
	inode_put(ip);
	return n;
}

int fs_removexattr(struct fs *fs, uint64_t ino, const char *name)
{
	return xattr_change(fs, ino, name, NULL, 0, 0);
}
