/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_fsck: Check suite for the filesystem checker (src/fsck/checker.h).
 *
 * Each case formats an in-memory test device, mounts it with
 * fs_mount_bdev() and builds a small tree through fs.h (mkdir, mknod,
 * link, symlink, write, fallocate, setxattr), unmounts, and runs
 * fsck_run() on the device: it must find nothing.  Then one kind of damage is injected directly into the
 * device's bytes, with the block's checksum restamped where the damage is
 * meant to be logical rather than a torn block; damage that fs.h cannot
 * make (a second entry for a directory, a dangling entry) is made with
 * the engine's lower layers (dir_add, dir_remove).  A report-only run must
 * find it and change nothing; a repairing run must repair it, leave
 * nothing behind, and a fresh report-only run must find nothing.  Cases
 * whose repair changes an inode's trees add a file of many extents or a
 * directory of many entries, so that those trees have several nodes.
 *
 * Rules:
 *  1. Cases run over three of fsenv.h's geometries (fsck_geoms): fs
 *     blocks of 1 KiB, 4 KiB and 64 KiB on 512-byte and 4 KiB device
 *     sectors.
 *  2. A report-only run leaves every byte of the device as it was.
 *  3. After a repair the filesystem mounts and the files that were not
 *     damaged read back as written.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diofs/bdev.h"
#include "diofs/codec.h"
#include "diofs/crc.h"
#include "diofs/dio.h"
#include "diofs/fs.h"
#include "diofs/inode.h"
#include "diofs/super.h"
#include "checker.h"

/* The superblock as the device holds it, and the tree every case starts
 * from (env_init_tree). */
#define ENV_EXTRA			\
	struct super sb;		\
	uint64_t dir, sub, a, b, big, pre, x;
#include "fsenv.h"

#define DEV_SIZE (48 * MiB)

/* Rule 1: each block size once, each sector size at least once. */
static const struct geom *const fsck_geoms[] = {
	&geoms[0],	/* 1 KiB on 512 */
	&geoms[2],	/* 4 KiB on 4 KiB */
	&geoms[3],	/* 64 KiB on 512 */
};
#define NFSCK_GEOMS ((int)(sizeof(fsck_geoms) / sizeof(fsck_geoms[0])))

/* ---- the engine side -------------------------------------------------------- */

static const struct fs_cred cred = { 0, 0, 022 };

/* A new file or directory named name in directory parent. */
static uint64_t mknode(struct env *e, uint64_t parent, const char *name,
		       mode_t mode)
{
	struct fs_attr a;
	int err;

	if (S_ISDIR(mode))
		err = fs_mkdir(e->fs, parent, name, mode, &cred, &a);
	else
		err = fs_mknod(e->fs, parent, name, mode, 0, &cred, &a);
	ck_assert_msg(err == 0, "%s: create %s: %d", where, name, err);
	fs_forget(e->fs, a.ino, 1);
	return a.ino;
}

static void mklink(struct env *e, uint64_t ino, uint64_t parent,
		   const char *name)
{
	struct fs_attr a;

	ck_assert_int_eq(fs_link(e->fs, ino, parent, name, &a), 0);
	fs_forget(e->fs, a.ino, 1);
}

static void mksymlink(struct env *e, uint64_t parent, const char *name,
		      const char *target)
{
	struct fs_attr a;

	ck_assert_int_eq(fs_symlink(e->fs, parent, name, target, &cred, &a), 0);
	fs_forget(e->fs, a.ino, 1);
}

static unsigned char pat(uint64_t ino, uint64_t off)
{
	return (unsigned char)(ino * 31 + off * 7 + 1);
}

static void write_pat(struct env *e, uint64_t ino, uint64_t off, size_t len)
{
	unsigned char *buf = xalloc(len);
	struct iovec iov = { buf, len };
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pat(ino, off + i);
	ck_assert_int_eq(fs_write(e->fs, e->ctx, ino, off, &iov, 1),
			 (ssize_t)len);
	bdev_test_log_clear(e->bdev);
	free(buf);
}

static void expect_pat(struct env *e, uint64_t ino, uint64_t off, size_t len)
{
	unsigned char *buf = xalloc(len);
	struct iovec iov = { buf, len };
	size_t i;

	ck_assert_int_eq(fs_read(e->fs, e->ctx, ino, off, &iov, 1),
			 (ssize_t)len);
	for (i = 0; i < len; i++)
		ck_assert_msg(buf[i] == pat(ino, off + i),
			      "%s: inode %" PRIu64 " byte %" PRIu64 " differs",
			      where, ino, off + i);
	free(buf);
}

/*
 * Format, mount, and build through fs.h:
 *   /d/           a directory
 *   /d/s/         a subdirectory
 *   /d/s/x        an empty file with more attributes than fit inline
 *   /a            3 blocks of data, also named /d/a2
 *   /d/b          2 blocks of data
 *   /big          every other block of 40: more extents than fit inline
 *   /pre          1 block, and 4 preallocated past its end (KEEP_SIZE)
 *   /short, /long symbolic links: inline, and in a data block
 * then unmount.
 */
static void env_init_tree(struct env *e, const struct geom *g)
{
	char msg[256] = "", target[301], attr[32], val[150];
	uint64_t i;

	env_init(e, g, DEV_SIZE, NULL);
	e->dir = mknode(e, DIOFS_ROOT_INO, "d", S_IFDIR | 0755);
	e->sub = mknode(e, e->dir, "s", S_IFDIR | 0755);
	e->a = mknode(e, DIOFS_ROOT_INO, "a", S_IFREG | 0644);
	mklink(e, e->a, e->dir, "a2");
	e->b = mknode(e, e->dir, "b", S_IFREG | 0644);
	e->big = mknode(e, DIOFS_ROOT_INO, "big", S_IFREG | 0644);
	e->pre = mknode(e, DIOFS_ROOT_INO, "pre", S_IFREG | 0644);
	write_pat(e, e->a, 0, 3 * e->bs);
	write_pat(e, e->b, 0, 2 * e->bs);
	for (i = 0; i < 40; i += 2)
		write_pat(e, e->big, i * e->bs, e->bs);
	write_pat(e, e->pre, 0, e->bs);
	ck_assert_int_eq(fs_fallocate(e->fs, e->ctx, e->pre,
				      FALLOC_FL_KEEP_SIZE, e->bs, 4 * e->bs), 0);
	mksymlink(e, DIOFS_ROOT_INO, "short", "d/b");
	memset(target, 'x', sizeof(target) - 1);
	target[sizeof(target) - 1] = '\0';
	mksymlink(e, DIOFS_ROOT_INO, "long", target);
	e->x = mknode(e, e->sub, "x", S_IFREG | 0644);
	memset(val, 'v', sizeof(val));
	for (i = 0; i < 12; i++) {
		snprintf(attr, sizeof(attr), "user.attr%" PRIu64, i);
		ck_assert_int_eq(fs_setxattr(e->fs, e->x, attr, val,
					     sizeof(val), 0), 0);
	}
	env_unmount(e);
	ck_assert_int_eq(super_read(e->bdev, &e->sb, msg, sizeof(msg)), 0);
}

/* ---- running the checker --------------------------------------------------------- */

struct run {
	struct fsck_result res;
	char *out;		/* what it printed */
	size_t outlen;
};

static void run_free(struct run *r)
{
	free(r->out);
	r->out = NULL;
}

