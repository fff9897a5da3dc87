/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_namei: Check suite for the namespace side of the engine: directory
 * entries (dir.c), extended attributes (xattr.c) and the namespace
 * operations of fs.h (namei.c).
 *
 * Each case formats an in-memory test device with super_format(), mounts
 * it with fs_mount_bdev() (fsenv.h) and works through the fs_* calls as
 * the FUSE daemon would, forgetting every reference it is handed as the
 * kernel eventually does.
 *
 * Rules:
 *  1. Most cases run over a table of geometries: fs blocks of 1 KiB,
 *     4 KiB and 64 KiB on 512-byte and 4 KiB device sectors.  The large
 *     directory case runs at 4 KiB only, to stay well under a minute.
 *  2. Every case ends with an unmount and fsck (report only) of the
 *     device, which must find nothing: link counts, directory sizes, block
 *     counts and bitmaps must all be what the engine left.  The one case
 *     that plants colliding entries by hand removes them before that.
 *  3. The test device logs every write; cases that write a lot clear the
 *     log as they go so memory stays bounded.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "checker.h"
#include "diofs/bdev.h"
#include "diofs/btree.h"
#include "diofs/codec.h"
#include "diofs/fs.h"
#include "diofs/inode.h"
#include "diofs/super.h"

#include "fsenv.h"

#define ROOT DIOFS_ROOT_INO

static const struct fs_cred cred0 = { .uid = 0, .gid = 0, .umask = 0 };

/* ---- the environment ------------------------------------------------------- */

/* Rule 2: unmount, and fsck must find nothing. */
static void env_done_fsck(struct env *e)
{
	struct fsck_opts fo = { .repair = 0, .out = stderr };
	struct fsck_result res;

	if (e->fs)
		env_unmount(e);
	memset(&res, 0, sizeof(res));
	ck_assert_msg(fsck_run(e->bdev, &fo, &res) == 0, "%s: fsck: %s",
		      where, res.msg);
	ck_assert_msg(res.found == 0, "%s: fsck found %llu problems", where,
		      (unsigned long long)res.found);
	bdev_close(e->bdev);
}

/* ---- helpers: each drops the references it is handed -------------------------- */

static int mk_mode(struct env *e, uint64_t dir, const char *name, mode_t mode,
		   uint64_t *ino)
{
	struct fs_attr a;
	int err;

	if (S_ISDIR(mode))
		err = fs_mkdir(e->fs, dir, name, mode & 07777, &cred0, &a);
	else
		err = fs_mknod(e->fs, dir, name, mode, 0, &cred0, &a);
	if (!err) {
		fs_forget(e->fs, a.ino, 1);
		if (ino)
			*ino = a.ino;
	}
	return err;
}

static uint64_t mkf(struct env *e, uint64_t dir, const char *name)
{
	uint64_t ino = 0;
	int err = mk_mode(e, dir, name, S_IFREG | 0644, &ino);

	ck_assert_msg(err == 0, "%s: create %s: %d", where, name, err);
	return ino;
}

static uint64_t mkd(struct env *e, uint64_t dir, const char *name)
{
	uint64_t ino = 0;
	int err = mk_mode(e, dir, name, S_IFDIR | 0755, &ino);

	ck_assert_msg(err == 0, "%s: mkdir %s: %d", where, name, err);
	return ino;
}

static int lk(struct env *e, uint64_t dir, const char *name, uint64_t *ino)
{
	struct fs_attr a;
	int err = fs_lookup(e->fs, dir, name, &a);

	if (!err) {
		fs_forget(e->fs, a.ino, 1);
		if (ino)
			*ino = a.ino;
	}
	return err;
}

static uint64_t nlinks(struct env *e, uint64_t ino)
{
	return attr_of(e, ino).nlink;
}

static uint64_t free_inodes(struct env *e)
{
	struct statvfs st;

	ck_assert_int_eq(fs_statfs(e->fs, &st), 0);
	return st.f_ffree;
}

/* ---- collecting readdir output ------------------------------------------------- */

struct dent {
	char name[DIOFS_NAME_MAX + 1];
	uint64_t ino;
	mode_t type;
	uint64_t next;
};

struct listing {
	struct dent *v;
	size_t n, cap;
	size_t limit;		/* stop after this many in one call; 0: none */
	size_t this_call;
};

static int collect(void *arg, const char *name, uint64_t ino, mode_t type,
		   uint64_t next_cookie)
{
	struct listing *l = arg;
	struct dent *d;

	if (l->limit && l->this_call == l->limit)
		return 1;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		ck_assert_ptr_nonnull(l->v);
	}
	d = &l->v[l->n++];
	ck_assert_uint_le(strlen(name), DIOFS_NAME_MAX);
	strcpy(d->name, name);
	d->ino = ino;
	d->type = type;
	d->next = next_cookie;
	l->this_call++;
	return 0;
}

/* The whole directory in one call. */
static void list_all(struct env *e, uint64_t dir, struct listing *l)
{
	memset(l, 0, sizeof(*l));
	ck_assert_int_eq(fs_readdir(e->fs, dir, 0, collect, l), 0);
}

static const struct dent *find_dent(const struct listing *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].name, name))
			return &l->v[i];
	return NULL;
}

/* ---- small directories --------------------------------------------------------- */

START_TEST(test_basic)
{
	const struct geom *g = &geoms[_i];
	struct listing l;
	struct fs_attr a;
	uint64_t d, f, ino;
	struct env e;

	env_init(&e, g, 32 * MiB, NULL);
	d = mkd(&e, ROOT, "dir");
	f = mkf(&e, d, "file");
	ck_assert_int_eq(lk(&e, ROOT, "dir", &ino), 0);
	ck_assert_uint_eq(ino, d);
	ck_assert_int_eq(lk(&e, d, "file", &ino), 0);
	ck_assert_uint_eq(ino, f);
	ck_assert_int_eq(lk(&e, d, "nothing", NULL), -ENOENT);
	ck_assert_int_eq(lk(&e, f, "x", NULL), -ENOTDIR);
	ck_assert_int_eq(lk(&e, d, ".", &ino), 0);
	ck_assert_uint_eq(ino, d);
	ck_assert_int_eq(lk(&e, d, "..", &ino), 0);
	ck_assert_uint_eq(ino, ROOT);
	ck_assert_int_eq(lk(&e, ROOT, "..", &ino), 0);
	ck_assert_uint_eq(ino, ROOT);

	/* the same name twice, and the Linux answers for . and .. */
	ck_assert_int_eq(mk_mode(&e, d, "file", S_IFREG | 0644, NULL), -EEXIST);
	ck_assert_int_eq(mk_mode(&e, d, "file", S_IFDIR | 0755, NULL), -EEXIST);
	ck_assert_int_eq(mk_mode(&e, d, ".", S_IFDIR | 0755, NULL), -EEXIST);
	ck_assert_int_eq(mk_mode(&e, d, "..", S_IFREG | 0644, NULL), -EEXIST);
	ck_assert_int_eq(fs_unlink(e.fs, d, "."), -EISDIR);
	ck_assert_int_eq(fs_rmdir(e.fs, d, "."), -EINVAL);
	ck_assert_int_eq(fs_rmdir(e.fs, d, ".."), -ENOTEMPTY);
	ck_assert_int_eq(fs_rename(e.fs, d, ".", ROOT, "x", 0, NULL), -EBUSY);
	ck_assert_int_eq(fs_rename(e.fs, d, "file", ROOT, "..", 0, NULL), -EBUSY);
	ck_assert_int_eq(fs_rename(e.fs, d, "file", ROOT, "..",
				   RENAME_NOREPLACE, NULL), -EEXIST);
	ck_assert_int_eq(fs_unlink(e.fs, d, "nothing"), -ENOENT);
	ck_assert_int_eq(fs_unlink(e.fs, ROOT, "dir"), -EISDIR);
	ck_assert_int_eq(fs_rmdir(e.fs, d, "file"), -ENOTDIR);
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, "dir"), -ENOTEMPTY);
	ck_assert_int_eq(mk_mode(&e, f, "x", S_IFREG | 0644, NULL), -ENOTDIR);
	ck_assert_int_eq(fs_mknod(e.fs, d, "d2", S_IFDIR | 0755, 0, &cred0, &a),
			 -EPERM);

	/* sizes: entries; links: 2 + subdirectories */
	ck_assert_uint_eq(attr_of(&e, d).size, 1);
	ck_assert_uint_eq(nlinks(&e, d), 2);
	ck_assert_uint_eq(nlinks(&e, ROOT), 3);
	ck_assert_uint_eq(attr_of(&e, ROOT).size, 1);

	/* readdir: . and .. first with cookies 1 and 2, then the entries */
	mkd(&e, d, "sub");
	ck_assert_uint_eq(nlinks(&e, d), 3);
	list_all(&e, d, &l);
	ck_assert_uint_eq(l.n, 4);
	ck_assert_str_eq(l.v[0].name, ".");
	ck_assert_uint_eq(l.v[0].ino, d);
	ck_assert_uint_eq(l.v[0].next, 1);
	ck_assert_uint_eq(l.v[0].type, S_IFDIR);
	ck_assert_str_eq(l.v[1].name, "..");
	ck_assert_uint_eq(l.v[1].ino, ROOT);
	ck_assert_uint_eq(l.v[1].next, 2);
	ck_assert_ptr_nonnull(find_dent(&l, "file"));
	ck_assert_uint_eq(find_dent(&l, "file")->ino, f);
	ck_assert_uint_eq(find_dent(&l, "file")->type, S_IFREG);
	ck_assert_uint_eq(find_dent(&l, "sub")->type, S_IFDIR);
	ck_assert_uint_ge(l.v[2].next, 256);
	/* resuming at each cookie gives the rest */
	for (size_t i = 0; i < l.n; i++) {
		struct listing r = { 0 };

		ck_assert_int_eq(fs_readdir(e.fs, d, l.v[i].next, collect, &r),
				 0);
		ck_assert_uint_eq(r.n, l.n - i - 1);
		for (size_t j = 0; j < r.n; j++)
			ck_assert_str_eq(r.v[j].name, l.v[i + 1 + j].name);
		free(r.v);
	}
	free(l.v);
	ck_assert_int_eq(fs_readdir(e.fs, f, 0, collect, &l), -ENOTDIR);

	/* everything survives a remount */
	env_remount(&e);
	ck_assert_int_eq(lk(&e, d, "file", &ino), 0);
	ck_assert_uint_eq(ino, f);
	ck_assert_uint_eq(nlinks(&e, d), 3);
	ck_assert_uint_eq(attr_of(&e, d).size, 2);

	/* removal */
	ck_assert_int_eq(fs_rmdir(e.fs, d, "sub"), 0);
	ck_assert_uint_eq(nlinks(&e, d), 2);
	ck_assert_int_eq(fs_unlink(e.fs, d, "file"), 0);
	ck_assert_int_eq(lk(&e, d, "file", NULL), -ENOENT);
	ck_assert_uint_eq(attr_of(&e, d).size, 0);
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, "dir"), 0);
	ck_assert_uint_eq(nlinks(&e, ROOT), 2);
	ck_assert_uint_eq(attr_of(&e, ROOT).size, 0);
	ck_assert_int_eq(fs_getattr(e.fs, d, &a), -ENOENT);
	env_done_fsck(&e);
}
END_TEST

START_TEST(test_nametoolong)
{
	const struct geom *g = &geoms[1];
	char max[DIOFS_NAME_MAX + 1], over[DIOFS_NAME_MAX + 2];
	struct fs_attr a;
	uint64_t f, ino;
	struct env e;

	env_init(&e, g, 16 * MiB, NULL);
	memset(max, 'm', DIOFS_NAME_MAX);
	max[DIOFS_NAME_MAX] = '\0';
	memset(over, 'o', DIOFS_NAME_MAX + 1);
	over[DIOFS_NAME_MAX + 1] = '\0';
	f = mkf(&e, ROOT, max);
	ck_assert_int_eq(lk(&e, ROOT, max, &ino), 0);
	ck_assert_uint_eq(ino, f);

	ck_assert_int_eq(fs_lookup(e.fs, ROOT, over, &a), -ENAMETOOLONG);
	ck_assert_int_eq(fs_mknod(e.fs, ROOT, over, S_IFREG | 0644, 0, &cred0,
				  &a), -ENAMETOOLONG);
	ck_assert_int_eq(fs_mkdir(e.fs, ROOT, over, 0755, &cred0, &a),
			 -ENAMETOOLONG);
	ck_assert_int_eq(fs_symlink(e.fs, ROOT, over, "t", &cred0, &a),
			 -ENAMETOOLONG);
	ck_assert_int_eq(fs_link(e.fs, f, ROOT, over, &a), -ENAMETOOLONG);
	ck_assert_int_eq(fs_unlink(e.fs, ROOT, over), -ENAMETOOLONG);
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, over), -ENAMETOOLONG);
	ck_assert_int_eq(fs_rename(e.fs, ROOT, over, ROOT, "x", 0, NULL),
			 -ENAMETOOLONG);
	ck_assert_int_eq(fs_rename(e.fs, ROOT, max, ROOT, over, 0, NULL),
			 -ENAMETOOLONG);
	ck_assert_int_eq(fs_lookup(e.fs, ROOT, "", &a), -ENOENT);
	ck_assert_int_eq(fs_lookup(e.fs, ROOT, "a/b", &a), -EINVAL);

	ck_assert_int_eq(fs_rename(e.fs, ROOT, max, ROOT, "short", 0, NULL), 0);
	ck_assert_int_eq(lk(&e, ROOT, "short", &ino), 0);
	ck_assert_uint_eq(ino, f);
	ck_assert_int_eq(fs_unlink(e.fs, ROOT, "short"), 0);
	env_done_fsck(&e);
}
END_TEST