static void run_fsck(struct env *e, int repair, struct run *r)
{
	struct fsck_opts o = { .repair = repair };
	unsigned char *before = NULL;
	int err;

	o.out = open_memstream(&r->out, &r->outlen);
	ck_assert_ptr_nonnull(o.out);
	if (!repair) {
		before = xalloc(DEV_SIZE);
		memcpy(before, bdev_test_data(e->bdev), DEV_SIZE);
	}
	err = fsck_run(e->bdev, &o, &r->res);
	fclose(o.out);
	ck_assert_msg(err == 0, "%s: fsck_run: %d %s", where, err, r->res.msg);
	if (before) {
		/* Rule 2. */
		ck_assert_msg(!memcmp(before, bdev_test_data(e->bdev), DEV_SIZE),
			      "%s: a report-only run changed the device", where);
		free(before);
	}
}

static void expect_clean(struct env *e)
{
	struct run r = { 0 };

	run_fsck(e, 0, &r);
	ck_assert_msg(r.res.found == 0, "%s: fsck finds problems:\n%s", where,
		      r.out);
	run_free(&r);
}

/*
 * The damage must be found without repair (each of the patterns in want,
 * NULL-terminated, printed), then repaired with nothing left, then a
 * fresh check must be clean.
 */
static void expect_repair(struct env *e, const char *const *want)
{
	struct run r = { 0 };
	size_t i;

	run_fsck(e, 0, &r);
	ck_assert_msg(r.res.found > 0 && r.res.left == r.res.found &&
		      r.res.fixed == 0,
		      "%s: report-only run: found %" PRIu64 " left %" PRIu64 ":\n%s",
		      where, r.res.found, r.res.left, r.out);
	for (i = 0; want[i]; i++)
		ck_assert_msg(strstr(r.out, want[i]), "%s: no \"%s\" in:\n%s",
			      where, want[i], r.out);
	run_free(&r);

	run_fsck(e, 1, &r);
	ck_assert_msg(r.res.fixed > 0 && r.res.left == 0,
		      "%s: repair: found %" PRIu64 " fixed %" PRIu64 " left %" PRIu64 ":\n%s",
		      where, r.res.found, r.res.fixed, r.res.left, r.out);
	run_free(&r);
	expect_clean(e);
}

/* ---- injecting damage --------------------------------------------------------------- */

static uint8_t *block_of(struct env *e, uint64_t blkno)
{
	return bdev_test_data(e->bdev) + blkno * e->bs;
}

/* Restamp a metadata block after a change, so only the change is wrong. */
static void restamp(struct env *e, uint64_t blkno)
{
	const struct diofs_blkhdr *h = (const void *)block_of(e, blkno);

	blkhdr_stamp(block_of(e, blkno), e->bs, le32toh(h->magic), blkno,
		     e->sb.uuid);
}

static struct diofs_inode *slot_of(struct env *e, uint64_t ino,
				   uint64_t *blkno)
{
	uint32_t off;

	ck_assert_int_eq(super_inode_loc(&e->sb, ino, blkno, &off), 0);
	return (struct diofs_inode *)(block_of(e, *blkno) + off);
}

static void set_bit(uint8_t *map, uint64_t bit, int one)
{
	if (one)
		map[bit / 8] |= (uint8_t)(1u << (bit % 8));
	else
		map[bit / 8] &= (uint8_t)~(1u << (bit % 8));
}

/*
 * The value of key in the B+tree at root, as the device holds it; *leaf
 * gets the leaf's block, to restamp.  btree.c's layout: a 16-byte node
 * header after the block header (le16 level, le16 nr), then 12-byte leaf
 * slots (le64 key, le16 value offset, le16 length) or 16-byte children
 * (le64 key, le64 block); offsets count from the node header.
 */
static uint8_t *tree_value(struct env *e, uint64_t root, uint64_t key,
			   uint64_t *leaf)
{
	uint64_t blk = root;
	uint8_t *body, *ent;
	unsigned level, nr, i, pick;

	for (;;) {
		body = block_of(e, blk) + sizeof(struct diofs_blkhdr);
		level = le16toh(*(le16 *)body);
		nr = le16toh(*(le16 *)(body + 2));
		if (!level)
			break;
		/* Child i holds the keys from its key on; child 0 all below. */
		for (pick = 0, i = 1; i < nr; i++)
			if (le64toh(*(le64 *)(body + 16 + 16 * i)) <= key)
				pick = i;
		blk = le64toh(*(le64 *)(body + 16 + 16 * pick + 8));
	}
	for (i = 0; i < nr; i++) {
		ent = body + 16 + 12 * i;
		if (le64toh(*(le64 *)ent) == key) {
			*leaf = blk;
			return body + le16toh(*(le16 *)(ent + 8));
		}
	}
	ck_abort_msg("%s: no key %" PRIu64 " in the tree at %" PRIu64, where,
		     key, root);
	return NULL;
}

/* A leaf of the tree at root that is not the root itself. */
static uint64_t tree_some_leaf(struct env *e, uint64_t root)
{
	uint64_t blk = root;
	uint8_t *body;

	for (;;) {
		body = block_of(e, blk) + sizeof(struct diofs_blkhdr);
		if (!le16toh(*(le16 *)body))
			break;
		/* Child 1: a node has two children at least. */
		blk = le64toh(*(le64 *)(body + 16 + 16 + 8));
	}
	ck_assert_msg(blk != root, "%s: the tree at %" PRIu64 " is one leaf",
		      where, root);
	return blk;
}

/* ---- cases ---------------------------------------------------------------------------- */

START_TEST(t_clean)
{
	struct env e;
	struct run r = { 0 };

	env_init_tree(&e, fsck_geoms[_i]);
	expect_clean(&e);
	/* A repairing run of a clean filesystem changes nothing. */
	run_fsck(&e, 1, &r);
	ck_assert_msg(r.res.found == 0 && r.res.fixed == 0, "%s:\n%s", where,
		      r.out);
	run_free(&r);
	env_done(&e);
}
END_TEST

/* checker.h rule 5: what the progress callback hears. */
struct prog_log {
	int pass[4096];
	uint64_t done[4096], total[4096];
	size_t n;
};

static void prog_record(void *arg, int pass, uint64_t done, uint64_t total)
{
	struct prog_log *l = arg;

	ck_assert_uint_lt(l->n, 4096);
	l->pass[l->n] = pass;
	l->done[l->n] = done;
	l->total[l->n] = total;
	l->n++;
}

START_TEST(t_progress)
{
	struct prog_log *l = xalloc(sizeof(*l));
	struct fsck_opts o = { .progress = prog_record };
	struct fsck_result res;
	struct env e;
	struct run r = { 0 };
	char *out = NULL;
	size_t outlen = 0, i, passes = 0;

	memset(l, 0, sizeof(*l));
	o.progress_arg = l;
	env_init_tree(&e, fsck_geoms[_i]);
	o.out = open_memstream(&out, &outlen);
	ck_assert_ptr_nonnull(o.out);
	ck_assert_int_eq(fsck_run(e.bdev, &o, &res), 0);
	fclose(o.out);
	/* The lines on out are those of a run without the callback. */
	run_fsck(&e, 0, &r);
	ck_assert_str_eq(out, r.out);
	run_free(&r);
	free(out);

	ck_assert_uint_gt(l->n, 0);
	for (i = 0; i < l->n; i++) {
		ck_assert_uint_le(l->done[i], l->total[i]);
		if (i == 0 || l->pass[i] != l->pass[i - 1]) {
			/* a pass starts at 0, after the last one ended */
			ck_assert_uint_eq(l->done[i], 0);
			if (i)
				ck_assert_int_gt(l->pass[i], l->pass[i - 1]);
			passes++;
		} else {
			ck_assert_uint_eq(l->total[i], l->total[i - 1]);
			ck_assert_uint_gt(l->done[i], l->done[i - 1]);
		}
		if (i + 1 == l->n || l->pass[i + 1] != l->pass[i])
			ck_assert_uint_eq(l->done[i], l->total[i]);
	}
	ck_assert_uint_eq(passes, 3);
	ck_assert_int_eq(l->pass[0], FSCK_PASS_INODES);
	ck_assert_int_eq(l->pass[l->n - 1], FSCK_PASS_GROUPS);
	ck_assert_uint_eq(l->total[0], e.sb.group_count);
	free(l);
	env_done(&e);
}
END_TEST

START_TEST(t_double_owner)
{
	const char *const want[] = { "also used by inode", NULL };
	struct env e;
	struct diofs_inode *da, *db;
	uint64_t blk, blk2, a_pblk, b_pblk;

	env_init_tree(&e, fsck_geoms[_i]);
	/* b's first extent now points at a's blocks. */
	da = slot_of(&e, e.a, &blk);
	db = slot_of(&e, e.b, &blk2);
	ck_assert_int_eq(le16toh(da->nr_extents), 1);
	ck_assert_int_eq(le16toh(db->nr_extents), 1);
	a_pblk = le64toh(da->ext[0].pblk);
	b_pblk = le64toh(db->ext[0].pblk);
	db->ext[0].pblk = htole64(a_pblk);
	restamp(&e, blk2);
	expect_repair(&e, want);

	/* b holds a copy of what it pointed at, in blocks of its own. */
	db = slot_of(&e, e.b, &blk2);
	ck_assert_uint_ne(le64toh(db->ext[0].pblk), a_pblk);
	ck_assert_uint_ne(le64toh(db->ext[0].pblk), 0);
	ck_assert(!memcmp(block_of(&e, le64toh(db->ext[0].pblk)),
			  block_of(&e, a_pblk), 2 * e.bs));
	(void)b_pblk;
	env_mount(&e);
	expect_pat(&e, e.a, 0, 3 * e.bs);
	env_done(&e);
}
END_TEST

/*
 * With no room to copy a doubly-claimed extent to, the repair removes it.
 * What the file held follows silently, as for any extent removed: the
 * repair says no more than a check without repair.
 */
START_TEST(t_no_room_to_copy)
{
	struct env e;
	struct run r = { 0 };
	struct diofs_inode *d;
	uint64_t fill, blk, a_pblk, off = 0, chunk;
	int err;

	env_init_tree(&e, fsck_geoms[_i]);
	env_mount(&e);
	fill = mknode(&e, DIOFS_ROOT_INO, "fill", S_IFREG | 0644);
	for (chunk = MiB; chunk >= e.bs; chunk /= 2) {
		do {
			err = fs_fallocate(e.fs, e.ctx, fill, 0, off, chunk);
			off += chunk;
		} while (!err);
		ck_assert_int_eq(err, -ENOSPC);
		off -= chunk;
	}
	ck_assert_uint_eq(free_blocks(&e), 0);
	env_unmount(&e);
	/* b maps all 3 blocks of a; only its own 2 become free. */
	a_pblk = le64toh(slot_of(&e, e.a, &blk)->ext[0].pblk);
	d = slot_of(&e, e.b, &blk);
	d->ext[0].pblk = htole64(a_pblk);
	d->ext[0].len = htole32(3);
	d->size = htole64(3 * e.bs);
	d->blocks = htole64(3);
	restamp(&e, blk);

	run_fsck(&e, 0, &r);
	ck_assert_msg(r.res.found > 0 && strstr(r.out, "also used by inode"),
		      "%s:\n%s", where, r.out);
	run_free(&r);
	run_fsck(&e, 1, &r);
	ck_assert_msg(strstr(r.out, "removed (no free run") &&
		      !strstr(r.out, "says it holds") && r.res.left == 0,
		      "%s:\n%s", where, r.out);
	run_free(&r);
	expect_clean(&e);
	env_mount(&e);
	expect_pat(&e, e.a, 0, 3 * e.bs);
	ck_assert_uint_eq(attr_of(&e, e.b).blocks, 0);
	env_done(&e);
}
END_TEST

START_TEST(t_link_count)
{
	const char *const want[] = { "link count 7, but 2 found", NULL };
	struct env e;
	struct diofs_inode *d;
	struct fs_attr a;
	uint64_t blk;

	env_init_tree(&e, fsck_geoms[_i]);
	d = slot_of(&e, e.a, &blk);
	ck_assert_int_eq(le32toh(d->links), 2);
	d->links = htole32(7);
	restamp(&e, blk);
	expect_repair(&e, want);
	env_mount(&e);
	ck_assert_int_eq(fs_getattr(e.fs, e.a, &a), 0);
	ck_assert_int_eq(a.nlink, 2);
	expect_pat(&e, e.a, 0, 3 * e.bs);
	env_done(&e);
}
END_TEST

/* The attribute flags are no problem; a bit nobody knows is cleared, and
 * only that bit. */
START_TEST(t_inode_flags)
{
	const char *const want[] = { "unknown flags 0x100", NULL };
	const struct fs_flags_caller root = {
		.uid = 0, .cap_linux_immutable = true, .cap_fowner = true,
	};
	const uint32_t all = FS_FL_IMMUTABLE | FS_FL_APPEND | FS_FL_NODUMP |
			     FS_FL_NOATIME;
	struct diofs_inode *d;
	uint32_t flags;
	uint64_t blk;
	struct env e;

	env_init_tree(&e, fsck_geoms[_i]);
	env_mount(&e);
	ck_assert_int_eq(fs_set_flags(e.fs, e.a, all, &root), 0);
	env_unmount(&e);
	expect_clean(&e);
	d = slot_of(&e, e.a, &blk);
	ck_assert_uint_eq(le32toh(d->flags), all);
	d->flags = htole32(all | 0x100);
	restamp(&e, blk);
	expect_repair(&e, want);
	env_mount(&e);
	ck_assert_int_eq(fs_get_flags(e.fs, e.a, &flags), 0);
	ck_assert_uint_eq(flags, all);
	expect_pat(&e, e.a, 0, 3 * e.bs);
	env_done(&e);
}
END_TEST

START_TEST(t_dangling_entry)
{
	const char *const want[] = { "entry \"ghost\" names inode", NULL };
	struct env e;
	struct inode *dp;
	struct txn *t;
	uint64_t ino;
	int err;

	env_init_tree(&e, fsck_geoms[_i]);
	env_mount(&e);
	ck_assert_int_eq(inode_get(e.fs, e.dir, &dp), 0);
	ck_assert_int_eq(fs_txn_begin(e.fs, &t), 0);
	err = inode_join(t, dp);
	if (!err)
		err = dir_add(t, dp, "ghost", 5, e.sb.first_ino + 100,
			      DIOFS_FT_REG);
	if (!err)
		err = inode_write(t, dp);
	ck_assert_int_eq(fs_txn_end(e.fs, t, err), 0);
	ck_assert_int_eq(err, 0);
	inode_put(dp);
	env_unmount(&e);

	expect_repair(&e, want);
	env_mount(&e);
	ck_assert_int_eq(inode_get(e.fs, e.dir, &dp), 0);
	ck_assert_int_eq(dir_lookup(dp, "ghost", 5, &ino, NULL), -ENOENT);
	ck_assert_int_eq(dir_lookup(dp, "b", 1, &ino, NULL), 0);
	ck_assert_uint_eq(ino, e.b);
	inode_put(dp);
	expect_pat(&e, e.b, 0, 2 * e.bs);
	env_done(&e);
}
END_TEST