/* ---- ownership, modes, times ------------------------------------------------------ */

START_TEST(test_owner_mode)
{
	const struct fs_cred user = { .uid = 1000, .gid = 100, .umask = 022 };
	const struct fs_cred other = { .uid = 1001, .gid = 101, .umask = 0 };
	struct fs_setattr sa = { .mask = FS_SET_MODE | FS_SET_GID };
	struct fs_attr a, b;
	uint64_t d, sg;
	struct env e;

	env_init(&e, &geoms[1], 16 * MiB, NULL);
	ck_assert_int_eq(fs_mkdir(e.fs, ROOT, "d", 0777, &user, &a), 0);
	fs_forget(e.fs, a.ino, 1);
	d = a.ino;
	ck_assert_uint_eq(a.uid, 1000);
	ck_assert_uint_eq(a.gid, 100);
	ck_assert_uint_eq(a.mode, S_IFDIR | 0755);	/* umask applied */
	ck_assert_uint_eq(a.nlink, 2);
	ck_assert_int_eq(fs_mknod(e.fs, d, "f", S_IFREG | 0666, 0, &user, &a),
			 0);
	fs_forget(e.fs, a.ino, 1);
	ck_assert_uint_eq(a.mode, S_IFREG | 0644);
	ck_assert_int_eq(fs_mknod(e.fs, d, "c", S_IFCHR | 0600,
				  makedev(4, 64), &user, &a), 0);
	fs_forget(e.fs, a.ino, 1);
	ck_assert_uint_eq(a.mode, S_IFCHR | 0600);
	ck_assert_uint_eq(a.rdev, makedev(4, 64));
	ck_assert_int_eq(fs_mknod(e.fs, d, "p", S_IFIFO | 0644, 0, &user, &a),
			 0);
	fs_forget(e.fs, a.ino, 1);
	ck_assert_uint_eq(a.mode, S_IFIFO | 0644);
	ck_assert_int_eq(fs_mknod(e.fs, d, "s", S_IFSOCK | 0644, 0, &user, &a),
			 0);
	fs_forget(e.fs, a.ino, 1);
	ck_assert_int_eq(fs_mknod(e.fs, d, "b", S_IFBLK | 0644, makedev(8, 1),
				  &user, &a), 0);
	fs_forget(e.fs, a.ino, 1);
	ck_assert_uint_eq(a.rdev, makedev(8, 1));

	/* a setgid directory hands its group and its bit down */
	ck_assert_int_eq(fs_mkdir(e.fs, ROOT, "sg", 0775, &user, &a), 0);
	fs_forget(e.fs, a.ino, 1);
	sg = a.ino;
	sa.mode = S_ISGID | 0775;
	sa.gid = 555;
	ck_assert_int_eq(fs_setattr(e.fs, NULL, sg, &sa, &a), 0);
	ck_assert_int_eq(fs_mkdir(e.fs, sg, "sub", 0755, &other, &a), 0);
	fs_forget(e.fs, a.ino, 1);
	ck_assert_uint_eq(a.uid, 1001);
	ck_assert_uint_eq(a.gid, 555);
	ck_assert_uint_eq(a.mode, S_IFDIR | S_ISGID | 0755);
	ck_assert_int_eq(fs_mknod(e.fs, sg, "f", S_IFREG | 0644, 0, &other,
				  &a), 0);
	fs_forget(e.fs, a.ino, 1);
	ck_assert_uint_eq(a.gid, 555);
	ck_assert_uint_eq(a.mode, S_IFREG | 0644);

	/* times: the directory's mtime and ctime follow its entries */
	b = attr_of(&e, d);
	ck_assert_int_eq(fs_unlink(e.fs, d, "p"), 0);
	a = attr_of(&e, d);
	ck_assert(a.mtime.tv_sec > b.mtime.tv_sec ||
		  (a.mtime.tv_sec == b.mtime.tv_sec &&
		   a.mtime.tv_nsec >= b.mtime.tv_nsec));
	ck_assert_int_eq(a.ctime.tv_sec, a.mtime.tv_sec);
	ck_assert_int_eq(a.ctime.tv_nsec, a.mtime.tv_nsec);

	ck_assert_int_eq(fs_unlink(e.fs, d, "f"), 0);
	ck_assert_int_eq(fs_unlink(e.fs, d, "c"), 0);
	ck_assert_int_eq(fs_unlink(e.fs, d, "s"), 0);
	ck_assert_int_eq(fs_unlink(e.fs, d, "b"), 0);
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, "d"), 0);
	ck_assert_int_eq(fs_rmdir(e.fs, sg, "sub"), 0);
	ck_assert_int_eq(fs_unlink(e.fs, sg, "f"), 0);
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, "sg"), 0);
	env_done_fsck(&e);
}
END_TEST

/* ---- hard links ------------------------------------------------------------------------ */

START_TEST(test_links)
{
	const struct geom *g = &geoms[_i];
	struct fs_attr a;
	uint64_t d, f, ino;
	struct env e;

	env_init(&e, g, 32 * MiB, NULL);
	d = mkd(&e, ROOT, "d");
	f = mkf(&e, ROOT, "f");
	ck_assert_int_eq(fs_link(e.fs, f, d, "g", &a), 0);
	fs_forget(e.fs, a.ino, 1);
	ck_assert_uint_eq(a.ino, f);
	ck_assert_uint_eq(a.nlink, 2);
	ck_assert_int_eq(fs_link(e.fs, f, d, "h", &a), 0);
	fs_forget(e.fs, a.ino, 1);
	ck_assert_uint_eq(nlinks(&e, f), 3);
	ck_assert_int_eq(fs_link(e.fs, f, d, "h", &a), -EEXIST);
	ck_assert_int_eq(fs_link(e.fs, d, ROOT, "dl", &a), -EPERM);
	ck_assert_int_eq(fs_link(e.fs, f, f, "x", &a), -ENOTDIR);
	ck_assert_int_eq(lk(&e, d, "g", &ino), 0);
	ck_assert_uint_eq(ino, f);
	/* directories do not count file links */
	ck_assert_uint_eq(nlinks(&e, d), 2);
	ck_assert_uint_eq(attr_of(&e, d).size, 2);

	ck_assert_int_eq(fs_unlink(e.fs, ROOT, "f"), 0);
	ck_assert_uint_eq(nlinks(&e, f), 2);
	ck_assert_int_eq(fs_unlink(e.fs, d, "g"), 0);
	ck_assert_uint_eq(nlinks(&e, f), 1);
	env_remount(&e);
	ck_assert_uint_eq(nlinks(&e, f), 1);
	ck_assert_int_eq(fs_unlink(e.fs, d, "h"), 0);
	ck_assert_int_eq(fs_getattr(e.fs, f, &a), -ENOENT);
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, "d"), 0);
	env_done_fsck(&e);
}
END_TEST

/* ---- unlinking what is still in use --------------------------------------------------- */

START_TEST(test_unlink_open)
{
	const struct geom *g = &geoms[_i];
	uint64_t free0, ifree0, free1, f;
	struct dio_ctx *ctx;
	struct fs_attr a;
	struct iovec iov;
	struct env e;
	char *buf, *back;
	size_t len = 3 * g->fs_bs + 100;

	env_init(&e, g, 32 * MiB, NULL);
	ck_assert_int_eq(dio_ctx_create(e.bdev, NULL, &ctx), 0);
	free0 = free_blocks(&e);
	ifree0 = free_inodes(&e);
	buf = xalloc(len);
	back = xalloc(len);
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(i * 7 + 1);

	/* the kernel holds a lookup and an open handle */
	ck_assert_int_eq(fs_mknod(e.fs, ROOT, "f", S_IFREG | 0644, 0, &cred0,
				  &a), 0);
	f = a.ino;
	ck_assert_int_eq(fs_open(e.fs, f, O_RDWR), 0);
	iov.iov_base = buf;
	iov.iov_len = len;
	ck_assert_int_eq(fs_write(e.fs, ctx, f, 0, &iov, 1), (ssize_t)len);
	free1 = free_blocks(&e);
	ck_assert_uint_lt(free1, free0);

	ck_assert_int_eq(fs_unlink(e.fs, ROOT, "f"), 0);
	/* the directory's one tree block went with its last entry */
	ck_assert_uint_eq(free_blocks(&e), free1 + 1);
	free1++;
	ck_assert_int_eq(lk(&e, ROOT, "f", NULL), -ENOENT);
	/* still there for the handle, with no links, on the orphan list */
	ck_assert_int_eq(fs_getattr(e.fs, f, &a), 0);
	ck_assert_uint_eq(a.nlink, 0);
	ck_assert_uint_eq(e.fs->sb.orphan_head, f);
	iov.iov_base = back;
	ck_assert_int_eq(fs_read(e.fs, ctx, f, 0, &iov, 1), (ssize_t)len);
	ck_assert_int_eq(memcmp(buf, back, len), 0);
	ck_assert_uint_eq(free_blocks(&e), free1);
	/* a new link to an unlinked file is refused */
	ck_assert_int_eq(fs_link(e.fs, f, ROOT, "again", &a), -ENOENT);

	fs_release(e.fs, f);
	ck_assert_int_eq(fs_getattr(e.fs, f, &a), 0);	/* still looked up */
	ck_assert_uint_eq(free_blocks(&e), free1);
	fs_forget(e.fs, f, 1);
	ck_assert_int_eq(fs_getattr(e.fs, f, &a), -ENOENT);
	ck_assert_uint_eq(free_blocks(&e), free0);
	ck_assert_uint_eq(free_inodes(&e), ifree0);
	ck_assert_uint_eq(e.fs->sb.orphan_head, 0);

	/* an empty directory removed while looked up */
	ck_assert_int_eq(fs_mkdir(e.fs, ROOT, "d", 0755, &cred0, &a), 0);
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, "d"), 0);
	ck_assert_int_eq(fs_getattr(e.fs, a.ino, &a), 0);
	ck_assert_uint_eq(a.nlink, 0);
	ck_assert_int_eq(mk_mode(&e, a.ino, "x", S_IFREG | 0644, NULL),
			 -ENOENT);
	{
		struct listing l = { 0 };

		ck_assert_int_eq(fs_readdir(e.fs, a.ino, 0, collect, &l),
				 -ENOENT);
		ck_assert_uint_eq(l.n, 0);
	}
	fs_forget(e.fs, a.ino, 1);
	ck_assert_int_eq(fs_getattr(e.fs, a.ino, &a), -ENOENT);
	ck_assert_uint_eq(free_inodes(&e), ifree0);

	free(buf);
	free(back);
	dio_ctx_destroy(ctx);
	env_done_fsck(&e);
}
END_TEST

/* ---- rename ---------------------------------------------------------------------------------- */