START_TEST(t_bitmap_bit)
{
	const char *const want[] = { "block bitmap marks 1 blocks in use as free",
				     NULL };
	struct env e;
	struct diofs_inode *d;
	uint64_t blk, pblk, g, first;

	env_init_tree(&e, fsck_geoms[_i]);
	d = slot_of(&e, e.b, &blk);
	pblk = le64toh(d->ext[0].pblk);
	g = super_group_of(&e.sb, pblk);
	first = super_group_first(&e.sb, g);
	set_bit(block_of(&e, first) + sizeof(struct diofs_blkhdr),
		pblk - first, 0);
	restamp(&e, first);
	expect_repair(&e, want);
	ck_assert(block_of(&e, first)[sizeof(struct diofs_blkhdr) +
				      (pblk - first) / 8] &
		  (1u << ((pblk - first) % 8)));
	env_done(&e);
}
END_TEST

START_TEST(t_torn_blocks)
{
	const char *const want_it[] = { "inode-table block", "is corrupt", NULL };
	const char *const want_bb[] = { "block bitmap", "is corrupt", NULL };
	const char *const want_sb[] = { "primary superblock", NULL };
	const char *const want_gd[] = { "group descriptor block", NULL };
	struct env e;
	uint64_t blk, first;

	env_init_tree(&e, fsck_geoms[_i]);
	/* A flipped byte in a's inode-table block, outside any inode. */
	slot_of(&e, e.a, &blk);
	block_of(&e, blk)[e.bs - 1] ^= 0x40;
	expect_repair(&e, want_it);

	first = super_group_first(&e.sb, 0);
	block_of(&e, first)[e.bs - 3] ^= 0x01;
	expect_repair(&e, want_bb);

	block_of(&e, 0)[300] ^= 0x10;
	expect_repair(&e, want_sb);

	block_of(&e, e.sb.gdt_start)[e.bs - 1] ^= 0x08;
	expect_repair(&e, want_gd);

	env_mount(&e);
	expect_pat(&e, e.a, 0, 3 * e.bs);
	expect_pat(&e, e.b, 0, 2 * e.bs);
	env_done(&e);
}
END_TEST

START_TEST(t_unreachable)
{
	const char *const want[] = { "cannot be reached from the root", NULL };
	struct env e;
	struct inode *dp, *ip;
	struct txn *t;
	uint64_t lf, ino;
	char name[32];
	int err;

	env_init_tree(&e, fsck_geoms[_i]);
	/* Drop /d's entry (and the link it gave the root), as a lost
	 * rename would. */
	env_mount(&e);
	ck_assert_int_eq(inode_get(e.fs, DIOFS_ROOT_INO, &dp), 0);
	ck_assert_int_eq(fs_txn_begin(e.fs, &t), 0);
	err = inode_join(t, dp);
	if (!err)
		err = dir_remove(t, dp, "d", 1);
	if (!err) {
		dp->links--;
		err = inode_write(t, dp);
	}
	ck_assert_int_eq(fs_txn_end(e.fs, t, err), 0);
	ck_assert_int_eq(err, 0);
	inode_put(dp);
	env_unmount(&e);

	expect_repair(&e, want);
	env_mount(&e);
	ck_assert_int_eq(inode_get(e.fs, DIOFS_ROOT_INO, &dp), 0);
	ck_assert_int_eq(dir_lookup(dp, "lost+found", 10, &lf, NULL), 0);
	inode_put(dp);
	ck_assert_int_eq(inode_get(e.fs, lf, &dp), 0);
	snprintf(name, sizeof(name), "#%" PRIu64, e.dir);
	ck_assert_int_eq(dir_lookup(dp, name, strlen(name), &ino, NULL), 0);
	ck_assert_uint_eq(ino, e.dir);
	inode_put(dp);
	ck_assert_int_eq(inode_get(e.fs, e.dir, &ip), 0);
	ck_assert_uint_eq(ip->parent, lf);
	ck_assert_int_eq(dir_lookup(ip, "b", 1, &ino, NULL), 0);
	inode_put(ip);
	expect_pat(&e, e.b, 0, 2 * e.bs);
	env_done(&e);
}
END_TEST

/* Add an entry name -> ino (a directory) to directory dir, nothing else. */
static void add_dir_entry(struct env *e, uint64_t dir, const char *name,
			  uint64_t ino)
{
	struct inode *dp;
	struct txn *t;
	int err;

	ck_assert_int_eq(inode_get(e->fs, dir, &dp), 0);
	ck_assert_int_eq(fs_txn_begin(e->fs, &t), 0);
	err = inode_join(t, dp);
	if (!err)
		err = dir_add(t, dp, name, strlen(name), ino, DIOFS_FT_DIR);
	if (!err)
		err = inode_write(t, dp);
	ck_assert_int_eq(fs_txn_end(e->fs, t, err), 0);
	ck_assert_int_eq(err, 0);
	inode_put(dp);
}

START_TEST(t_dir_twice)
{
	const char *const want[] = { "names directory", NULL };
	struct env e;
	struct inode *dp;
	uint64_t ino;

	env_init_tree(&e, fsck_geoms[_i]);
	env_mount(&e);
	add_dir_entry(&e, DIOFS_ROOT_INO, "again", e.sub);
	env_unmount(&e);
	expect_repair(&e, want);
	env_mount(&e);
	ck_assert_int_eq(inode_get(e.fs, DIOFS_ROOT_INO, &dp), 0);
	ck_assert_int_eq(dir_lookup(dp, "again", 5, &ino, NULL), -ENOENT);
	inode_put(dp);
	ck_assert_int_eq(inode_get(e.fs, e.dir, &dp), 0);
	ck_assert_int_eq(dir_lookup(dp, "s", 1, &ino, NULL), 0);
	ck_assert_uint_eq(ino, e.sub);
	inode_put(dp);
	env_done(&e);
}
END_TEST

START_TEST(t_dir_cycle)
{
	const char *const want[] = { "cannot be reached from the root", NULL };
	struct env e;
	struct inode *dp;
	struct txn *t;
	uint64_t lf, ino;
	char name[32];
	int err;

	env_init_tree(&e, fsck_geoms[_i]);
	/* /d/s names d, and the root no longer does: d and s hold each
	 * other and hang off nothing. */
	env_mount(&e);
	add_dir_entry(&e, e.sub, "loop", e.dir);
	ck_assert_int_eq(inode_get(e.fs, DIOFS_ROOT_INO, &dp), 0);
	ck_assert_int_eq(fs_txn_begin(e.fs, &t), 0);
	err = inode_join(t, dp);
	if (!err)
		err = dir_remove(t, dp, "d", 1);
	if (!err)
		err = inode_write(t, dp);
	ck_assert_int_eq(fs_txn_end(e.fs, t, err), 0);
	ck_assert_int_eq(err, 0);
	inode_put(dp);
	env_unmount(&e);

	expect_repair(&e, want);
	env_mount(&e);
	ck_assert_int_eq(inode_get(e.fs, DIOFS_ROOT_INO, &dp), 0);
	ck_assert_int_eq(dir_lookup(dp, "lost+found", 10, &lf, NULL), 0);
	inode_put(dp);
	/* d leaves the loop for lost+found; s stays in d. */
	ck_assert_int_eq(inode_get(e.fs, lf, &dp), 0);
	ck_assert_uint_eq(dp->dfile.size, 1);
	snprintf(name, sizeof(name), "#%" PRIu64, e.dir);
	ck_assert_int_eq(dir_lookup(dp, name, strlen(name), &ino, NULL), 0);
	ck_assert_uint_eq(ino, e.dir);
	inode_put(dp);
	ck_assert_int_eq(inode_get(e.fs, e.sub, &dp), 0);
	ck_assert_int_eq(dir_lookup(dp, "loop", 4, &ino, NULL), -ENOENT);
	ck_assert_uint_eq(dp->parent, e.dir);
	inode_put(dp);
	ck_assert_int_eq(inode_get(e.fs, e.dir, &dp), 0);
	ck_assert_uint_eq(dp->parent, lf);
	inode_put(dp);
	expect_pat(&e, e.b, 0, 2 * e.bs);
	env_done(&e);
}
END_TEST

/*
 * A directory leaf whose slot for "b" points at the value of "s": the
 * block passes its checksum and the B+tree's own checks, but b's entry
 * now reads as a second "s" under b's key.  Deleting that entry in place
 * would move value bytes that two slots share.
 */
START_TEST(t_leaf_overlap)
{
	const char *const want[] = { "not named in any directory", NULL };
	struct env e;
	struct diofs_inode *d;
	struct inode *dp;
	uint8_t *leaf, *body;
	uint64_t blk, root, ino, lf;
	unsigned nr, i, off_b = 0, off_s = 0, slot_b = 0;
	char name[32];

	env_init_tree(&e, fsck_geoms[_i]);
	d = slot_of(&e, e.dir, &blk);
	root = le64toh(d->ext_root);
	leaf = block_of(&e, root);
	ck_assert_uint_eq(le32toh(((struct diofs_blkhdr *)leaf)->magic),
			  DIOFS_MAGIC_DIR_LEAF);
	/* btree.c's layout: a 16-byte node header after the block header,
	 * then 12-byte slots (key, value offset, length); offsets count
	 * from the node header. */
	body = leaf + sizeof(struct diofs_blkhdr);
	nr = le16toh(*(le16 *)(body + 2));
	for (i = 0; i < nr; i++) {
		uint8_t *slot = body + 16 + 12 * i;
		unsigned off = le16toh(*(le16 *)(slot + 8));
		const struct diofs_dirent *de = (const void *)(body + off);

		if (de->name_len == 1 && de->name[0] == 'b') {
			off_b = off;
			slot_b = i;
		}
		if (de->name_len == 1 && de->name[0] == 's')
			off_s = off;
	}
	ck_assert(off_b && off_s);
	*(le16 *)(body + 16 + 12 * slot_b + 8) = htole16(off_s);
	(void)off_b;
	restamp(&e, root);
	expect_repair(&e, want);

	env_mount(&e);
	ck_assert_int_eq(inode_get(e.fs, e.dir, &dp), 0);
	ck_assert_int_eq(dir_lookup(dp, "s", 1, &ino, NULL), 0);
	ck_assert_uint_eq(ino, e.sub);
	ck_assert_int_eq(dir_lookup(dp, "a2", 2, &ino, NULL), 0);
	ck_assert_uint_eq(ino, e.a);
	inode_put(dp);
	/* b lost its only name and was kept, in lost+found. */
	ck_assert_int_eq(inode_get(e.fs, DIOFS_ROOT_INO, &dp), 0);
	ck_assert_int_eq(dir_lookup(dp, "lost+found", 10, &lf, NULL), 0);
	inode_put(dp);
	ck_assert_int_eq(inode_get(e.fs, lf, &dp), 0);
	snprintf(name, sizeof(name), "#%" PRIu64, e.b);
	ck_assert_int_eq(dir_lookup(dp, name, strlen(name), &ino, NULL), 0);
	inode_put(dp);
	expect_pat(&e, e.b, 0, 2 * e.bs);
	expect_pat(&e, e.a, 0, 3 * e.bs);
	env_done(&e);
}
END_TEST

START_TEST(t_orphan)
{
	struct env e;
	struct run r = { 0 };
	uint64_t blk, pblk;

	env_init_tree(&e, fsck_geoms[_i]);
	/* Unlink /d/b while it is open, then "crash": the device keeps
	 * b on the orphan list. */
	env_mount(&e);
	ck_assert_int_eq(fs_open(e.fs, e.b, O_RDWR), 0);
	ck_assert_int_eq(fs_unlink(e.fs, e.dir, "b"), 0);
	ck_assert_int_eq(fs_sync(e.fs), 0);	/* the unlink is durable */
	{
		/* The crash: a copy of the device as it is now. */
		struct bdev_test_opts bo = {
			.size = DEV_SIZE, .block_size = fsck_geoms[_i]->dev_bs
		};
		struct bdev *copy;

		ck_assert_int_eq(bdev_test_create(&bo, &copy), 0);
		memcpy(bdev_test_data(copy), bdev_test_data(e.bdev), DEV_SIZE);
		fs_release(e.fs, e.b);
		env_unmount(&e);
		bdev_close(e.bdev);
		e.bdev = copy;
	}
	pblk = le64toh(slot_of(&e, e.b, &blk)->ext[0].pblk);

	/* Without repair: a note, not an error. */
	run_fsck(&e, 0, &r);
	ck_assert_msg(r.res.found == 0 && r.res.notes == 1 &&
		      strstr(r.out, "will be freed at next mount"),
		      "%s:\n%s", where, r.out);
	run_free(&r);
	run_fsck(&e, 1, &r);
	ck_assert_msg(r.res.fixed >= 1 && r.res.left == 0, "%s:\n%s", where,
		      r.out);
	run_free(&r);
	expect_clean(&e);
	ck_assert_int_eq(slot_of(&e, e.b, &blk)->mode, 0);
	{
		uint64_t g = super_group_of(&e.sb, pblk);
		uint64_t first = super_group_first(&e.sb, g);
		const uint8_t *bm = block_of(&e, first) +
				    sizeof(struct diofs_blkhdr);

		ck_assert(!(bm[(pblk - first) / 8] & (1u << ((pblk - first) % 8))));
	}
	env_mount(&e);
	expect_pat(&e, e.a, 0, 3 * e.bs);
	env_done(&e);
}
END_TEST

/* Put ino, with links set to links, at the head of the orphan list. */
static void make_orphan(struct env *e, uint64_t ino, uint32_t links)
{
	struct diofs_inode *d;
	uint64_t blk;

	d = slot_of(e, ino, &blk);
	d->links = htole32(links);
	d->orphan_next = htole64(e->sb.orphan_head);
	restamp(e, blk);
	e->sb.orphan_head = ino;
	ck_assert_int_eq(super_write(e->bdev, &e->sb), 0);
}