START_TEST(test_rename)
{
	const struct geom *g = &geoms[_i];
	uint64_t a, b, da, db, f, f2, sub, ino, ifree;
	struct listing l;
	struct env e;

	env_init(&e, g, 32 * MiB, NULL);
	da = mkd(&e, ROOT, "da");
	db = mkd(&e, ROOT, "db");
	a = mkf(&e, da, "a");
	b = mkf(&e, da, "b");

	/* file -> new name in the same directory, then across */
	ck_assert_int_eq(fs_rename(e.fs, da, "a", da, "a2", 0, NULL), 0);
	ck_assert_int_eq(lk(&e, da, "a", NULL), -ENOENT);
	ck_assert_int_eq(lk(&e, da, "a2", &ino), 0);
	ck_assert_uint_eq(ino, a);
	ck_assert_int_eq(fs_rename(e.fs, da, "a2", db, "a", 0, NULL), 0);
	ck_assert_int_eq(lk(&e, db, "a", &ino), 0);
	ck_assert_uint_eq(ino, a);
	ck_assert_uint_eq(attr_of(&e, da).size, 1);
	ck_assert_uint_eq(attr_of(&e, db).size, 1);
	ck_assert_int_eq(fs_rename(e.fs, da, "missing", db, "x", 0, NULL), -ENOENT);

	/* file over file: the target's inode goes */
	ifree = free_inodes(&e);
	ck_assert_int_eq(fs_rename(e.fs, da, "b", db, "a", 0, NULL), 0);
	ck_assert_int_eq(lk(&e, db, "a", &ino), 0);
	ck_assert_uint_eq(ino, b);
	ck_assert_uint_eq(free_inodes(&e), ifree + 1);
	ck_assert_uint_eq(attr_of(&e, da).size, 0);
	ck_assert_uint_eq(attr_of(&e, db).size, 1);

	/* NOREPLACE */
	f = mkf(&e, da, "f");
	ck_assert_int_eq(fs_rename(e.fs, da, "f", db, "a", RENAME_NOREPLACE, NULL),
			 -EEXIST);
	ck_assert_int_eq(fs_rename(e.fs, da, "f", db, "f", RENAME_NOREPLACE, NULL),
			 0);
	ck_assert_int_eq(fs_rename(e.fs, db, "f", da, "f", 0, NULL), 0);
	ck_assert_int_eq(fs_rename(e.fs, da, "f", da, "f", RENAME_NOREPLACE |
				   RENAME_EXCHANGE, NULL), -EINVAL);
	ck_assert_int_eq(fs_rename(e.fs, da, "f", da, "f", 0x80, NULL), -EINVAL);

	/* same entry, and two links of one inode: nothing happens */
	ck_assert_int_eq(fs_rename(e.fs, da, "f", da, "f", 0, NULL), 0);
	{
		struct fs_attr at;

		ck_assert_int_eq(fs_link(e.fs, f, db, "f-link", &at), 0);
		fs_forget(e.fs, at.ino, 1);
	}
	ck_assert_int_eq(fs_rename(e.fs, da, "f", db, "f-link", 0, NULL), 0);
	ck_assert_int_eq(lk(&e, da, "f", NULL), 0);
	ck_assert_int_eq(lk(&e, db, "f-link", NULL), 0);
	ck_assert_uint_eq(nlinks(&e, f), 2);
	ck_assert_int_eq(fs_unlink(e.fs, db, "f-link"), 0);

	/* type mismatches */
	sub = mkd(&e, da, "sub");
	ck_assert_int_eq(fs_rename(e.fs, da, "f", da, "sub", 0, NULL), -EISDIR);
	ck_assert_int_eq(fs_rename(e.fs, da, "sub", db, "a", 0, NULL), -ENOTDIR);

	/* dir over an empty dir, across parents: link counts follow */
	mkd(&e, db, "empty");
	ck_assert_uint_eq(nlinks(&e, da), 3);
	ck_assert_uint_eq(nlinks(&e, db), 3);
	ifree = free_inodes(&e);
	ck_assert_int_eq(fs_rename(e.fs, da, "sub", db, "empty", 0, NULL), 0);
	ck_assert_uint_eq(free_inodes(&e), ifree + 1);
	ck_assert_uint_eq(nlinks(&e, da), 2);
	ck_assert_uint_eq(nlinks(&e, db), 3);
	ck_assert_int_eq(lk(&e, db, "empty", &ino), 0);
	ck_assert_uint_eq(ino, sub);
	ck_assert_int_eq(lk(&e, sub, "..", &ino), 0);
	ck_assert_uint_eq(ino, db);
	list_all(&e, sub, &l);
	ck_assert_uint_eq(l.v[1].ino, db);
	free(l.v);

	/* dir over a non-empty dir */
	mkd(&e, da, "sub2");
	mkf(&e, sub, "content");
	ck_assert_int_eq(fs_rename(e.fs, da, "sub2", db, "empty", 0, NULL),
			 -ENOTEMPTY);
	/* a dir into its own subtree, and onto its own ancestor */
	mkd(&e, sub, "deep");
	ck_assert_int_eq(lk(&e, sub, "deep", &ino), 0);
	ck_assert_int_eq(fs_rename(e.fs, db, "empty", ino, "x", 0, NULL), -EINVAL);
	ck_assert_int_eq(fs_rename(e.fs, db, "empty", sub, "x", 0, NULL), -EINVAL);
	ck_assert_int_eq(fs_rename(e.fs, sub, "deep", ROOT, "db", 0, NULL),
			 -ENOTEMPTY);
	ck_assert_int_eq(fs_rename(e.fs, sub, "deep", ROOT, "db",
				   RENAME_EXCHANGE, NULL), -EINVAL);
	ck_assert_int_eq(fs_rename(e.fs, ROOT, "db", ino, "x",
				   RENAME_EXCHANGE, NULL), -ENOENT);
	/* moving up is fine */
	ck_assert_int_eq(fs_rename(e.fs, sub, "deep", ROOT, "deep", 0, NULL), 0);
	ck_assert_uint_eq(nlinks(&e, sub), 2);
	ck_assert_uint_eq(nlinks(&e, ROOT), 5);
	ck_assert_int_eq(lk(&e, ino, "..", &ino), 0);
	ck_assert_uint_eq(ino, ROOT);

	/* exchange file and dir across parents */
	f2 = mkf(&e, ROOT, "f2");
	ck_assert_int_eq(fs_rename(e.fs, ROOT, "f2", db, "empty",
				   RENAME_EXCHANGE, NULL), 0);
	ck_assert_int_eq(lk(&e, ROOT, "f2", &ino), 0);
	ck_assert_uint_eq(ino, sub);
	ck_assert_int_eq(lk(&e, db, "empty", &ino), 0);
	ck_assert_uint_eq(ino, f2);
	ck_assert_int_eq(lk(&e, sub, "..", &ino), 0);
	ck_assert_uint_eq(ino, ROOT);
	ck_assert_uint_eq(nlinks(&e, db), 2);
	ck_assert_uint_eq(nlinks(&e, ROOT), 6);
	list_all(&e, ROOT, &l);
	ck_assert_uint_eq(find_dent(&l, "f2")->type, S_IFDIR);
	free(l.v);
	/* exchange two directories in different parents */
	ck_assert_int_eq(fs_rename(e.fs, ROOT, "f2", da, "sub2",
				   RENAME_EXCHANGE, NULL), 0);
	ck_assert_int_eq(lk(&e, da, "sub2", &ino), 0);
	ck_assert_uint_eq(ino, sub);
	ck_assert_int_eq(lk(&e, sub, "..", &ino), 0);
	ck_assert_uint_eq(ino, da);
	ck_assert_uint_eq(nlinks(&e, da), 3);
	ck_assert_uint_eq(nlinks(&e, ROOT), 6);

	env_remount(&e);
	ck_assert_int_eq(lk(&e, da, "sub2", &ino), 0);
	ck_assert_uint_eq(ino, sub);
	ck_assert_uint_eq(nlinks(&e, da), 3);

	/* clean up everything: fsck checks the counts at the end */
	ck_assert_int_eq(fs_unlink(e.fs, sub, "content"), 0);
	ck_assert_int_eq(fs_rmdir(e.fs, da, "sub2"), 0);
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, "f2"), 0);
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, "deep"), 0);
	ck_assert_int_eq(fs_unlink(e.fs, da, "f"), 0);
	ck_assert_int_eq(fs_unlink(e.fs, db, "a"), 0);
	ck_assert_int_eq(fs_unlink(e.fs, db, "empty"), 0);
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, "da"), 0);
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, "db"), 0);
	ck_assert_uint_eq(nlinks(&e, ROOT), 2);
	env_done_fsck(&e);
}
END_TEST

/* RENAME_WHITEOUT: the old name becomes a character device 0/0 of mode 0,
 * the caller's, in the same transaction as the move; with EXCHANGE it is
 * -EINVAL, with NOREPLACE it still refuses an existing name. */
START_TEST(test_rename_whiteout)
{
	const struct geom *g = &geoms[_i];
	const struct fs_cred user = { .uid = 1000, .gid = 100, .umask = 077 };
	const struct fs_setattr sgid = {
		.mask = FS_SET_MODE, .mode = S_ISGID | 0755,
	};
	uint64_t da, db, f, sub, sg, wh, ino, ifree;
	struct fs_attr a;
	struct listing l;
	struct env e;

	env_init(&e, g, 32 * MiB, NULL);
	ifree = free_inodes(&e);
	da = mkd(&e, ROOT, "da");
	db = mkd(&e, ROOT, "db");
	f = mkf(&e, da, "f");

	ck_assert_int_eq(fs_rename(e.fs, da, "f", db, "g", RENAME_WHITEOUT,
				   &user), 0);
	ck_assert_int_eq(lk(&e, db, "g", &ino), 0);
	ck_assert_uint_eq(ino, f);
	ck_assert_int_eq(lk(&e, da, "f", &wh), 0);
	ck_assert_uint_ne(wh, f);
	a = attr_of(&e, wh);
	ck_assert_uint_eq(a.mode, S_IFCHR);	/* umask has nothing to take */
	ck_assert_uint_eq(a.rdev, 0);
	ck_assert_uint_eq(a.nlink, 1);
	ck_assert_uint_eq(a.uid, 1000);
	ck_assert_uint_eq(a.gid, 100);
	ck_assert_uint_eq(free_inodes(&e), ifree - 4);
	list_all(&e, da, &l);
	ck_assert_uint_eq(l.n, 3);	/* ".", ".." and the whiteout */
	ck_assert_uint_eq(find_dent(&l, "f")->type, S_IFCHR);
	free(l.v);

	/* refusals change nothing and make no inode */
	ck_assert_int_eq(fs_rename(e.fs, db, "g", da, "f", RENAME_WHITEOUT |
				   RENAME_EXCHANGE, &user), -EINVAL);
	ck_assert_int_eq(fs_rename(e.fs, db, "g", da, "f", RENAME_WHITEOUT |
				   RENAME_NOREPLACE, &user), -EEXIST);
	ck_assert_int_eq(fs_rename(e.fs, db, "missing", da, "x",
				   RENAME_WHITEOUT, &user), -ENOENT);
	ck_assert_int_eq(fs_rename(e.fs, db, "g", da, "x", RENAME_WHITEOUT,
				   NULL), -EINVAL);
	ck_assert_uint_eq(free_inodes(&e), ifree - 4);

	/* over an existing name (the whiteout itself); two names of one
	 * inode do nothing and leave no whiteout */
	ck_assert_int_eq(fs_rename(e.fs, db, "g", da, "f", RENAME_WHITEOUT,
				   &user), 0);
	ck_assert_int_eq(lk(&e, da, "f", &ino), 0);
	ck_assert_uint_eq(ino, f);
	ck_assert_int_eq(fs_getattr(e.fs, wh, &a), -ENOENT);
	ck_assert_int_eq(lk(&e, db, "g", &ino), 0);
	ck_assert_uint_eq(attr_of(&e, ino).mode, S_IFCHR);
	ck_assert_int_eq(fs_link(e.fs, f, da, "f2", &a), 0);
	fs_forget(e.fs, a.ino, 1);
	ck_assert_int_eq(fs_rename(e.fs, da, "f", da, "f2", RENAME_WHITEOUT,
				   &user), 0);
	ck_assert_int_eq(lk(&e, da, "f", &ino), 0);
	ck_assert_uint_eq(ino, f);
	ck_assert_uint_eq(nlinks(&e, f), 2);

	/* a directory moves out and leaves a whiteout; a setgid parent
	 * gives its group, as to any new inode */
	sub = mkd(&e, da, "sub");
	ck_assert_int_eq(fs_setattr(e.fs, NULL, da, &sgid, &a), 0);
	ck_assert_uint_eq(nlinks(&e, da), 3);
	ck_assert_int_eq(fs_rename(e.fs, da, "sub", ROOT, "sub",
				   RENAME_WHITEOUT, &user), 0);
	ck_assert_uint_eq(nlinks(&e, da), 2);
	ck_assert_int_eq(lk(&e, sub, "..", &ino), 0);
	ck_assert_uint_eq(ino, ROOT);
	ck_assert_int_eq(lk(&e, da, "sub", &sg), 0);
	a = attr_of(&e, sg);
	ck_assert_uint_eq(a.mode, S_IFCHR);
	ck_assert_uint_eq(a.gid, 0);	/* da's, not the caller's */

	env_remount(&e);
	ck_assert_int_eq(lk(&e, da, "sub", &ino), 0);
	ck_assert_uint_eq(attr_of(&e, ino).mode, S_IFCHR);
	ck_assert_int_eq(lk(&e, db, "g", &ino), 0);
	ck_assert_uint_eq(attr_of(&e, ino).rdev, 0);

	/* whiteouts unlink as any node */
	ck_assert_int_eq(fs_unlink(e.fs, da, "sub"), 0);
	ck_assert_int_eq(fs_unlink(e.fs, db, "g"), 0);
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, "sub"), 0);
	ck_assert_int_eq(fs_unlink(e.fs, da, "f"), 0);
	ck_assert_int_eq(fs_unlink(e.fs, da, "f2"), 0);
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, "da"), 0);
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, "db"), 0);
	ck_assert_uint_eq(free_inodes(&e), ifree);
	env_done_fsck(&e);
}
END_TEST

/* Replacing a file that is still open keeps it until it is closed. */
START_TEST(test_rename_over_open)
{
	uint64_t victim, ifree;
	struct fs_attr a;
	struct env e;

	env_init(&e, &geoms[1], 16 * MiB, NULL);
	ifree = free_inodes(&e);
	mkf(&e, ROOT, "new");
	victim = mkf(&e, ROOT, "old");
	ck_assert_int_eq(fs_open(e.fs, victim, O_RDWR), 0);
	ck_assert_int_eq(fs_rename(e.fs, ROOT, "new", ROOT, "old", 0, NULL), 0);
	ck_assert_int_eq(fs_getattr(e.fs, victim, &a), 0);
	ck_assert_uint_eq(a.nlink, 0);
	ck_assert_uint_eq(e.fs->sb.orphan_head, victim);
	ck_assert_uint_eq(free_inodes(&e), ifree - 2);
	fs_release(e.fs, victim);
	ck_assert_int_eq(fs_getattr(e.fs, victim, &a), -ENOENT);
	ck_assert_uint_eq(free_inodes(&e), ifree - 1);
	ck_assert_int_eq(fs_unlink(e.fs, ROOT, "old"), 0);
	env_done_fsck(&e);
}
END_TEST