/* The mount would free whatever the list holds with no links: the root
 * there is damage to the list, never a directory to free. */
START_TEST(t_orphan_root)
{
	const char *const want[] = { "inode 1: on the orphan list",
				     "link count 0, but 3 found", NULL };
	char msg[256] = "";
	struct env e;
	struct fs_attr a;

	env_init_tree(&e, fsck_geoms[_i]);
	make_orphan(&e, DIOFS_ROOT_INO, 0);
	expect_repair(&e, want);
	ck_assert_int_eq(super_read(e.bdev, &e.sb, msg, sizeof(msg)), 0);
	ck_assert_uint_eq(e.sb.orphan_head, 0);
	env_mount(&e);
	a = attr_of(&e, DIOFS_ROOT_INO);
	ck_assert_uint_eq(a.nlink, 3);
	ck_assert_int_eq(fs_lookup(e.fs, DIOFS_ROOT_INO, "a", &a), 0);
	fs_forget(e.fs, a.ino, 1);
	expect_pat(&e, e.a, 0, 3 * e.bs);
	env_done(&e);
}
END_TEST

/* Nor is a file that directories still name. */
START_TEST(t_orphan_named)
{
	const char *const want[] = {
		"on the orphan list, but has 0 links and 1 names", NULL
	};
	struct env e;

	env_init_tree(&e, fsck_geoms[_i]);
	make_orphan(&e, e.b, 0);
	expect_repair(&e, want);
	env_mount(&e);
	ck_assert_uint_eq(attr_of(&e, e.b).nlink, 1);
	expect_pat(&e, e.b, 0, 2 * e.bs);
	env_done(&e);
}
END_TEST

START_TEST(t_damaged_tree)
{
	const char *const want[] = { "extent tree", "damaged", NULL };
	struct env e;
	struct diofs_inode *d;
	uint64_t blk, root;

	env_init_tree(&e, fsck_geoms[_i]);
	d = slot_of(&e, e.big, &blk);
	root = le64toh(d->ext_root);
	ck_assert_uint_ne(root, 0);
	/* A torn node: its checksum no longer matches. */
	block_of(&e, root)[e.bs / 2] ^= 0x20;
	expect_repair(&e, want);
	d = slot_of(&e, e.big, &blk);
	ck_assert_uint_eq(le64toh(d->ext_root), 0);
	ck_assert_uint_eq(le64toh(d->blocks), 0);
	env_mount(&e);
	expect_pat(&e, e.b, 0, 2 * e.bs);
	env_done(&e);
}
END_TEST

START_TEST(t_past_eof)
{
	const char *const want[] = { "past the end of the file", NULL };
	struct env e;
	struct diofs_inode *d;
	uint64_t blk;

	env_init_tree(&e, fsck_geoms[_i]);
	/* a keeps 3 written blocks but claims one byte. */
	d = slot_of(&e, e.a, &blk);
	d->size = htole64(1);
	restamp(&e, blk);
	expect_repair(&e, want);
	d = slot_of(&e, e.a, &blk);
	ck_assert_uint_eq(le32toh(d->ext[0].len), 1);
	ck_assert_uint_eq(le64toh(d->blocks), 1);
	env_done(&e);
}
END_TEST

/* ---- repairs that change what an inode holds ----------------------------------------- */

/*
 * The counts an inode keeps (blocks, a directory's size and links) must
 * follow a repair that changes its trees within the same run: expect_repair()
 * wants nothing left and a clean fresh check.  Trees of several nodes make
 * the difference, since a tree the repair rebuilds may hold another number
 * of nodes than the one it replaces, with its root in the same block.
 */
#define FRAG_EXTENTS	300
#define MANY_ENTRIES	1200
#define MANY_NAME	"%0100d"	/* long: leaves fill at 64 KiB too */

/* /frag: FRAG_EXTENTS one-block extents (every other block), written in
 * shuffled order, so the engine's leaves are fuller than a rebuild in key
 * order leaves them.  The filesystem is mounted. */
static uint64_t mkfrag(struct env *e)
{
	uint64_t ino = mknode(e, DIOFS_ROOT_INO, "frag", S_IFREG | 0644);
	unsigned ord[FRAG_EXTENTS], i, j, t;

	for (i = 0; i < FRAG_EXTENTS; i++)
		ord[i] = i;
	for (i = FRAG_EXTENTS - 1; i > 0; i--) {
		j = (unsigned)rnd_below(i + 1);
		t = ord[i];
		ord[i] = ord[j];
		ord[j] = t;
	}
	for (i = 0; i < FRAG_EXTENTS; i++)
		write_pat(e, ino, 2ull * ord[i] * e->bs, e->bs);
	return ino;
}

/* /many: MANY_ENTRIES empty files, every tenth a directory.  Mounted. */
static uint64_t mkmany(struct env *e)
{
	uint64_t dir = mknode(e, DIOFS_ROOT_INO, "many", S_IFDIR | 0755);
	char name[128];
	int i;

	for (i = 0; i < MANY_ENTRIES; i++) {
		snprintf(name, sizeof(name), MANY_NAME, i);
		mknode(e, dir, name, (i % 10 ? S_IFREG : S_IFDIR) | 0644);
	}
	return dir;
}

START_TEST(t_rebuilt_dir)
{
	const char *const want[] = { "says file type", NULL };
	struct env e;
	struct inode *dp;
	struct txn *t;
	uint64_t many, ino;
	uint8_t ftype;
	char name[128];
	int err;

	env_init_tree(&e, fsck_geoms[_i]);
	env_mount(&e);
	many = mkmany(&e);
	/* One entry says "character device" for a regular file: the
	 * directory is rebuilt, with no entry fewer. */
	snprintf(name, sizeof(name), MANY_NAME, 1);
	ck_assert_int_eq(inode_get(e.fs, many, &dp), 0);
	ck_assert_int_eq(dir_lookup(dp, name, strlen(name), &ino, NULL), 0);
	ck_assert_int_eq(fs_txn_begin(e.fs, &t), 0);
	err = inode_join(t, dp);
	if (!err)
		err = dir_replace(t, dp, name, strlen(name), ino, DIOFS_FT_CHR);
	ck_assert_int_eq(fs_txn_end(e.fs, t, err), 0);
	ck_assert_int_eq(err, 0);
	inode_put(dp);
	env_unmount(&e);

	expect_repair(&e, want);
	env_mount(&e);
	ck_assert_int_eq(inode_get(e.fs, many, &dp), 0);
	ck_assert_int_eq(dir_lookup(dp, name, strlen(name), &ino, &ftype), 0);
	ck_assert_uint_eq(ftype, DIOFS_FT_REG);
	ck_assert_uint_eq(dp->dfile.size, MANY_ENTRIES);
	inode_put(dp);
	env_done(&e);
}
END_TEST

START_TEST(t_dropped_dir_tree)
{
	const char *const want[] = { "directory tree", "damaged", NULL };
	struct env e;
	struct diofs_inode *d;
	struct inode *dp;
	uint64_t many, blk, lf;

	env_init_tree(&e, fsck_geoms[_i]);
	env_mount(&e);
	many = mkmany(&e);
	env_unmount(&e);
	/* A torn leaf: every entry goes to a lost+found the repair makes,
	 * whose tree then grows to several nodes. */
	d = slot_of(&e, many, &blk);
	blk = tree_some_leaf(&e, le64toh(d->ext_root));
	block_of(&e, blk)[e.bs / 2] ^= 0x20;
	expect_repair(&e, want);

	env_mount(&e);
	ck_assert_int_eq(inode_get(e.fs, DIOFS_ROOT_INO, &dp), 0);
	ck_assert_int_eq(dir_lookup(dp, "lost+found", 10, &lf, NULL), 0);
	inode_put(dp);
	ck_assert_int_eq(inode_get(e.fs, lf, &dp), 0);
	ck_assert_uint_eq(dp->dfile.size, MANY_ENTRIES);
	inode_put(dp);
	ck_assert_int_eq(inode_get(e.fs, many, &dp), 0);
	ck_assert_uint_eq(dp->dfile.size, 0);
	ck_assert_uint_eq(dp->ext_root, 0);
	inode_put(dp);
	env_done(&e);
}
END_TEST

START_TEST(t_dropped_xattr_tree)
{
	const char *const want[] = { "extended attribute tree", NULL };
	struct env e;
	struct diofs_inode *d;
	uint64_t blk, root;

	env_init_tree(&e, fsck_geoms[_i]);
	d = slot_of(&e, e.x, &blk);
	root = le64toh(d->xattr_root);
	ck_assert_uint_ne(root, 0);
	block_of(&e, root)[e.bs / 2] ^= 0x20;
	expect_repair(&e, want);
	d = slot_of(&e, e.x, &blk);
	ck_assert_uint_eq(le64toh(d->xattr_root), 0);
	ck_assert_uint_eq(le64toh(d->blocks), 0);
	env_mount(&e);
	(void)attr_of(&e, e.x);
	env_done(&e);
}
END_TEST

/* The run of the attribute name (user.) of inode ino: inline, else in its
 * tree. */
static struct codec_xattr_ref run_of(struct env *e, uint64_t ino,
				     const char *name)
{
	uint8_t key_name[64];
	struct codec_xattr_ref r;
	struct codec_xattr x;
	struct diofs_inode *d;
	size_t off = 0, next, len = strlen(name);
	uint64_t blk, leaf, key;
	uint8_t *v;

	d = slot_of(e, ino, &blk);
	while (!codec_xattr_inline(d->xattr, le16toh(d->xattr_len), off, &x,
				   &next)) {
		if (x.name_len == len && !memcmp(x.name, name, len)) {
			ck_assert_int_eq(codec_xattr_ref_decode(&x, &r), 0);
			return r;
		}
		off = next;
	}
	key_name[0] = DIOFS_XATTR_USER;
	memcpy(key_name + 1, name, len);
	key = diofs_dir_key(diofs_name_hash(e->sb.hash_seed, key_name, len + 1),
			    0);
	v = tree_value(e, le64toh(d->xattr_root), key, &leaf);
	ck_assert_int_eq(codec_xattr_value(v, codec_xattr_size(len, 16), &x), 0);
	ck_assert_int_eq(codec_xattr_ref_decode(&x, &r), 0);
	return r;
}

static void set_pat_xattr(struct env *e, uint64_t ino, const char *name,
			  size_t n)
{
	uint8_t *v = xalloc(n);
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = (uint8_t)(i * 13 + n);
	ck_assert_int_eq(fs_setxattr(e->fs, ino, name, v, n, 0), 0);
	free(v);
}

static void expect_pat_xattr(struct env *e, uint64_t ino, const char *name,
			     size_t n)
{
	uint8_t *v = xalloc(n);
	size_t i;

	ck_assert_int_eq(fs_getxattr(e->fs, ino, name, v, n), (ssize_t)n);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(v[i], (uint8_t)(i * 13 + n));
	free(v);
}

/* Values in runs of blocks, one of them damaged inline and one in a tree:
 * both attributes go, the others stay. */
START_TEST(t_damaged_xattr_run)
{
	const char *const want[] = { "does not match its checksum",
				     "\"big1\"", "\"t3\"", NULL };
	struct codec_xattr_ref r;
	struct env e;

	env_init_tree(&e, fsck_geoms[_i]);
	env_mount(&e);
	set_pat_xattr(&e, e.a, "user.big1", DIOFS_XATTR_VALUE_MAX);
	set_pat_xattr(&e, e.a, "user.big2", 10000);
	set_pat_xattr(&e, e.x, "user.t0", 30000);
	set_pat_xattr(&e, e.x, "user.t1", DIOFS_XATTR_VALUE_MAX);
	set_pat_xattr(&e, e.x, "user.t2", 5000);
	set_pat_xattr(&e, e.x, "user.t3", DIOFS_XATTR_VALUE_MAX);
	env_unmount(&e);
	expect_clean(&e);

	r = run_of(&e, e.a, "big1");
	block_of(&e, r.start)[7] ^= 0x01;
	r = run_of(&e, e.x, "t3");
	block_of(&e, r.start + r.size / e.bs - 1)[e.bs - 1] ^= 0x80;
	expect_repair(&e, want);

	env_mount(&e);
	ck_assert_int_eq(fs_getxattr(e.fs, e.a, "user.big1", NULL, 0),
			 -ENODATA);
	ck_assert_int_eq(fs_getxattr(e.fs, e.x, "user.t3", NULL, 0),
			 -ENODATA);
	expect_pat_xattr(&e, e.a, "user.big2", 10000);
	expect_pat_xattr(&e, e.x, "user.t0", 30000);
	expect_pat_xattr(&e, e.x, "user.t1", DIOFS_XATTR_VALUE_MAX);
	expect_pat_xattr(&e, e.x, "user.t2", 5000);
	ck_assert_int_eq(fs_getxattr(e.fs, e.x, "user.attr11", NULL, 0), 150);
	env_done(&e);
}
END_TEST

/* A run on a filesystem whose superblock lacks the feature: it is set. */
START_TEST(t_xattr_run_feature)
{
	const char *const want[] = { "lacks the XATTR_RUNS feature", NULL };
	struct super sb;
	struct env e;

	env_init_tree(&e, fsck_geoms[_i]);
	env_mount(&e);
	set_pat_xattr(&e, e.b, "user.big", 40000);
	env_unmount(&e);
	ck_assert_int_eq(super_read(e.bdev, &sb, NULL, 0), 0);
	sb.incompat &= ~DIOFS_FEAT_INCOMPAT_XATTR_RUNS;
	ck_assert_int_eq(super_write(e.bdev, &sb), 0);
	expect_repair(&e, want);
	ck_assert_int_eq(super_read(e.bdev, &sb, NULL, 0), 0);
	ck_assert(sb.incompat & DIOFS_FEAT_INCOMPAT_XATTR_RUNS);
	env_mount(&e);
	expect_pat_xattr(&e, e.b, "user.big", 40000);
	env_done(&e);
}
END_TEST