/* ---- symlinks --------------------------------------------------------------------------------- */

START_TEST(test_symlink)
{
	const struct geom *g = &geoms[_i];
	static const size_t lens[] = { 1, 60, DIOFS_INLINE_DATA,
				       DIOFS_INLINE_DATA + 1, 1000, 1024, 1025,
				       4095 };
	const size_t nlens = sizeof(lens) / sizeof(lens[0]);
	char *target, *back, name[32];
	uint64_t free0, ino[8];
	struct fs_attr a;
	struct env e;

	env_init(&e, g, 32 * MiB, NULL);
	free0 = free_blocks(&e);
	target = xalloc(4097);
	back = xalloc(4097);
	for (size_t k = 0; k < nlens; k++) {
		for (size_t i = 0; i < lens[k]; i++)
			target[i] = (char)('a' + (i * 13 + k) % 26);
		target[lens[k]] = '\0';
		snprintf(name, sizeof(name), "l%zu", lens[k]);
		ck_assert_int_eq(fs_symlink(e.fs, ROOT, name, target, &cred0,
					    &a), 0);
		fs_forget(e.fs, a.ino, 1);
		ino[k] = a.ino;
		ck_assert_uint_eq(a.mode, S_IFLNK | 0777);
		ck_assert_uint_eq(a.size, lens[k]);
		ck_assert_int_eq(fs_readlink(e.fs, a.ino, back, 4097),
				 (ssize_t)lens[k]);
		ck_assert_int_eq(memcmp(back, target, lens[k]), 0);
	}
	ck_assert_uint_lt(free_blocks(&e), free0);
	memset(target, 'x', 4096);
	target[4096] = '\0';
	ck_assert_int_eq(fs_symlink(e.fs, ROOT, "toolong", target, &cred0, &a),
			 -ENAMETOOLONG);
	ck_assert_int_eq(fs_symlink(e.fs, ROOT, "empty", "", &cred0, &a),
			 -ENOENT);
	ck_assert_int_eq(fs_symlink(e.fs, ROOT, "l1", "x", &cred0, &a),
			 -EEXIST);
	ck_assert_int_eq(fs_readlink(e.fs, ROOT, back, 4097), -EINVAL);

	env_remount(&e);
	for (size_t k = 0; k < nlens; k++) {
		for (size_t i = 0; i < lens[k]; i++)
			target[i] = (char)('a' + (i * 13 + k) % 26);
		ck_assert_int_eq(fs_readlink(e.fs, ino[k], back, 4097),
				 (ssize_t)lens[k]);
		ck_assert_int_eq(memcmp(back, target, lens[k]), 0);
		/* a short buffer gets a prefix and the full length */
		memset(back, 0, 10);
		ck_assert_int_eq(fs_readlink(e.fs, ino[k], back, 1),
				 (ssize_t)lens[k]);
		ck_assert_int_eq(back[0], target[0]);
		ck_assert_int_eq(back[1], 0);
	}
	for (size_t k = 0; k < nlens; k++) {
		snprintf(name, sizeof(name), "l%zu", lens[k]);
		ck_assert_int_eq(fs_unlink(e.fs, ROOT, name), 0);
	}
	ck_assert_uint_eq(free_blocks(&e), free0);
	free(target);
	free(back);
	env_done_fsck(&e);
}
END_TEST

/*
 * A long target is written before its name exists (namei.c rule 7): a
 * symlink that cannot have its name, or whose target finds no room,
 * leaves no inode, block, name or orphan behind.
 */
START_TEST(test_symlink_unnamed_first)
{
	const struct geom *g = &geoms[_i];
	const size_t tlen = 2000, big = 64 * KiB;
	struct statvfs st0, st1;
	struct fs_setattr sa = { .mask = FS_SET_SIZE };
	char *target, *back;
	unsigned char *buf;
	struct fs_attr a;
	uint64_t f, done = 0;
	size_t chunk = big;
	struct env e;
	ssize_t n;

	env_init(&e, g, 32 * MiB, NULL);
	target = xalloc(tlen + 1);
	back = xalloc(tlen + 1);
	buf = xalloc(big);
	for (size_t i = 0; i < tlen; i++)
		target[i] = (char)('a' + i % 23);
	target[tlen] = '\0';
	memset(buf, 0x3C, big);
	mkf(&e, ROOT, "taken");

	/* The name is taken: refused before anything is made. */
	ck_assert_int_eq(fs_statfs(e.fs, &st0), 0);
	ck_assert_int_eq(fs_symlink(e.fs, ROOT, "taken", target, &cred0, &a),
			 -EEXIST);
	ck_assert_int_eq(fs_statfs(e.fs, &st1), 0);
	ck_assert_uint_eq(st1.f_bfree, st0.f_bfree);
	ck_assert_uint_eq(st1.f_ffree, st0.f_ffree);
	ck_assert_uint_eq(e.fs->sb.orphan_head, 0);

	/* No room for the target: the inode made for it goes again. */
	f = mkf(&e, ROOT, "fill");
	ck_assert_int_eq(fs_open(e.fs, f, O_RDWR), 0);
	for (;;) {
		struct iovec iov = { buf, chunk };

		n = fs_write(e.fs, e.ctx, f, done, &iov, 1);
		if (n > 0)
			done += (size_t)n;
		if (n == (ssize_t)chunk)
			continue;
		if (chunk == e.bs)
			break;
		chunk = e.bs;	/* the last blocks one at a time */
	}
	bdev_test_log_clear(e.bdev);
	ck_assert_int_eq(n, -ENOSPC);
	ck_assert_uint_eq(free_blocks(&e), 0);
	ck_assert_int_eq(fs_statfs(e.fs, &st0), 0);
	ck_assert_int_eq(fs_symlink(e.fs, ROOT, "nospace", target, &cred0, &a),
			 -ENOSPC);
	ck_assert_int_eq(lk(&e, ROOT, "nospace", NULL), -ENOENT);
	ck_assert_int_eq(fs_statfs(e.fs, &st1), 0);
	ck_assert_uint_eq(st1.f_bfree, 0);
	ck_assert_uint_eq(st1.f_ffree, st0.f_ffree);
	ck_assert_uint_eq(e.fs->sb.orphan_head, 0);

	/* Room again, once the truncate commits: the same call works. */
	sa.size = 0;
	ck_assert_int_eq(fs_setattr(e.fs, e.ctx, f, &sa, &a), 0);
	ck_assert_int_eq(fs_symlink(e.fs, ROOT, "nospace", target, &cred0, &a),
			 0);
	fs_forget(e.fs, a.ino, 1);
	ck_assert_uint_eq(a.size, tlen);
	ck_assert_int_eq(fs_readlink(e.fs, a.ino, back, tlen + 1),
			 (ssize_t)tlen);
	ck_assert_int_eq(memcmp(back, target, tlen), 0);
	ck_assert_uint_eq(e.fs->sb.orphan_head, 0);
	fs_release(e.fs, f);
	env_remount(&e);
	ck_assert_int_eq(fs_readlink(e.fs, a.ino, back, tlen + 1),
			 (ssize_t)tlen);
	ck_assert_int_eq(memcmp(back, target, tlen), 0);
	free(target);
	free(back);
	free(buf);
	env_done_fsck(&e);
}
END_TEST

/* ---- extended attributes ------------------------------------------------------------------- */

START_TEST(test_xattr)
{
	const struct geom *g = &geoms[_i];
	char name[64], val[512], back[512], list[8192];
	uint64_t f, free0, free1;
	size_t vmax, listed;
	ssize_t n;
	struct env e;
	int k;

	env_init(&e, g, 32 * MiB, NULL);
	f = mkf(&e, ROOT, "f");
	free0 = free_blocks(&e);

	/* nothing yet */
	ck_assert_int_eq(fs_listxattr(e.fs, f, list, sizeof(list)), 0);
	ck_assert_int_eq(fs_getxattr(e.fs, f, "user.a", back, sizeof(back)),
			 -ENODATA);
	ck_assert_int_eq(fs_removexattr(e.fs, f, "user.a"), -ENODATA);

	/* set, get, the size query, CREATE and REPLACE */
	ck_assert_int_eq(fs_setxattr(e.fs, f, "user.a", "hello", 5, 0), 0);
	ck_assert_int_eq(fs_getxattr(e.fs, f, "user.a", NULL, 0), 5);
	ck_assert_int_eq(fs_getxattr(e.fs, f, "user.a", back, sizeof(back)),
			 5);
	ck_assert_int_eq(memcmp(back, "hello", 5), 0);
	ck_assert_int_eq(fs_getxattr(e.fs, f, "user.a", back, 4), -ERANGE);
	ck_assert_int_eq(fs_setxattr(e.fs, f, "user.a", "x", 1, XATTR_CREATE),
			 -EEXIST);
	ck_assert_int_eq(fs_setxattr(e.fs, f, "user.b", "x", 1, XATTR_REPLACE),
			 -ENODATA);
	ck_assert_int_eq(fs_setxattr(e.fs, f, "user.a", "bye", 3,
				     XATTR_REPLACE), 0);
	ck_assert_int_eq(fs_getxattr(e.fs, f, "user.a", back, sizeof(back)),
			 3);
	ck_assert_int_eq(memcmp(back, "bye", 3), 0);
	ck_assert_int_eq(fs_setxattr(e.fs, f, "user.empty", "", 0,
				     XATTR_CREATE), 0);
	ck_assert_int_eq(fs_getxattr(e.fs, f, "user.empty", back, 1), 0);

	/* namespaces */
	ck_assert_int_eq(fs_setxattr(e.fs, f, "trusted.t", "1", 1, 0), 0);
	ck_assert_int_eq(fs_setxattr(e.fs, f, "security.selinux", "ctx", 3, 0),
			 0);
	ck_assert_int_eq(fs_setxattr(e.fs, f, "system.posix_acl_access",
				     "\x02\0\0\0", 4, 0), 0);
	ck_assert_int_eq(fs_getxattr(e.fs, f, "system.posix_acl_access", back,
				     sizeof(back)), 4);
	ck_assert_int_eq(fs_setxattr(e.fs, f, "system.other", "1", 1, 0),
			 -EOPNOTSUPP);
	ck_assert_int_eq(fs_setxattr(e.fs, f, "foo.bar", "1", 1, 0),
			 -EOPNOTSUPP);
	ck_assert_int_eq(fs_getxattr(e.fs, f, "foo.bar", back, 1),
			 -EOPNOTSUPP);
	ck_assert_int_eq(fs_setxattr(e.fs, f, "user.", "1", 1, 0), -EINVAL);
	memset(list, 'n', 300);
	memcpy(list, "user.", 5);
	list[256] = '\0';
	ck_assert_int_eq(fs_setxattr(e.fs, f, list, "1", 1, 0), -ERANGE);
	list[255] = '\0';
	ck_assert_int_eq(fs_setxattr(e.fs, f, list, "1", 1, 0), 0);
	ck_assert_int_eq(fs_removexattr(e.fs, f, list), 0);

	/* listing: every name once, the size query, ERANGE */
	n = fs_listxattr(e.fs, f, NULL, 0);
	ck_assert_int_eq(n, (ssize_t)(sizeof("user.a") + sizeof("user.empty") +
				      sizeof("trusted.t") +
				      sizeof("security.selinux") +
				      sizeof("system.posix_acl_access")));
	ck_assert_int_eq(fs_listxattr(e.fs, f, list, sizeof(list)), n);
	ck_assert_int_eq(fs_listxattr(e.fs, f, list, (size_t)n - 1), -ERANGE);

	/* many: the inline area overflows into the tree */
	for (k = 0; k < 200; k++) {
		snprintf(name, sizeof(name), "user.attr%03d", k);
		memset(val, 'A' + k % 26, sizeof(val));
		ck_assert_int_eq(fs_setxattr(e.fs, f, name, val, 20 + k % 40,
					     XATTR_CREATE), 0);
	}
	free1 = free_blocks(&e);
	ck_assert_uint_lt(free1, free0);
	env_remount(&e);
	for (k = 0; k < 200; k++) {
		snprintf(name, sizeof(name), "user.attr%03d", k);
		ck_assert_int_eq(fs_getxattr(e.fs, f, name, back,
					     sizeof(back)), 20 + k % 40);
		ck_assert_int_eq(back[0], 'A' + k % 26);
		ck_assert_int_eq(back[19 + k % 40], 'A' + k % 26);
	}
	n = fs_listxattr(e.fs, f, list, sizeof(list));
	ck_assert_int_gt(n, 0);
	listed = 0;
	for (ssize_t off = 0; off < n; off += (ssize_t)strlen(list + off) + 1)
		if (!strncmp(list + off, "user.attr", 9))
			listed++;
	ck_assert_uint_eq(listed, 200);

	/* values grow from inline into the tree and back */
	memset(val, 'z', sizeof(val));
	ck_assert_int_eq(fs_setxattr(e.fs, f, "user.a", val, 200, 0), 0);
	ck_assert_int_eq(fs_getxattr(e.fs, f, "user.a", back, sizeof(back)),
			 200);
	ck_assert_int_eq(memcmp(back, val, 200), 0);
	ck_assert_int_eq(fs_setxattr(e.fs, f, "user.a", "s", 1, 0), 0);
	ck_assert_int_eq(fs_getxattr(e.fs, f, "user.a", back, sizeof(back)),
			 1);

	/* the largest value an entry holds: btree_max_value(bs) - header -
	 * suffix; beyond 64 KiB nothing (larger ones: test_xattr_large) */
	vmax = btree_max_value(g->fs_bs) - 4 - strlen("big");
	{
		char *big = xalloc(DIOFS_XATTR_VALUE_MAX + 1);
		char *bigback = xalloc(vmax + 1);

		memset(big, 'q', DIOFS_XATTR_VALUE_MAX + 1);
		ck_assert_int_eq(fs_setxattr(e.fs, f, "user.big", big,
					     DIOFS_XATTR_VALUE_MAX + 1, 0),
				 -E2BIG);
		ck_assert_int_eq(fs_setxattr(e.fs, f, "user.big", big, vmax, 0),
				 0);
		ck_assert_int_eq(fs_getxattr(e.fs, f, "user.big", bigback,
					     vmax), (ssize_t)vmax);
		ck_assert_int_eq(memcmp(big, bigback, vmax), 0);
		free(big);
		free(bigback);
	}

	/* removing them all empties the tree */
	for (k = 0; k < 200; k++) {
		snprintf(name, sizeof(name), "user.attr%03d", k);
		ck_assert_int_eq(fs_removexattr(e.fs, f, name), 0);
		ck_assert_int_eq(fs_getxattr(e.fs, f, name, back,
					     sizeof(back)), -ENODATA);
	}
	ck_assert_int_eq(fs_removexattr(e.fs, f, "user.big"), 0);
	ck_assert_uint_eq(free_blocks(&e), free0);
	ck_assert_int_eq(fs_getxattr(e.fs, f, "user.a", back, sizeof(back)),
			 1);

	/* an inode's attributes go with it */
	for (k = 0; k < 100; k++) {
		snprintf(name, sizeof(name), "trusted.x%03d", k);
		ck_assert_int_eq(fs_setxattr(e.fs, f, name, val, 60, 0), 0);
	}
	ck_assert_int_eq(fs_setxattr(e.fs, ROOT, "user.root", "r", 1, 0), 0);
	ck_assert_int_eq(fs_unlink(e.fs, ROOT, "f"), 0);
	ck_assert_int_eq(fs_removexattr(e.fs, ROOT, "user.root"), 0);
	env_done_fsck(&e);
}
END_TEST

/* ---- extended attribute values in runs of blocks ------------------------------------------ */

/* A value of n bytes that differs with seed. */
static void xval(uint8_t *v, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = (uint8_t)(i * 31 + seed * 7 + (i >> 8));
}

static void expect_xattr(struct env *e, uint64_t ino, const char *name,
			 size_t n, unsigned seed)
{
	uint8_t *want = xalloc(n), *back = xalloc(n + 1);

	xval(want, n, seed);
	ck_assert_msg(fs_getxattr(e->fs, ino, name, NULL, 0) == (ssize_t)n,
		      "%s: %s: size of %zu bytes", where, name, n);
	ck_assert_msg(fs_getxattr(e->fs, ino, name, back, n + 1) ==
		      (ssize_t)n, "%s: %s: %zu bytes", where, name, n);
	ck_assert_msg(!memcmp(want, back, n), "%s: %s: %zu bytes differ",
		      where, name, n);
	if (n > 1)	/* a size of 0 asks for the length */
		ck_assert_int_eq(fs_getxattr(e->fs, ino, name, back, n - 1),
				 -ERANGE);
	free(want);
	free(back);
}

static void set_xattr(struct env *e, uint64_t ino, const char *name,
		      size_t n, unsigned seed, int flags)
{
	uint8_t *v = xalloc(n);
	int err;

	xval(v, n, seed);
	err = fs_setxattr(e->fs, ino, name, v, n, flags);
	ck_assert_msg(err == 0, "%s: set %s, %zu bytes: %d", where, name, n,
		      err);
	free(v);
}

/* Rule 2 of xattr.c: 0, 1, block - 1, block, block + 1 bytes, the largest
 * an entry holds and one more, and 64 KiB; set, replaced by every other
 * size, removed; across a remount; several 64 KiB values on one file. */
START_TEST(test_xattr_large)
{
	const struct geom *g = &geoms[_i];
	size_t vmax = btree_max_value(g->fs_bs) - 4 - strlen("v");
	size_t want[] = { 0, 1, g->fs_bs - 1, g->fs_bs, g->fs_bs + 1, vmax,
			  vmax + 1, DIOFS_XATTR_VALUE_MAX - 1,
			  DIOFS_XATTR_VALUE_MAX };
	size_t sizes[sizeof(want) / sizeof(want[0])], nsizes = 0, i, j;
	char name[32], *list = xalloc(4096);
	uint64_t f, free0, empty;
	struct env e;

	/* block + 1 is more than 64 KiB with 64 KiB blocks */
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (want[i] <= DIOFS_XATTR_VALUE_MAX)
			sizes[nsizes++] = want[i];
	env_init(&e, g, 64 * MiB, NULL);
	empty = free_blocks(&e);
	f = mkf(&e, ROOT, "f");
	free0 = free_blocks(&e);
	for (i = 0; i < nsizes; i++) {
		set_xattr(&e, f, "user.v", sizes[i], (unsigned)i, XATTR_CREATE);
		expect_xattr(&e, f, "user.v", sizes[i], (unsigned)i);
		for (j = 0; j < nsizes; j++) {
			set_xattr(&e, f, "user.v", sizes[j], (unsigned)(i + j),
				  XATTR_REPLACE);
			expect_xattr(&e, f, "user.v", sizes[j],
				     (unsigned)(i + j));
		}
		set_xattr(&e, f, "user.v", sizes[i], (unsigned)i, 0);
		env_remount(&e);
		expect_xattr(&e, f, "user.v", sizes[i], (unsigned)i);
		ck_assert_int_eq(fs_removexattr(e.fs, f, "user.v"), 0);
		ck_assert_int_eq(fs_getxattr(e.fs, f, "user.v", NULL, 0),
				 -ENODATA);
		/* the runs replaced and removed are free again */
		ck_assert_uint_eq(free_blocks(&e), free0);
		ck_assert_uint_eq(attr_of(&e, f).blocks, 0);
	}

	/* many 64 KiB values on one file, inline references and in the tree */
	for (i = 0; i < 24; i++) {
		snprintf(name, sizeof(name), "user.big%02zu", i);
		set_xattr(&e, f, name, DIOFS_XATTR_VALUE_MAX, (unsigned)i,
			  XATTR_CREATE);
	}
	ck_assert_int_eq(fs_listxattr(e.fs, f, list, 4096),
			 24 * (ssize_t)sizeof("user.big00"));
	env_remount(&e);
	for (i = 0; i < 24; i++) {
		snprintf(name, sizeof(name), "user.big%02zu", i);
		expect_xattr(&e, f, name, DIOFS_XATTR_VALUE_MAX, (unsigned)i);
	}
	ck_assert_uint_le(free_blocks(&e),
			  free0 - 24 * (DIOFS_XATTR_VALUE_MAX / g->fs_bs));

	/* the runs of a file go with it */
	ck_assert_int_eq(fs_unlink(e.fs, ROOT, "f"), 0);
	ck_assert_uint_eq(free_blocks(&e), empty);
	{
		uint8_t *v = xalloc(DIOFS_XATTR_VALUE_MAX + 1);

		ck_assert_int_eq(fs_setxattr(e.fs, ROOT, "user.v", v,
					     DIOFS_XATTR_VALUE_MAX + 1, 0),
				 -E2BIG);
		free(v);
	}
	free(list);
	env_done_fsck(&e);
}
END_TEST

/* A filesystem made before runs: the first one sets the feature flag. */
START_TEST(test_xattr_feature)
{
	const struct geom *g = &geoms[0];
	struct super sb;
	struct env e;
	uint64_t f;

	env_init(&e, g, 16 * MiB, NULL);
	ck_assert(e.fs->sb.incompat & DIOFS_FEAT_INCOMPAT_XATTR_RUNS);
	f = mkf(&e, ROOT, "f");
	env_unmount(&e);
	ck_assert_int_eq(super_read(e.bdev, &sb, NULL, 0), 0);
	sb.incompat &= ~DIOFS_FEAT_INCOMPAT_XATTR_RUNS;
	ck_assert_int_eq(super_write(e.bdev, &sb), 0);
	env_mount(&e);
	ck_assert(!(e.fs->sb.incompat & DIOFS_FEAT_INCOMPAT_XATTR_RUNS));
	set_xattr(&e, f, "user.small", 100, 1, 0);
	ck_assert(!(e.fs->sb.incompat & DIOFS_FEAT_INCOMPAT_XATTR_RUNS));
	set_xattr(&e, f, "user.large", 5000, 2, 0);
	ck_assert(e.fs->sb.incompat & DIOFS_FEAT_INCOMPAT_XATTR_RUNS);
	env_remount(&e);
	ck_assert(e.fs->sb.incompat & DIOFS_FEAT_INCOMPAT_XATTR_RUNS);
	expect_xattr(&e, f, "user.large", 5000, 2);
	env_done_fsck(&e);
}
END_TEST

/* A run whose bytes changed on the device: a read says so, a size query
 * and a removal still work. */
START_TEST(test_xattr_corrupt)
{
	const struct geom *g = &geoms[_i];
	struct codec_xattr_ref r;
	struct codec_xattr x;
	struct inode *ip;
	uint8_t *back = xalloc(DIOFS_XATTR_VALUE_MAX);
	size_t next;
	struct env e;
	uint64_t f;

	env_init(&e, g, 16 * MiB, NULL);
	f = mkf(&e, ROOT, "f");
	set_xattr(&e, f, "user.v", DIOFS_XATTR_VALUE_MAX, 5, 0);
	ck_assert_int_eq(inode_get(e.fs, f, &ip), 0);
	ck_assert_int_eq(codec_xattr_inline(ip->xattr, ip->xattr_len, 0, &x,
					    &next), 0);
	ck_assert(x.run);
	ck_assert_int_eq(codec_xattr_ref_decode(&x, &r), 0);
	ck_assert_uint_eq(r.size, DIOFS_XATTR_VALUE_MAX);
	inode_put(ip);
	env_unmount(&e);
	bdev_test_data(e.bdev)[r.start * e.bs + 1000] ^= 0x10;
	env_mount(&e);
	ck_assert_int_eq(fs_getxattr(e.fs, f, "user.v", NULL, 0),
			 DIOFS_XATTR_VALUE_MAX);
	ck_assert_int_eq(fs_getxattr(e.fs, f, "user.v", back,
				     DIOFS_XATTR_VALUE_MAX), -EUCLEAN);
	ck_assert_int_eq(fs_removexattr(e.fs, f, "user.v"), 0);
	ck_assert_int_eq(fs_getxattr(e.fs, f, "user.v", NULL, 0), -ENODATA);
	free(back);
	env_done_fsck(&e);
}
END_TEST

/* Rule 5 of xattr.c: names up to a 64 KiB listing, not one byte more. */
START_TEST(test_xattr_list_limit)
{
	const struct geom *g = &geoms[_i];
	char name[300], *list = xalloc(65536 + 1);
	struct env e;
	uint64_t f;
	int k;

	env_init(&e, g, 32 * MiB, NULL);
	f = mkf(&e, ROOT, "f");
	/* "user." + 250 bytes + NUL: 256 names fill 64 KiB exactly */
	for (k = 0; k < 256; k++) {
		snprintf(name, sizeof(name), "user.%03d%0247d", k, 0);
		ck_assert_int_eq(fs_setxattr(e.fs, f, name, "v", 1,
					     XATTR_CREATE), 0);
	}
	snprintf(name, sizeof(name), "user.x");
	ck_assert_int_eq(fs_setxattr(e.fs, f, name, "v", 1, 0), -ENOSPC);
	ck_assert_int_eq(fs_listxattr(e.fs, f, list, 65536 + 1), 65536);
	/* existing names still change, a removal makes room */
	snprintf(name, sizeof(name), "user.%03d%0247d", 7, 0);
	set_xattr(&e, f, name, DIOFS_XATTR_VALUE_MAX, 1, XATTR_REPLACE);
	expect_xattr(&e, f, name, DIOFS_XATTR_VALUE_MAX, 1);
	ck_assert_int_eq(fs_removexattr(e.fs, f, name), 0);
	ck_assert_int_eq(fs_setxattr(e.fs, f, "user.x", "v", 1, 0), 0);
	free(list);
	env_done_fsck(&e);
}
END_TEST