START_TEST(t_copied_tree_extent)
{
	const char *const want[] = { "also used by inode", NULL };
	struct env e;
	struct diofs_inode *d;
	struct diofs_extent_val *v;
	uint64_t frag, blk, leaf, a_pblk, i;

	env_init_tree(&e, fsck_geoms[_i]);
	env_mount(&e);
	frag = mkfrag(&e);
	env_unmount(&e);
	/* One of frag's extents points at a's first block: frag gets a
	 * copy of it, and its extent tree is written anew. */
	a_pblk = le64toh(slot_of(&e, e.a, &blk)->ext[0].pblk);
	d = slot_of(&e, frag, &blk);
	v = (struct diofs_extent_val *)tree_value(&e, le64toh(d->ext_root),
						   2 * 137, &leaf);
	v->pblk = htole64(a_pblk);
	restamp(&e, leaf);
	expect_repair(&e, want);

	env_mount(&e);
	expect_pat(&e, e.a, 0, 3 * e.bs);
	for (i = 0; i < FRAG_EXTENTS; i += 37)
		if (i != 137)
			expect_pat(&e, frag, 2 * i * e.bs, e.bs);
	env_done(&e);
}
END_TEST

START_TEST(t_overlap_tree)
{
	const char *const want[] = { "overlaps the extent before it", NULL };
	struct env e;
	struct diofs_inode *d;
	struct diofs_extent_val *v;
	uint64_t frag, blk, leaf;

	env_init_tree(&e, fsck_geoms[_i]);
	env_mount(&e);
	frag = mkfrag(&e);
	env_unmount(&e);
	/* Extent 137 grows over the next one, which goes. */
	d = slot_of(&e, frag, &blk);
	v = (struct diofs_extent_val *)tree_value(&e, le64toh(d->ext_root),
						   2 * 137, &leaf);
	v->len = htole32(3);
	restamp(&e, leaf);
	expect_repair(&e, want);
	env_mount(&e);
	expect_pat(&e, frag, 0, e.bs);
	expect_pat(&e, frag, 2 * 136 * e.bs, e.bs);
	env_done(&e);
}
END_TEST

START_TEST(t_past_eof_tree)
{
	const char *const want[] = { "past the end of the file", NULL };
	struct env e;
	struct diofs_inode *d;
	uint64_t frag, blk;

	env_init_tree(&e, fsck_geoms[_i]);
	env_mount(&e);
	frag = mkfrag(&e);
	env_unmount(&e);
	/* frag ends in its 22nd block: the extents past it are released
	 * and the tree shrinks. */
	d = slot_of(&e, frag, &blk);
	d->size = htole64(21 * e.bs + 5);
	restamp(&e, blk);
	expect_repair(&e, want);
	env_mount(&e);
	expect_pat(&e, frag, 0, e.bs);
	expect_pat(&e, frag, 20 * e.bs, 5);
	env_done(&e);
}
END_TEST

/* One timestamp of inode ino: seconds and nanoseconds at byte offsets
 * sec and nsec of its slot on the device. */
struct stamp {
	size_t sec, nsec;
};

#define STAMP(t) { offsetof(struct diofs_inode, t), \
		   offsetof(struct diofs_inode, t##_nsec) }
static const struct stamp stamps[] = {
	STAMP(atime), STAMP(mtime), STAMP(ctime), STAMP(crtime),
};
#define NSTAMPS ((int)(sizeof(stamps) / sizeof(stamps[0])))

static void get_stamp(struct env *e, uint64_t ino, const struct stamp *st,
		      uint64_t *sec, uint32_t *nsec)
{
	const uint8_t *d;
	uint64_t blk;
	le64 s;
	le32 n;

	d = (const uint8_t *)slot_of(e, ino, &blk);
	memcpy(&s, d + st->sec, sizeof(s));
	memcpy(&n, d + st->nsec, sizeof(n));
	*sec = le64toh(s);
	*nsec = le32toh(n);
}

static void set_nsec(struct env *e, uint64_t ino, const struct stamp *st,
		     uint32_t nsec)
{
	uint8_t *d;
	uint64_t blk;
	le32 n = htole32(nsec);

	d = (uint8_t *)slot_of(e, ino, &blk);
	memcpy(d + st->nsec, &n, sizeof(n));
	restamp(e, blk);
}

/*
 * Nanoseconds of a second or more make the engine refuse the inode
 * (-EUCLEAN).  Each of the four timestamps is damaged, in four inodes of
 * two kinds; the repair keeps the seconds.
 */
START_TEST(t_nsec)
{
	const char *const want[] = { "atime nanoseconds 1000000000 out of range",
				     "mtime nanoseconds 4294967295 out of range",
				     "ctime nanoseconds 1000000001 out of range",
				     "crtime nanoseconds 2147483648 out of range",
				     NULL };
	static const uint32_t bad[NSTAMPS] = {
		1000000000u, UINT32_MAX, 1000000001u, 1u << 31
	};
	uint64_t ino[NSTAMPS], sec[NSTAMPS], now;
	uint32_t nsec;
	struct env e;
	struct fs_attr a;
	int i;

	env_init_tree(&e, fsck_geoms[_i]);
	ino[0] = e.a;
	ino[1] = e.b;
	ino[2] = e.dir;
	ino[3] = e.big;
	for (i = 0; i < NSTAMPS; i++) {
		get_stamp(&e, ino[i], &stamps[i], &sec[i], &nsec);
		set_nsec(&e, ino[i], &stamps[i], bad[i]);
	}
	env_mount(&e);
	for (i = 0; i < NSTAMPS; i++)
		ck_assert_int_eq(fs_getattr(e.fs, ino[i], &a), -EUCLEAN);
	env_unmount(&e);

	expect_repair(&e, want);
	for (i = 0; i < NSTAMPS; i++) {
		get_stamp(&e, ino[i], &stamps[i], &now, &nsec);
		ck_assert_uint_eq(now, sec[i]);
		ck_assert_uint_eq(nsec, 0);
	}
	env_mount(&e);
	for (i = 0; i < NSTAMPS; i++)
		ck_assert_int_eq(fs_getattr(e.fs, ino[i], &a), 0);
	expect_pat(&e, e.a, 0, 3 * e.bs);
	expect_pat(&e, e.b, 0, 2 * e.bs);
	env_done(&e);
}
END_TEST

START_TEST(t_not_diofs)
{
	struct bdev_test_opts bo = { .size = 4 * MiB, .block_size = 512 };
	struct fsck_opts o = { .repair = 0 };
	struct fsck_result res;
	struct bdev *bdev;

	ck_assert_int_eq(bdev_test_create(&bo, &bdev), 0);
	memset(bdev_test_data(bdev), 0x5a, 4 * MiB);
	ck_assert_int_eq(fsck_run(bdev, &o, &res), -EINVAL);
	ck_assert_ptr_nonnull(strstr(res.msg, "not a diofs filesystem"));
	bdev_close(bdev);
}
END_TEST

static Suite *fsck_suite(void)
{
	Suite *s = suite_create("fsck");
	TCase *tc = tcase_create("fsck");

	tcase_set_timeout(tc, CASE_TIMEOUT);
	tcase_add_loop_test(tc, t_clean, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_progress, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_double_owner, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_no_room_to_copy, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_link_count, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_inode_flags, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_dangling_entry, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_bitmap_bit, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_torn_blocks, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_unreachable, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_dir_twice, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_dir_cycle, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_leaf_overlap, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_orphan, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_orphan_root, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_orphan_named, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_damaged_tree, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_past_eof, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_rebuilt_dir, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_dropped_dir_tree, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_dropped_xattr_tree, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_damaged_xattr_run, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_xattr_run_feature, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_copied_tree_extent, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_overlap_tree, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_past_eof_tree, 0, NFSCK_GEOMS);
	tcase_add_loop_test(tc, t_nsec, 0, NFSCK_GEOMS);
	tcase_add_test(tc, t_not_diofs);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fsck_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