/* A full filesystem: -ENOSPC, and the old value stays. */
START_TEST(test_xattr_nospc)
{
	const struct geom *g = &geoms[1];
	struct env e;
	uint64_t f, d, k = 0;
	char name[32];
	uint8_t *zeros = xalloc(DIOFS_XATTR_VALUE_MAX);
	int err;

	env_init(&e, g, 16 * MiB, NULL);
	f = mkf(&e, ROOT, "f");
	d = mkf(&e, ROOT, "filler");
	set_xattr(&e, f, "user.v", 20000, 1, 0);
	/* fill the device with 64 KiB values of another file */
	for (;;) {
		uint8_t *v = xalloc(DIOFS_XATTR_VALUE_MAX);

		snprintf(name, sizeof(name), "user.fill%06llu",
			 (unsigned long long)k++);
		err = fs_setxattr(e.fs, d, name, v, DIOFS_XATTR_VALUE_MAX, 0);
		free(v);
		if (err)
			break;
	}
	ck_assert_int_eq(err, -ENOSPC);
	err = fs_setxattr(e.fs, f, "user.v", zeros, DIOFS_XATTR_VALUE_MAX, 0);
	ck_assert_int_eq(err, -ENOSPC);
	expect_xattr(&e, f, "user.v", 20000, 1);
	/* freeing one makes room for one */
	ck_assert_int_eq(fs_removexattr(e.fs, d, "user.fill000000"), 0);
	set_xattr(&e, f, "user.v", DIOFS_XATTR_VALUE_MAX, 3, 0);
	expect_xattr(&e, f, "user.v", DIOFS_XATTR_VALUE_MAX, 3);
	env_remount(&e);
	expect_xattr(&e, f, "user.v", DIOFS_XATTR_VALUE_MAX, 3);
	free(zeros);
	env_done_fsck(&e);
}
END_TEST

/* ---- collisions: entries planted in one name's collision group ------------------------- */

/* The planted entries' nodes are charged to the directory as dir.c does,
 * so that fsck finds the block counts right at the end. */
static struct inode *plant_dp;

static int plant_alloc(void *arg, struct txn *t, uint64_t goal,
		       uint64_t *blkno)
{
	int err = alloc_btree_alloc(arg, t, goal, blkno);

	if (!err)
		plant_dp->blocks++;
	return err;
}

static void plant_free(void *arg, struct txn *t, uint64_t blkno)
{
	alloc_btree_free(arg, t, blkno);
	plant_dp->blocks--;
}

/* Put a fake entry (name, ino 12345) at key in dir's tree, or take it out:
 * an entry filed in another name's collision group is what a collision
 * looks like on disk. */
static void plant(struct env *e, uint64_t dir, uint64_t key, const char *name,
		  bool add)
{
	uint8_t val[sizeof(struct diofs_dirent) + DIOFS_NAME_MAX];
	struct diofs_dirent *d = (struct diofs_dirent *)val;
	size_t len = strlen(name);
	struct btree_ops ops = { plant_alloc, plant_free, e->fs->alloc };
	struct inode *dp;
	struct btree bt;
	struct txn *t;
	int err;

	ck_assert_int_eq(inode_get(e->fs, dir, &dp), 0);
	plant_dp = dp;
	ck_assert_int_eq(fs_txn_begin(e->fs, &t), 0);
	bt.cache = e->fs->cache;
	bt.ops = &ops;
	bt.magic_leaf = DIOFS_MAGIC_DIR_LEAF;
	bt.magic_node = DIOFS_MAGIC_DIR_NODE;
	bt.root = dp->ext_root;
	d->ino = htole64(12345);
	d->ftype = DIOFS_FT_REG;
	d->name_len = (uint8_t)len;
	memcpy(d->name, name, len);
	err = inode_join(t, dp);
	if (!err)
		err = add ? btree_insert(&bt, t, key, val, sizeof(*d) + len) :
			    btree_delete(&bt, t, key);
	if (!err) {
		dp->ext_root = bt.root;
		__atomic_store_n(&dp->dfile.size,
				 dp->dfile.size + (add ? 1 : -1),
				 __ATOMIC_RELAXED);
		err = inode_write(t, dp);
	}
	ck_assert_int_eq(fs_txn_end(e->fs, t, err), 0);
	inode_put(dp);
}

START_TEST(test_collisions)
{
	uint64_t d, h, ino, alpha;
	char fake[16];
	struct listing l;
	struct env e;
	unsigned n;

	/* a 1 KiB tree, so the 256-name group spans several leaves */
	env_init(&e, &geoms[0], 16 * MiB, NULL);
	d = mkd(&e, ROOT, "d");
	mkf(&e, d, "other");
	h = diofs_name_hash(e.fs->sb.hash_seed, "alpha", 5);

	/* three names already hold counters 0..2 of alpha's group */
	for (n = 0; n < 3; n++) {
		snprintf(fake, sizeof(fake), "fake%u", n);
		plant(&e, d, diofs_dir_key(h, n), fake, true);
	}
	alpha = mkf(&e, d, "alpha");
	ck_assert_int_eq(lk(&e, d, "alpha", &ino), 0);
	ck_assert_uint_eq(ino, alpha);
	ck_assert_int_eq(lk(&e, d, "fake1", NULL), -ENOENT); /* filed wrong */
	list_all(&e, d, &l);
	ck_assert_uint_eq(l.n, 2 + 5);
	ck_assert_uint_eq(find_dent(&l, "alpha")->next,
			  diofs_dir_key(h, 3) + 1);
	free(l.v);

	/* a gap before alpha does not stop the walk; a new name of the group
	 * takes the gap */
	plant(&e, d, diofs_dir_key(h, 1), "fake1", false);
	ck_assert_int_eq(lk(&e, d, "alpha", &ino), 0);
	ck_assert_uint_eq(ino, alpha);
	ck_assert_int_eq(fs_unlink(e.fs, d, "alpha"), 0);
	ck_assert_int_eq(lk(&e, d, "alpha", NULL), -ENOENT);
	plant(&e, d, diofs_dir_key(h, 0), "fake0", false);
	alpha = mkf(&e, d, "alpha");
	ck_assert_int_eq(lk(&e, d, "alpha", &ino), 0);
	ck_assert_uint_eq(ino, alpha);
	list_all(&e, d, &l);
	ck_assert_uint_eq(find_dent(&l, "alpha")->next,
			  diofs_dir_key(h, 0) + 1);
	free(l.v);
	ck_assert_int_eq(fs_rename(e.fs, d, "alpha", d, "beta", 0, NULL), 0);

	/* a full group refuses the name */
	plant(&e, d, diofs_dir_key(h, 2), "fake2", false);
	for (n = 0; n < DIOFS_DIR_COLLISIONS; n++) {
		snprintf(fake, sizeof(fake), "fake%u", n);
		plant(&e, d, diofs_dir_key(h, n), fake, true);
	}
	ck_assert_int_eq(mk_mode(&e, d, "alpha", S_IFREG | 0644, NULL),
			 -ENOSPC);
	ck_assert_int_eq(lk(&e, d, "alpha", NULL), -ENOENT);
	/* readdir one entry per call through the group */
	{
		struct listing r = { .limit = 1 };
		uint64_t cookie = 0;
		size_t calls = 0;

		for (;;) {
			size_t before = r.n;

			r.this_call = 0;
			ck_assert_int_eq(fs_readdir(e.fs, d, cookie, collect,
						    &r), 0);
			if (r.n == before)
				break;
			cookie = r.v[r.n - 1].next;
			calls++;
		}
		ck_assert_uint_eq(r.n, 2 + 2 + DIOFS_DIR_COLLISIONS);
		ck_assert_uint_eq(calls, r.n);
		free(r.v);
	}
	for (n = 0; n < DIOFS_DIR_COLLISIONS; n++) {
		snprintf(fake, sizeof(fake), "fake%u", n);
		plant(&e, d, diofs_dir_key(h, n), fake, false);
	}
	ck_assert_int_eq(fs_unlink(e.fs, d, "beta"), 0);
	ck_assert_int_eq(fs_unlink(e.fs, d, "other"), 0);
	{
		struct inode *dp;

		ck_assert_int_eq(inode_get(e.fs, d, &dp), 0);
		ck_assert_uint_eq(dp->ext_root, 0);
		ck_assert_uint_eq(dp->blocks, 0);
		inode_put(dp);
	}
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, "d"), 0);
	env_done_fsck(&e);
}
END_TEST

/* ---- a large directory --------------------------------------------------------------------- */

#define BIG_N		100000u
#define BIG_CHUNK	1000u

struct big_state {
	uint64_t *ino;		/* of f<i>, 0 once removed */
	uint8_t *seen;		/* times f<i> was listed */
	uint8_t *nseen;		/* times n<i> was listed */
	uint8_t *removed_unseen;
	unsigned added;
};

START_TEST(test_big_dir)
{
	/* small groups: enough of them for the inodes (a group's inode bitmap
	 * is one block) */
	struct format_opts fo = { .inodes = BIG_N + 4096,
				  .blocks_per_group = 4096 };
	struct big_state s = { 0 };
	uint64_t d, free0, ifree0, ino, lookups_reads = 0, max_reads = 0;
	struct bdev_stats st0, st1;
	char name[32];
	struct env e;
	unsigned i;

	env_init(&e, &geoms[1], 128 * MiB, &fo);
	free0 = free_blocks(&e);
	ifree0 = free_inodes(&e);
	s.ino = xalloc(BIG_N * sizeof(*s.ino));
	s.seen = xalloc(BIG_N);
	s.nseen = xalloc(BIG_N);
	s.removed_unseen = xalloc(BIG_N);

	d = mkd(&e, ROOT, "big");
	for (i = 0; i < BIG_N; i++) {
		snprintf(name, sizeof(name), "f%06u", i);
		s.ino[i] = mkf(&e, d, name);
		if (i % 256 == 0)
			bdev_test_log_clear(e.bdev);
	}
	ck_assert_uint_eq(attr_of(&e, d).size, BIG_N);

	/* cold cache: every lookup reads a root-to-leaf path and one inode
	 * block, never a run of leaves */
	env_unmount(&e);
	e.cache_blocks = 64;
	env_mount(&e);
	for (i = 0; i < BIG_N; i++) {
		uint64_t r;

		snprintf(name, sizeof(name), "f%06u", i);
		bdev_get_stats(e.bdev, &st0);
		ck_assert_int_eq(lk(&e, d, name, &ino), 0);
		bdev_get_stats(e.bdev, &st1);
		ck_assert_uint_eq(ino, s.ino[i]);
		r = st1.reads - st0.reads;
		lookups_reads += r;
		if (r > max_reads)
			max_reads = r;
	}
	/* the cache really was too small for the leaves: they were read */
	ck_assert_uint_ge(lookups_reads, BIG_N / 2);
	ck_assert_msg(max_reads <= 6, "a lookup read %llu blocks",
		      (unsigned long long)max_reads);
	ck_assert_msg(lookups_reads <= 4ull * BIG_N,
		      "lookups read %llu blocks", (unsigned long long)lookups_reads);
	snprintf(name, sizeof(name), "f%06u", BIG_N);
	bdev_get_stats(e.bdev, &st0);
	ck_assert_int_eq(lk(&e, d, name, NULL), -ENOENT);
	bdev_get_stats(e.bdev, &st1);
	ck_assert_uint_le(st1.reads - st0.reads, 6);
	env_unmount(&e);
	e.cache_blocks = 0;
	env_mount(&e);

	/* readdir in chunks while names come and go between calls */
	{
		struct listing l = { .limit = BIG_CHUNK };
		uint64_t cookie = 0;
		size_t pos = 0;

		for (;;) {
			size_t before = l.n;

			l.this_call = 0;
			ck_assert_int_eq(fs_readdir(e.fs, d, cookie,
						    collect, &l), 0);
			if (l.n == before)
				break;
			for (; pos < l.n; pos++) {
				const struct dent *de = &l.v[pos];

				if (de->name[0] == 'f') {
					i = (unsigned)atoi(de->name + 1);
					ck_assert_uint_lt(i, BIG_N);
					ck_assert_uint_eq(de->ino, s.ino[i]);
					s.seen[i]++;
				} else if (de->name[0] == 'n') {
					i = (unsigned)atoi(de->name + 1);
					s.nseen[i]++;
				}
			}
			cookie = l.v[l.n - 1].next;
			/* remove 20 names not listed yet and 20 listed ones,
			 * and add 20 new ones */
			for (unsigned k = 0; k < 40; k++) {
				i = (unsigned)(rnd() % BIG_N);
				if (!s.ino[i] || (k < 20) != !s.seen[i])
					continue;
				snprintf(name, sizeof(name), "f%06u", i);
				ck_assert_int_eq(fs_unlink(e.fs, d, name), 0);
				s.ino[i] = 0;
				if (!s.seen[i])
					s.removed_unseen[i] = 1;
			}
			for (unsigned k = 0; k < 20; k++) {
				snprintf(name, sizeof(name), "n%06u",
					 s.added++);
				mkf(&e, d, name);
			}
			bdev_test_log_clear(e.bdev);
		}
		ck_assert_str_eq(l.v[0].name, ".");
		ck_assert_str_eq(l.v[1].name, "..");
		for (i = 0; i < BIG_N; i++) {
			if (s.removed_unseen[i])
				ck_assert_msg(s.seen[i] == 0,
					      "f%06u listed after removal", i);
			else
				ck_assert_msg(s.seen[i] == 1,
					      "f%06u listed %u times", i,
					      s.seen[i]);
		}
		for (i = 0; i < s.added; i++)
			ck_assert_uint_le(s.nseen[i], 1);
		free(l.v);
	}

	/* remove everything: the tree goes with the last entry */
	for (i = 0; i < BIG_N; i++) {
		if (!s.ino[i])
			continue;
		snprintf(name, sizeof(name), "f%06u", i);
		ck_assert_int_eq(fs_unlink(e.fs, d, name), 0);
		if (i % 256 == 0)
			bdev_test_log_clear(e.bdev);
	}
	for (i = 0; i < s.added; i++) {
		snprintf(name, sizeof(name), "n%06u", i);
		ck_assert_int_eq(fs_unlink(e.fs, d, name), 0);
	}
	ck_assert_uint_eq(attr_of(&e, d).size, 0);
	ck_assert_uint_eq(attr_of(&e, d).blocks, 0);
	{
		struct listing l;

		list_all(&e, d, &l);
		ck_assert_uint_eq(l.n, 2);
		free(l.v);
	}
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, "big"), 0);
	ck_assert_uint_eq(free_blocks(&e), free0);
	ck_assert_uint_eq(free_inodes(&e), ifree0);
	free(s.ino);
	free(s.seen);
	free(s.nseen);
	free(s.removed_unseen);
	env_done_fsck(&e);
}
END_TEST

/* ---- threads ------------------------------------------------------------------------- */

#define THR_WRITERS	3
#define THR_OPS		400

struct thr {
	struct env *e;
	uint64_t dir;
	int id;
	int errors;		/* Check's asserts are for the main thread */
	int *stop;
};

static void *thr_writer(void *arg)
{
	struct thr *w = arg;
	struct fs *fs = w->e->fs;
	char a[32], b[32];
	struct fs_attr at;
	int k;

	for (k = 0; k < THR_OPS; k++) {
		snprintf(a, sizeof(a), "w%d-%d", w->id, k);
		snprintf(b, sizeof(b), "r%d-%d", w->id, k);
		if (k % 5 == 0) {
			if (fs_mkdir(fs, w->dir, a, 0755, &cred0, &at))
				w->errors++;
			else
				fs_forget(fs, at.ino, 1);
		} else if (fs_mknod(fs, w->dir, a, S_IFREG | 0644, 0, &cred0,
				    &at)) {
			w->errors++;
		} else {
			fs_forget(fs, at.ino, 1);
		}
		if (fs_lookup(fs, w->dir, a, &at)) {
			w->errors++;
		} else {
			fs_forget(fs, at.ino, 1);
			if (fs_setxattr(fs, at.ino, "user.k", &k, sizeof(k), 0))
				w->errors++;
		}
		if (fs_rename(fs, w->dir, a, w->dir, b, 0, NULL))
			w->errors++;
		/* every other one goes again */
		if (k % 2 && (k % 5 == 0 ? fs_rmdir(fs, w->dir, b) :
			      fs_unlink(fs, w->dir, b)))
			w->errors++;
	}
	return NULL;
}

static void *thr_reader(void *arg)
{
	struct thr *r = arg;
	struct fs *fs = r->e->fs;
	struct fs_attr at;
	char name[32];

	while (!__atomic_load_n(r->stop, __ATOMIC_ACQUIRE)) {
		struct listing l = { .limit = 50 };
		uint64_t cookie = 0;

		for (;;) {
			size_t before = l.n;

			l.this_call = 0;
			if (fs_readdir(fs, r->dir, cookie, collect, &l)) {
				r->errors++;
				break;
			}
			if (l.n == before)
				break;
			cookie = l.v[l.n - 1].next;
		}
		/* names seen: each one still there or gone, never broken */
		for (size_t i = 2; i < l.n; i++) {
			int err = fs_lookup(fs, r->dir, l.v[i].name, &at);

			if (!err)
				fs_forget(fs, at.ino, 1);
			else if (err != -ENOENT)
				r->errors++;
		}
		free(l.v);
		snprintf(name, sizeof(name), "w%d-%d", (int)(rnd() % THR_WRITERS),
			 (int)(rnd() % THR_OPS));
		if (!fs_lookup(fs, r->dir, name, &at))
			fs_forget(fs, at.ino, 1);
	}
	return NULL;
}

START_TEST(test_threads)
{
	struct thr w[THR_WRITERS], r;
	pthread_t tw[THR_WRITERS], tr;
	int stop = 0;
	char name[32];
	uint64_t d;
	struct env e;
	int i, k;

	env_init(&e, &geoms[1], 32 * MiB, NULL);
	d = mkd(&e, ROOT, "shared");
	for (i = 0; i < THR_WRITERS; i++) {
		w[i] = (struct thr){ &e, d, i, 0, &stop };
		ck_assert_int_eq(pthread_create(&tw[i], NULL, thr_writer, &w[i]),
				 0);
	}
	r = (struct thr){ &e, d, 0, 0, &stop };
	ck_assert_int_eq(pthread_create(&tr, NULL, thr_reader, &r), 0);
	for (i = 0; i < THR_WRITERS; i++)
		pthread_join(tw[i], NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(tr, NULL);
	for (i = 0; i < THR_WRITERS; i++)
		ck_assert_int_eq(w[i].errors, 0);
	ck_assert_int_eq(r.errors, 0);

	/* what is left is exactly the even-numbered names */
	ck_assert_uint_eq(attr_of(&e, d).size, THR_WRITERS * THR_OPS / 2);
	ck_assert_uint_eq(nlinks(&e, d), 2 + THR_WRITERS * (THR_OPS / 10));
	for (i = 0; i < THR_WRITERS; i++) {
		for (k = 0; k < THR_OPS; k += 2) {
			snprintf(name, sizeof(name), "r%d-%d", i, k);
			ck_assert_int_eq(k % 5 == 0 ? fs_rmdir(e.fs, d, name) :
					 fs_unlink(e.fs, d, name), 0);
		}
	}
	ck_assert_int_eq(fs_rmdir(e.fs, ROOT, "shared"), 0);
	env_done_fsck(&e);
}
END_TEST

/* ---- attribute flags, shutdown, access times ------------------------------------ */

static const struct fs_flags_caller caller_root = {
	.uid = 0, .cap_linux_immutable = true, .cap_fowner = true,
};

static ssize_t put(struct env *e, uint64_t ino, uint64_t off, const char *s)
{
	struct iovec iov = { (void *)s, strlen(s) };

	return fs_write(e->fs, e->ctx, ino, off, &iov, 1);
}

static ssize_t get(struct env *e, uint64_t ino, uint64_t off, size_t n)
{
	char buf[64];
	struct iovec iov = { buf, n < sizeof(buf) ? n : sizeof(buf) };

	return fs_read(e->fs, e->ctx, ino, off, &iov, 1);
}

static int set_size(struct env *e, uint64_t ino, uint64_t size)
{
	struct fs_setattr sa = { .mask = FS_SET_SIZE, .size = size };
	struct fs_attr a;

	return fs_setattr(e->fs, e->ctx, ino, &sa, &a);
}

static int set_mode(struct env *e, uint64_t ino, mode_t mode)
{
	struct fs_setattr sa = { .mask = FS_SET_MODE, .mode = mode };
	struct fs_attr a;

	return fs_setattr(e->fs, NULL, ino, &sa, &a);
}

static int set_times_now(struct env *e, uint64_t ino)
{
	struct fs_setattr sa = {
		.mask = FS_SET_ATIME_NOW | FS_SET_MTIME_NOW,
	};
	struct fs_attr a;

	return fs_setattr(e->fs, NULL, ino, &sa, &a);
}

static void set_flags(struct env *e, uint64_t ino, uint32_t flags)
{
	uint32_t got;

	ck_assert_int_eq(fs_set_flags(e->fs, ino, flags, &caller_root), 0);
	ck_assert_int_eq(fs_get_flags(e->fs, ino, &got), 0);
	ck_assert_uint_eq(got, flags);
}

/* Every path fs.h rule 6 names, on an immutable and an append-only file
 * and directory; the flags outlive a remount. */
START_TEST(test_flags)
{
	const struct geom *g = &geoms[_i];
	const struct fs_flags_caller owner = { .uid = 1000 };
	const struct fs_flags_caller other = { .uid = 1001 };
	uint64_t d, f, a, x;
	struct fs_attr at;
	uint32_t flags;
	struct env e;

	env_init(&e, g, 32 * MiB, NULL);
	d = mkd(&e, ROOT, "d");
	f = mkf(&e, d, "f");
	a = mkf(&e, d, "a");
	x = mkf(&e, ROOT, "x");
	ck_assert_int_eq(put(&e, f, 0, "immutable"), 9);
	ck_assert_int_eq(put(&e, a, 0, "append"), 6);
	ck_assert_int_eq(fs_get_flags(e.fs, f, &flags), 0);
	ck_assert_uint_eq(flags, 0);

	/* unsupported flags, and who may set what */
	ck_assert_int_eq(fs_set_flags(e.fs, f, 0x4 /* FS_COMPR_FL */,
				      &caller_root), -EOPNOTSUPP);
	ck_assert_int_eq(fs_setxattr(e.fs, x, "user.k", "v", 1, 0), 0);
	{
		struct fs_setattr sa = { .mask = FS_SET_UID, .uid = 1000 };

		ck_assert_int_eq(fs_setattr(e.fs, NULL, x, &sa, &at), 0);
	}
	ck_assert_int_eq(fs_set_flags(e.fs, x, FS_FL_NODUMP | FS_FL_NOATIME,
				      &owner), 0);
	ck_assert_int_eq(fs_set_flags(e.fs, x, FS_FL_NODUMP, &other), -EPERM);
	ck_assert_int_eq(fs_set_flags(e.fs, x, FS_FL_IMMUTABLE, &owner),
			 -EPERM);
	ck_assert_int_eq(fs_set_flags(e.fs, x, FS_FL_APPEND, &owner), -EPERM);
	set_flags(&e, x, FS_FL_IMMUTABLE);
	/* an immutable inode's other flags wait until it is not */
	ck_assert_int_eq(fs_set_flags(e.fs, x, FS_FL_IMMUTABLE | FS_FL_NODUMP,
				      &caller_root), -EPERM);
	set_flags(&e, x, 0);

	/* immutable file */
	set_flags(&e, f, FS_FL_IMMUTABLE);
	ck_assert_int_eq(fs_open(e.fs, f, O_WRONLY), -EPERM);
	ck_assert_int_eq(fs_open(e.fs, f, O_RDONLY | O_TRUNC), -EPERM);
	ck_assert_int_eq(fs_open(e.fs, f, O_RDONLY), 0);
	fs_release(e.fs, f);
	ck_assert_int_eq(put(&e, f, 9, "x"), -EPERM);
	ck_assert_int_eq(get(&e, f, 0, 9), 9);
	ck_assert_int_eq(set_size(&e, f, 0), -EPERM);
	ck_assert_int_eq(set_mode(&e, f, 0600), -EPERM);
	ck_assert_int_eq(set_times_now(&e, f), -EPERM);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, f, 0, 0, 4096), -EPERM);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, f, FALLOC_FL_INSERT_RANGE,
				      0, g->fs_bs), -EPERM);
	ck_assert_int_eq(fs_setxattr(e.fs, f, "user.k", "v", 1, 0), -EPERM);
	ck_assert_int_eq(fs_unlink(e.fs, d, "f"), -EPERM);
	ck_assert_int_eq(fs_rename(e.fs, d, "f", d, "g", 0, NULL), -EPERM);
	ck_assert_int_eq(fs_rename(e.fs, d, "a", d, "f", 0, NULL), -EPERM);
	ck_assert_int_eq(fs_link(e.fs, f, d, "h", &at), -EPERM);
	ck_assert_int_eq(fs_copy_file_range(e.fs, e.ctx, a, 0, f, 0, 2),
			 -EPERM);

	/* append-only file */
	set_flags(&e, a, FS_FL_APPEND);
	ck_assert_int_eq(fs_open(e.fs, a, O_WRONLY), -EPERM);
	ck_assert_int_eq(fs_open(e.fs, a, O_WRONLY | O_APPEND | O_TRUNC),
			 -EPERM);
	ck_assert_int_eq(fs_open(e.fs, a, O_WRONLY | O_APPEND), 0);
	fs_release(e.fs, a);
	ck_assert_int_eq(put(&e, a, 0, "over"), -EPERM);
	ck_assert_int_eq(put(&e, a, 6, "ed"), 2);
	ck_assert_int_eq(set_size(&e, a, 2), -EPERM);
	ck_assert_int_eq(set_mode(&e, a, 0600), -EPERM);
	ck_assert_int_eq(set_times_now(&e, a), 0);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, a,
				      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      0, 4096), -EPERM);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, a, FALLOC_FL_KEEP_SIZE,
				      0, 65536), 0);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, a, FALLOC_FL_INSERT_RANGE,
				      0, g->fs_bs), -EPERM);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, a, FALLOC_FL_COLLAPSE_RANGE,
				      0, g->fs_bs), -EPERM);
	ck_assert_int_eq(fs_setxattr(e.fs, a, "user.k", "v", 1, 0), -EPERM);
	ck_assert_int_eq(fs_unlink(e.fs, d, "a"), -EPERM);
	ck_assert_int_eq(fs_link(e.fs, a, d, "h", &at), -EPERM);

	/* append-only directory: names come, none go */
	set_flags(&e, f, 0);
	set_flags(&e, d, FS_FL_APPEND);
	mkf(&e, d, "new");
	ck_assert_int_eq(fs_unlink(e.fs, d, "new"), -EPERM);
	ck_assert_int_eq(fs_rename(e.fs, d, "new", ROOT, "moved", 0, NULL), -EPERM);
	ck_assert_int_eq(fs_rename(e.fs, ROOT, "x", d, "x", 0, NULL), 0);
	ck_assert_int_eq(fs_rename(e.fs, ROOT, "d", ROOT, "e", 0, NULL), -EPERM);

	/* immutable directory: neither */
	set_flags(&e, d, FS_FL_IMMUTABLE);
	ck_assert_int_eq(mk_mode(&e, d, "no", S_IFREG | 0644, NULL), -EPERM);
	ck_assert_int_eq(mk_mode(&e, d, "no", S_IFDIR | 0755, NULL), -EPERM);
	ck_assert_int_eq(fs_symlink(e.fs, d, "no", "t", &cred0, &at), -EPERM);
	ck_assert_int_eq(fs_link(e.fs, f, d, "no", &at), -EPERM);
	ck_assert_int_eq(fs_unlink(e.fs, d, "f"), -EPERM);
	ck_assert_int_eq(fs_rename(e.fs, d, "f", d, "g", 0, NULL), -EPERM);
	ck_assert_int_eq(put(&e, f, 9, "!"), 1);	/* its files are not */

	/* the flags are on the device */
	env_remount(&e);
	ck_assert_int_eq(fs_get_flags(e.fs, d, &flags), 0);
	ck_assert_uint_eq(flags, FS_FL_IMMUTABLE);
	ck_assert_int_eq(fs_get_flags(e.fs, a, &flags), 0);
	ck_assert_uint_eq(flags, FS_FL_APPEND);
	set_flags(&e, d, 0);
	set_flags(&e, a, 0);
	ck_assert_int_eq(fs_unlink(e.fs, d, "a"), 0);
	env_done_fsck(&e);
}
END_TEST

/* After each kind of shutdown: -EIO everywhere, not one more device
 * write, a clean unmount; the next mount replays the journal, and keeps
 * what the kind promised. */
START_TEST(test_shutdown)
{
	static const enum fs_shutdown_how hows[] = {
		FS_SHUTDOWN_FULLSYNC, FS_SHUTDOWN_METAFLUSH, FS_SHUTDOWN_NOSYNC,
	};
	enum fs_shutdown_how how = hows[_i % 3];
	const struct geom *g = &geoms[_i / 3];
	struct statvfs sv;
	struct fs_attr at;
	uint64_t f, u, ino;
	size_t writes;
	struct env e;

	env_init(&e, g, 32 * MiB, NULL);
	f = mkf(&e, ROOT, "synced");
	ck_assert_int_eq(put(&e, f, 0, "durable"), 7);
	ck_assert_int_eq(fs_fsync(e.fs, f, false), 0);
	u = mkf(&e, ROOT, "unsynced");
	ck_assert_int_eq(put(&e, u, 0, "maybe"), 5);

	ck_assert_int_eq(fs_shutdown(e.fs, how), 0);
	writes = bdev_test_log_count(e.bdev);
	ck_assert(fs_is_shut_down(e.fs));
	ck_assert_int_eq(fs_shutdown(e.fs, how), 0);
	ck_assert_int_eq(fs_lookup(e.fs, ROOT, "synced", &at), -EIO);
	ck_assert_int_eq(fs_getattr(e.fs, f, &at), -EIO);
	ck_assert_int_eq(get(&e, f, 0, 7), -EIO);
	ck_assert_int_eq(put(&e, f, 0, "x"), -EIO);
	ck_assert_int_eq(mk_mode(&e, ROOT, "n", S_IFREG | 0644, NULL), -EIO);
	ck_assert_int_eq(fs_unlink(e.fs, ROOT, "synced"), -EIO);
	ck_assert_int_eq(fs_open(e.fs, f, O_RDONLY), -EIO);
	ck_assert_int_eq(fs_statfs(e.fs, &sv), -EIO);
	ck_assert_int_eq(fs_fsync(e.fs, f, false), -EIO);
	ck_assert_int_eq(fs_sync(e.fs), -EIO);
	ck_assert_int_eq(fs_set_flags(e.fs, f, 0, &caller_root), -EIO);
	ck_assert_uint_eq(bdev_test_log_count(e.bdev), writes);
	dio_ctx_destroy(e.ctx);
	e.ctx = NULL;
	ck_assert_int_eq(fs_unmount(e.fs), 0);
	e.fs = NULL;
	ck_assert_uint_eq(bdev_test_log_count(e.bdev), writes);

	env_mount(&e);
	ck_assert_int_eq(lk(&e, ROOT, "synced", &ino), 0);
	ck_assert_int_eq(get(&e, ino, 0, 64), 7);
	if (how != FS_SHUTDOWN_NOSYNC) {
		ck_assert_int_eq(lk(&e, ROOT, "unsynced", &ino), 0);
		ck_assert_int_eq(get(&e, ino, 0, 64), 5);
	}
	env_done_fsck(&e);
}
END_TEST

static struct timespec atime_of(struct env *e, uint64_t ino)
{
	return attr_of(e, ino).atime;
}

/* atime, and mtime and ctime both mtime. */
static void set_times(struct env *e, uint64_t ino, time_t atime,
		      time_t mtime)
{
	struct fs_setattr sa = {
		.mask = FS_SET_ATIME | FS_SET_MTIME | FS_SET_CTIME,
		.atime = { atime, 0 }, .mtime = { mtime, 0 },
		.ctime = { mtime, 0 },
	};
	struct fs_attr a;

	ck_assert_int_eq(fs_setattr(e->fs, NULL, ino, &sa, &a), 0);
}

static int count_entries(void *arg, const char *name, uint64_t ino,
			 mode_t type, uint64_t next_cookie)
{
	(*(int *)arg)++;
	return 0;
}

/* relatime, strictatime, noatime, nodiratime and the NOATIME flag, with
 * fs_atime_due() in each; a read never writes to the device, and the new
 * atime survives a remount. */
START_TEST(test_atime)
{
	const struct geom *g = &geoms[1];
	time_t now = time(NULL), hour = 3600;
	struct timespec t;
	uint64_t f, d, writes;
	struct env e;
	int n = 0;

	env_init(&e, g, 32 * MiB, NULL);
	f = mkf(&e, ROOT, "f");
	d = mkd(&e, ROOT, "d");
	ck_assert_int_eq(put(&e, f, 0, "data"), 4);
	ck_assert_int_eq(fs_sync(e.fs), 0);

	/* relatime: atime older than mtime moves once (fs_atime_due()
	 * says so beforehand, and not after) */
	set_times(&e, f, now - 3 * hour, now - 2 * hour);
	ck_assert_int_eq(fs_fsync(e.fs, f, false), 0);
	writes = bdev_test_log_count(e.bdev);
	ck_assert(fs_atime_due(e.fs, f));
	ck_assert_int_eq(get(&e, f, 0, 4), 4);
	ck_assert(!fs_atime_due(e.fs, f));
	ck_assert_uint_eq(bdev_test_log_count(e.bdev), writes);
	t = atime_of(&e, f);
	ck_assert_int_ge(t.tv_sec, now);
	ck_assert_int_eq(get(&e, f, 0, 4), 4);
	ck_assert_int_eq(atime_of(&e, f).tv_sec, t.tv_sec);
	ck_assert_int_eq(atime_of(&e, f).tv_nsec, t.tv_nsec);
	/* newer than mtime and ctime but a day old: moves */
	set_times(&e, f, now - 30 * hour, now - 40 * hour);
	ck_assert(fs_atime_due(e.fs, f));
	ck_assert_int_eq(get(&e, f, 0, 4), 4);
	ck_assert_int_ge(atime_of(&e, f).tv_sec, now);
	/* newer than mtime and ctime, less than a day old: stays */
	set_times(&e, f, now - hour, now - 2 * hour);
	ck_assert(!fs_atime_due(e.fs, f));
	ck_assert_int_eq(get(&e, f, 0, 4), 4);
	ck_assert_int_eq(atime_of(&e, f).tv_sec, now - hour);
	/* the directory's too */
	set_times(&e, d, now - 3 * hour, now - 2 * hour);
	ck_assert_int_eq(fs_readdir(e.fs, d, 0, count_entries, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_ge(atime_of(&e, d).tv_sec, now);
	/* NOATIME flag */
	set_times(&e, f, now - 3 * hour, now - 2 * hour);
	set_flags(&e, f, FS_FL_NOATIME);
	ck_assert(!fs_atime_due(e.fs, f));
	ck_assert_int_eq(get(&e, f, 0, 4), 4);
	ck_assert_int_eq(atime_of(&e, f).tv_sec, now - 3 * hour);
	set_flags(&e, f, 0);
	/* the new atime reaches the disk */
	ck_assert_int_eq(get(&e, f, 0, 4), 4);
	t = atime_of(&e, f);
	env_remount(&e);
	ck_assert_int_eq(atime_of(&e, f).tv_sec, t.tv_sec);

	/* strictatime: every read, once the clock has moved */
	e.atime = FS_ATIME_STRICT;
	env_remount(&e);
	set_times(&e, f, now - hour, now - 2 * hour);
	ck_assert(fs_atime_due(e.fs, f));
	ck_assert_int_eq(get(&e, f, 0, 4), 4);
	ck_assert_int_ge(atime_of(&e, f).tv_sec, now);

	/* noatime, nodiratime */
	e.atime = FS_ATIME_NEVER;
	env_remount(&e);
	set_times(&e, f, now - 3 * hour, now - 2 * hour);
	ck_assert(!fs_atime_due(e.fs, f));
	ck_assert_int_eq(get(&e, f, 0, 4), 4);
	ck_assert_int_eq(atime_of(&e, f).tv_sec, now - 3 * hour);
	e.atime = FS_ATIME_RELATIME;
	e.nodiratime = true;
	env_remount(&e);
	set_times(&e, d, now - 3 * hour, now - 2 * hour);
	ck_assert_int_eq(fs_readdir(e.fs, d, 0, count_entries, &n), 0);
	ck_assert_int_eq(atime_of(&e, d).tv_sec, now - 3 * hour);
	ck_assert_int_eq(get(&e, f, 0, 4), 4);
	ck_assert_int_ge(atime_of(&e, f).tv_sec, now);
	env_done_fsck(&e);
}
END_TEST

static Suite *namei_suite(void)
{
	Suite *s = suite_create("namei");
	TCase *tc;

	tc = tcase_create("dirs");
	tcase_set_timeout(tc, CASE_TIMEOUT);
	tcase_add_loop_test(tc, test_basic, 0, NGEOMS);
	tcase_add_test(tc, test_nametoolong);
	tcase_add_test(tc, test_owner_mode);
	tcase_add_loop_test(tc, test_links, 0, NGEOMS);
	tcase_add_loop_test(tc, test_unlink_open, 0, NGEOMS);
	suite_add_tcase(s, tc);

	tc = tcase_create("rename");
	tcase_set_timeout(tc, CASE_TIMEOUT);
	tcase_add_loop_test(tc, test_rename, 0, NGEOMS);
	tcase_add_test(tc, test_rename_over_open);
	tcase_add_loop_test(tc, test_rename_whiteout, 0, NGEOMS);
	suite_add_tcase(s, tc);

	tc = tcase_create("symlink");
	tcase_set_timeout(tc, CASE_TIMEOUT);
	tcase_add_loop_test(tc, test_symlink, 0, NGEOMS);
	tcase_add_loop_test(tc, test_symlink_unnamed_first, 0, NGEOMS);
	suite_add_tcase(s, tc);

	tc = tcase_create("xattr");
	tcase_set_timeout(tc, CASE_TIMEOUT);
	tcase_add_loop_test(tc, test_xattr, 0, NGEOMS);
	tcase_add_loop_test(tc, test_xattr_large, 0, NGEOMS);
	tcase_add_test(tc, test_xattr_feature);
	tcase_add_loop_test(tc, test_xattr_corrupt, 0, NGEOMS);
	tcase_add_loop_test(tc, test_xattr_list_limit, 0, NGEOMS);
	tcase_add_test(tc, test_xattr_nospc);
	suite_add_tcase(s, tc);

	tc = tcase_create("flags");
	tcase_set_timeout(tc, CASE_TIMEOUT);
	tcase_add_loop_test(tc, test_flags, 0, NGEOMS);
	tcase_add_loop_test(tc, test_shutdown, 0, 3 * NGEOMS);
	tcase_add_test(tc, test_atime);
	suite_add_tcase(s, tc);

	tc = tcase_create("collisions");
	tcase_set_timeout(tc, CASE_TIMEOUT);
	tcase_add_test(tc, test_collisions);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_set_timeout(tc, CASE_TIMEOUT);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);

	tc = tcase_create("big");
	tcase_set_timeout(tc, CASE_TIMEOUT);
	tcase_add_test(tc, test_big_dir);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(namei_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
