/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_fs: Check suite for the file side of the engine: mount and unmount
 * (fs.c), in-memory inodes and the orphan list (inode.c), extent maps
 * (extent.c) and the file operations of fs.h (file.c).
 *
 * Each case formats an in-memory test device with super_format() and
 * mounts it with fs_mount_bdev() (fsenv.h).  Files are made with
 * inode_new() directly (no directory entry is needed to exercise a file),
 * and everything else goes through the fs_* operations and, where it is
 * faster, the extent layer itself.
 *
 * Rules:
 *  1. Cases run over a table of geometries: fs blocks of 1 KiB, 4 KiB and
 *     64 KiB on 512-byte and 4 KiB device sectors.
 *  2. Devices are filled with 0xA5 before formatting, so stale contents
 *     that leak into a file are recognisable; pattern bytes are never 0 or
 *     0xA5.
 *  3. File contents are checked against a shadow copy kept in memory, and
 *     after every case that changes blocks the extent map (extent_check)
 *     and the allocator (alloc_check) must agree with each other.
 *  4. The test device logs every write; cases that write a lot clear the
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
#include <time.h>
#include <unistd.h>

#include "checker.h"
#include "diofs/bdev.h"
#include "diofs/bdev_impl.h"	/* read_only, for t_mount_checks */
#include "diofs/btree.h"
#include "diofs/dio.h"
#include "diofs/fs.h"
#include "diofs/inode.h"
#include "diofs/stats.h"
#include "diofs/super.h"

#include "fsenv.h"
#include "pattern.h"

/* Unmount, and fsck must find nothing. */
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

/* ---- data patterns ------------------------------------------------------- */

static void expect_mem(const unsigned char *got, const unsigned char *want,
		       size_t n, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	for (size_t i = 0; i < n; i++) {
		if (got[i] == (want ? want[i] : 0))
			continue;
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		ck_abort_msg("%s: %s: byte %zu of %zu: got 0x%02x, want 0x%02x",
			     where, what, i, n, got[i], want ? want[i] : 0);
	}
}

/* ---- files ------------------------------------------------------------------ */

static uint64_t mkfile(struct env *e)
{
	struct inode *ip;
	struct txn *t;
	uint64_t ino;
	int err;

	ck_assert_int_eq(fs_txn_begin(e->fs, &t), 0);
	err = inode_new(e->fs, t, DIOFS_ROOT_INO, S_IFREG | 0644, 1000, 100, 0,
			&ip);
	ck_assert_int_eq(fs_txn_end(e->fs, t, err), 0);
	ck_assert_int_eq(err, 0);
	ino = ip->ino;
	inode_put(ip);
	return ino;
}

static ssize_t wr(struct env *e, uint64_t ino, uint64_t off, const void *buf,
		  size_t len)
{
	struct iovec iov = { (void *)buf, len };

	bdev_test_log_clear(e->bdev);	/* rule 4 */
	return fs_write(e->fs, e->ctx, ino, off, &iov, 1);
}

static ssize_t rd(struct env *e, uint64_t ino, uint64_t off, void *buf,
		  size_t len)
{
	struct iovec iov = { buf, len };

	return fs_read(e->fs, e->ctx, ino, off, &iov, 1);
}

static void wr_ok(struct env *e, uint64_t ino, uint64_t off, const void *buf,
		  size_t len)
{
	ssize_t n = wr(e, ino, off, buf, len);

	ck_assert_msg(n == (ssize_t)len, "%s: write %zu at %llu: %zd", where,
		      len, (unsigned long long)off, n);
}

static int set_size(struct env *e, uint64_t ino, uint64_t size)
{
	struct fs_setattr sa = { .mask = FS_SET_SIZE, .size = size };
	struct fs_attr a;

	return fs_setattr(e->fs, e->ctx, ino, &sa, &a);
}

/* Compare the whole file with the shadow (and its size). */
static void expect_file(struct env *e, uint64_t ino, const unsigned char *sh,
			uint64_t size, const char *what)
{
	unsigned char *buf = xalloc(size + 4096);
	ssize_t n;

	ck_assert_msg(attr_of(e, ino).size == size, "%s: %s: size %llu, want %llu",
		      where, what, (unsigned long long)attr_of(e, ino).size,
		      (unsigned long long)size);
	n = rd(e, ino, 0, buf, size + 4096);
	ck_assert_msg(n == (ssize_t)size, "%s: %s: read %zd of %llu", where,
		      what, n, (unsigned long long)size);
	expect_mem(buf, sh, size, "%s", what);
	free(buf);
}

struct map_count {
	unsigned pieces;	/* extents (or parts of them) met */
	unsigned unwritten;
	uint64_t blocks;
};

/* Walk the map with extent_map: every extent comes back as one piece. */
static struct map_count count_map(struct env *e, uint64_t ino)
{
	uint64_t lblk = 0, limit = (1ull << 62) / e->bs;
	struct map_count mc = { 0 };
	struct inode *ip;
	struct dio_map m;

	ck_assert_int_eq(inode_get(e->fs, ino, &ip), 0);
	while (lblk < limit) {
		ck_assert_int_eq(extent_map(ip, lblk, limit - lblk, &m), 0);
		ck_assert_uint_eq(m.lblk, lblk);
		ck_assert_uint_ge(m.len, 1);
		if (m.type != DIO_MAP_HOLE) {
			mc.pieces++;
			mc.blocks += m.len;
			if (m.type == DIO_MAP_UNWRITTEN)
				mc.unwritten++;
		}
		lblk += m.len;
	}
	inode_put(ip);
	return mc;
}

struct visit_sum {
	uint64_t blocks, calls;
};

static void visit_add(void *arg, uint64_t pblk, uint64_t len)
{
	struct visit_sum *v = arg;

	v->blocks += len;
	v->calls++;
}

/* Rule 3: the map is well formed, the inode's block count matches it, and
 * the allocator's bitmaps match its descriptors. */
static void check_consistent(struct env *e, uint64_t ino)
{
	struct visit_sum v = { 0 };
	struct inode *ip;
	char msg[256] = "";
	int err;

	ck_assert_int_eq(inode_get(e->fs, ino, &ip), 0);
	err = extent_check(ip, visit_add, &v);
	ck_assert_msg(err == 0, "%s: extent_check: %d", where, err);
	ck_assert_msg(v.blocks == ip->blocks,
		      "%s: extents and nodes hold %llu blocks, inode says %llu",
		      where, (unsigned long long)v.blocks,
		      (unsigned long long)ip->blocks);
	ck_assert_uint_eq(attr_of(e, ino).blocks, ip->blocks * (e->bs / 512));
	inode_put(ip);
	pthread_rwlock_rdlock(&e->fs->meta_lock);
	err = alloc_check(e->fs->alloc, msg, sizeof(msg));
	pthread_rwlock_unlock(&e->fs->meta_lock);
	ck_assert_msg(err == 0, "%s: alloc_check: %s", where, msg);
}

static uint64_t ext_root_of(struct env *e, uint64_t ino, unsigned *nr_inline)
{
	struct inode *ip;
	uint64_t root;

	ck_assert_int_eq(inode_get(e->fs, ino, &ip), 0);
	root = ip->ext_root;
	if (nr_inline)
		*nr_inline = ip->nr_extents;
	inode_put(ip);
	return root;
}

/* ---- sequential writes: few extents ------------------------------------------ */

START_TEST(t_sequential)
{
	const struct geom *g = &geoms[_i];
	uint64_t total = 2 * MiB, off;
	unsigned char *sh = xalloc(total);
	struct map_count mc;
	struct env e;
	uint64_t ino;

	env_init(&e, g, 32 * MiB, NULL);
	ino = mkfile(&e);
	fill_pat(sh, total, 0, 1);
	for (off = 0; off < total; off += 4 * KiB)
		wr_ok(&e, ino, off, sh + off, 4 * KiB);
	expect_file(&e, ino, sh, total, "sequential");
	mc = count_map(&e, ino);
	ck_assert_msg(mc.pieces == 1 && mc.unwritten == 0,
		      "%s: a sequential file is %u extents (%u unwritten)",
		      where, mc.pieces, mc.unwritten);
	ck_assert_uint_eq(mc.blocks, total / e.bs);
	check_consistent(&e, ino);

	env_remount(&e);
	expect_file(&e, ino, sh, total, "after remount");
	ck_assert_uint_eq(count_map(&e, ino).pieces, 1);

	/* Two files written in turn still grow their own extents. */
	{
		uint64_t a = mkfile(&e), b = mkfile(&e);

		for (off = 0; off < 256 * KiB; off += 64 * KiB) {
			wr_ok(&e, a, off, sh + off, 64 * KiB);
			wr_ok(&e, b, off, sh + off, 64 * KiB);
		}
		ck_assert_uint_le(count_map(&e, a).pieces, 4);
		ck_assert_uint_le(count_map(&e, b).pieces, 4);
		check_consistent(&e, a);
		check_consistent(&e, b);
	}
	env_done(&e);
	free(sh);
}
END_TEST

/* ---- more than the inline extents: the tree ---------------------------------- */

START_TEST(t_tree)
{
	const struct geom *g = &geoms[_i];
	enum { N = 48 };
	unsigned order[N], nr, i;
	uint64_t free0, size = 2 * N * (uint64_t)g->fs_bs;
	unsigned char *sh, *blk = xalloc(g->fs_bs);
	struct env e;
	uint64_t ino;

	env_init(&e, g, 64 * MiB, NULL);
	ino = mkfile(&e);
	free0 = free_blocks(&e);
	sh = xalloc(size);
	ck_assert_int_eq(set_size(&e, ino, size), 0);
	rng_state = 0x1234567 + (uint64_t)_i;
	for (i = 0; i < N; i++)
		order[i] = i;
	for (i = N - 1; i > 0; i--) {
		unsigned j = (unsigned)rnd_below(i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	/* Every other block, in random order: nothing can merge. */
	for (i = 0; i < N; i++) {
		uint64_t off = 2ull * order[i] * g->fs_bs;

		fill_pat(blk, g->fs_bs, off, 2);
		memcpy(sh + off, blk, g->fs_bs);
		wr_ok(&e, ino, off, blk, g->fs_bs);
		ck_assert_uint_eq(count_map(&e, ino).pieces, i + 1);
		ck_assert_msg((ext_root_of(&e, ino, &nr) != 0) ==
			      (i + 1 > DIOFS_INLINE_EXTENTS),
			      "%s: %u extents, tree %s", where, i + 1,
			      nr ? "no" : "yes");
	}
	expect_file(&e, ino, sh, size, "sparse");
	check_consistent(&e, ino);
	env_remount(&e);
	expect_file(&e, ino, sh, size, "sparse, remounted");

	/* Punch most of it: the tree stays a tree, and stays right. */
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino,
				      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      4ull * g->fs_bs, size - 8ull * g->fs_bs),
			 0);
	memset(sh + 4ull * g->fs_bs, 0, size - 8ull * g->fs_bs);
	expect_file(&e, ino, sh, size, "punched");
	ck_assert_uint_eq(count_map(&e, ino).pieces, 4);
	check_consistent(&e, ino);

	/* Truncating to nothing frees the tree and every block. */
	ck_assert_int_eq(set_size(&e, ino, 0), 0);
	ck_assert_uint_eq(ext_root_of(&e, ino, &nr), 0);
	ck_assert_uint_eq(nr, 0);
	ck_assert_uint_eq(attr_of(&e, ino).blocks, 0);
	ck_assert_uint_eq(free_blocks(&e), free0);
	check_consistent(&e, ino);
	env_done(&e);
	free(sh);
	free(blk);
}
END_TEST

/* ---- 100,000 extents: lookups stay logarithmic --------------------------------- */

START_TEST(t_many_extents)
{
	const struct geom g = { 1024, 512 };
	enum { N = 100000, BATCH = 2500, LOOKUPS = 2000 };
	struct format_opts fo = { .inodes = 1024 };
	struct bdev_stats st0, st1;
	uint64_t free0, entries, i, prev = 0;
	struct btree bt = { 0 };
	struct inode *ip;
	struct dio_map m;
	struct env e;
	uint64_t ino;
	double per;

	env_init(&e, &g, 128 * MiB, &fo);
	ino = mkfile(&e);
	free0 = free_blocks(&e);
	ck_assert_int_eq(inode_get(e.fs, ino, &ip), 0);
	/* Built through the extent layer: one block every other block. */
	for (i = 0; i < N; i += BATCH) {
		struct txn *t;
		int err = 0;

		ck_assert_int_eq(fs_txn_begin(e.fs, &t), 0);
		for (uint64_t k = i; k < i + BATCH && !err; k++)
			err = extent_prealloc(t, ip, 2 * k, 1);
		ck_assert_int_eq(fs_txn_end(e.fs, t, err), 0);
		ck_assert_int_eq(err, 0);
		bdev_test_log_clear(e.bdev);
	}
	bt.cache = e.fs->cache;
	bt.magic_leaf = DIOFS_MAGIC_EXT_LEAF;
	bt.magic_node = DIOFS_MAGIC_EXT_NODE;
	bt.root = ip->ext_root;
	ck_assert_int_eq(btree_check(&bt, &entries, NULL, NULL), 0);
	ck_assert_uint_eq(entries, N);
	ck_assert_uint_gt(ip->blocks, N);	/* the tree's nodes count too */
	inode_put(ip);
	check_consistent(&e, ino);

	/* A small cache: a lookup reads what its path lacks, no more. */
	env_unmount(&e);
	e.cache_blocks = 16;
	env_mount(&e);
	ck_assert_int_eq(inode_get(e.fs, ino, &ip), 0);
	rng_state = 42;
	bdev_get_stats(e.bdev, &st0);
	for (i = 0; i < LOOKUPS; i++) {
		uint64_t k = rnd_below(N);

		ck_assert_int_eq(extent_map(ip, 2 * k, 1000, &m), 0);
		ck_assert_int_eq(m.type, DIO_MAP_UNWRITTEN);
		ck_assert_uint_eq(m.len, 1);
	}
	bdev_get_stats(e.bdev, &st1);
	per = (double)(st1.reads - st0.reads) / LOOKUPS;
	ck_assert_msg(per <= 6.0, "%s: %.2f device reads per lookup", where,
		      per);
	/* The holes between, and the order of the device blocks. */
	for (i = 0; i < N; i += 997) {
		ck_assert_int_eq(extent_map(ip, 2 * i + 1, 1000, &m), 0);
		ck_assert_int_eq(m.type, DIO_MAP_HOLE);
		ck_assert_uint_eq(m.len, 1);
		ck_assert_int_eq(extent_map(ip, 2 * i, 1, &m), 0);
		ck_assert_uint_gt(m.pblk, prev);
		prev = m.pblk;
	}
	inode_put(ip);

	/* Truncation frees it all (the preallocation is past end of file). */
	env_unmount(&e);
	e.cache_blocks = 0;
	env_mount(&e);
	ck_assert_int_eq(set_size(&e, ino, 0), 0);
	ck_assert_uint_eq(attr_of(&e, ino).blocks, 0);
	ck_assert_uint_eq(ext_root_of(&e, ino, NULL), 0);
	ck_assert_uint_eq(free_blocks(&e), free0);
	check_consistent(&e, ino);
	env_done(&e);
}
END_TEST

/* ---- punch, truncate, and the extents they split ----------------------------- */

START_TEST(t_punch_truncate)
{
	const struct geom *g = &geoms[_i];
	uint64_t bs = g->fs_bs, size = 16 * bs, r;
	unsigned char *sh = xalloc(size), *buf = xalloc(size);
	struct env e;
	uint64_t ino;

	env_init(&e, g, 32 * MiB, NULL);
	ino = mkfile(&e);
	fill_pat(sh, size, 0, 3);
	wr_ok(&e, ino, 0, sh, size);
	ck_assert_uint_eq(count_map(&e, ino).pieces, 1);

	/* Whole blocks 5..7: the extent splits in two, three blocks go. */
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino,
				      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      5 * bs, 3 * bs), 0);
	memset(sh + 5 * bs, 0, 3 * bs);
	expect_file(&e, ino, sh, size, "punch 5..7");
	ck_assert_uint_eq(count_map(&e, ino).pieces, 2);
	ck_assert_uint_eq(attr_of(&e, ino).blocks, 13 * bs / 512);

	/* Unaligned: the edges are zeroed in place, block 10 goes. */
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino,
				      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      9 * bs + 100, 2 * bs), 0);
	memset(sh + 9 * bs + 100, 0, 2 * bs);
	expect_file(&e, ino, sh, size, "unaligned punch");
	ck_assert_uint_eq(count_map(&e, ino).pieces, 3);
	ck_assert_uint_eq(attr_of(&e, ino).blocks, 12 * bs / 512);

	/* Inside one block: zeros, no block freed. */
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino,
				      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      bs + 7, 33), 0);
	memset(sh + bs + 7, 0, 33);
	expect_file(&e, ino, sh, size, "punch inside a block");
	ck_assert_uint_eq(attr_of(&e, ino).blocks, 12 * bs / 512);

	/* SEEK_DATA / SEEK_HOLE over [0,5) data [5,8) hole [8,10) data
	 * [10,11) hole [11,16) data. */
	ck_assert_int_eq(fs_lseek(e.fs, ino, 0, SEEK_DATA, &r), 0);
	ck_assert_uint_eq(r, 0);
	ck_assert_int_eq(fs_lseek(e.fs, ino, 3, SEEK_HOLE, &r), 0);
	ck_assert_uint_eq(r, 5 * bs);
	ck_assert_int_eq(fs_lseek(e.fs, ino, 5 * bs + 1, SEEK_DATA, &r), 0);
	ck_assert_uint_eq(r, 8 * bs);
	ck_assert_int_eq(fs_lseek(e.fs, ino, 8 * bs, SEEK_HOLE, &r), 0);
	ck_assert_uint_eq(r, 10 * bs);
	ck_assert_int_eq(fs_lseek(e.fs, ino, 11 * bs + 5, SEEK_DATA, &r), 0);
	ck_assert_uint_eq(r, 11 * bs + 5);
	ck_assert_int_eq(fs_lseek(e.fs, ino, 12 * bs, SEEK_HOLE, &r), 0);
	ck_assert_uint_eq(r, size);
	ck_assert_int_eq(fs_lseek(e.fs, ino, size, SEEK_DATA, &r), -ENXIO);
	ck_assert_int_eq(fs_lseek(e.fs, ino, size, SEEK_HOLE, &r), -ENXIO);

	/* Truncate into the middle of a block, then grow: the old tail
	 * bytes must not come back (file.c rule 2). */
	ck_assert_int_eq(set_size(&e, ino, 13 * bs + bs / 2 + 3), 0);
	ck_assert_uint_eq(attr_of(&e, ino).blocks, 10 * bs / 512);
	ck_assert_int_eq(set_size(&e, ino, size), 0);
	memset(sh + 13 * bs + bs / 2 + 3, 0, size - (13 * bs + bs / 2 + 3));
	expect_file(&e, ino, sh, size, "truncate down and up");
	ck_assert_uint_eq(attr_of(&e, ino).blocks, 10 * bs / 512);
	check_consistent(&e, ino);

	/* A write past end of file leaves a hole that reads as zeros. */
	fill_pat(buf, 100, 77, 4);
	wr_ok(&e, ino, size + 3 * bs + 10, buf, 100);
	{
		uint64_t nsize = size + 3 * bs + 110;
		unsigned char *sh2 = xalloc(nsize);

		memcpy(sh2, sh, size);
		memcpy(sh2 + size + 3 * bs + 10, buf, 100);
		expect_file(&e, ino, sh2, nsize, "write past end");
		env_remount(&e);
		expect_file(&e, ino, sh2, nsize, "write past end, remounted");
		free(sh2);
	}
	check_consistent(&e, ino);
	env_done(&e);
	free(sh);
	free(buf);
}
END_TEST

/*
 * Bytes past end of file on the device (left by a write that failed
 * there) never become visible when end of file moves over them: truncate
 * up and fallocate past end of file zero the old last block's tail first.
 */
START_TEST(t_grow_over_garbage)
{
	const struct geom *g = &geoms[_i];
	uint64_t bs = g->fs_bs, eof = bs + 100;
	unsigned char *sh = xalloc(4 * bs);
	struct env e;
	uint64_t ino;
	int grow;

	env_init(&e, g, 32 * MiB, NULL);
	for (grow = 0; grow < 2; grow++) {
		struct inode *ip;
		struct dio_map m;

		ino = mkfile(&e);
		fill_pat(sh, 2 * bs, 5, 9);
		wr_ok(&e, ino, 0, sh, 2 * bs);
		ck_assert_int_eq(set_size(&e, ino, eof), 0);

		/* What a failed write past end of file can leave behind. */
		ck_assert_int_eq(inode_get(e.fs, ino, &ip), 0);
		ck_assert_int_eq(extent_map(ip, 1, 1, &m), 0);
		inode_put(ip);
		ck_assert_int_eq(m.type, DIO_MAP_MAPPED);
		memset(bdev_test_data(e.bdev) + m.pblk * bs + 100, GARBAGE,
		       bs - 100);

		if (grow == 0)
			ck_assert_int_eq(set_size(&e, ino, 3 * bs), 0);
		else
			ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, 0,
						      2 * bs, bs), 0);
		memset(sh + eof, 0, 3 * bs - eof);
		expect_file(&e, ino, sh, 3 * bs,
			    grow ? "fallocate over garbage" :
				   "truncate up over garbage");
		check_consistent(&e, ino);
	}
	env_done(&e);
	free(sh);
}
END_TEST

/* ---- unwritten extents ------------------------------------------------------------- */

START_TEST(t_unwritten)
{
	const struct geom *g = &geoms[_i];
	uint64_t bs = g->fs_bs, r;
	unsigned char *sh = xalloc(16 * bs), *buf = xalloc(16 * bs);
	struct map_count mc;
	struct env e;
	uint64_t ino;

	env_init(&e, g, 32 * MiB, NULL);
	ino = mkfile(&e);

	/* KEEP_SIZE: blocks, no size, nothing to read. */
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, FALLOC_FL_KEEP_SIZE, 0,
				      8 * bs), 0);
	ck_assert_uint_eq(attr_of(&e, ino).size, 0);
	ck_assert_uint_eq(attr_of(&e, ino).blocks, 8 * bs / 512);
	ck_assert_int_eq(rd(&e, ino, 0, buf, bs), 0);
	mc = count_map(&e, ino);
	ck_assert_uint_eq(mc.pieces, 1);
	ck_assert_uint_eq(mc.unwritten, 1);

	/* Mode 0 sets the size; the blocks read as zeros, never as the
	 * device's old contents. */
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, 0, 0, 8 * bs), 0);
	ck_assert_uint_eq(attr_of(&e, ino).size, 8 * bs);
	expect_file(&e, ino, sh, 8 * bs, "preallocated");

	/* A block written in the middle splits the extent in three. */
	fill_pat(sh + 3 * bs, bs, 3 * bs, 5);
	wr_ok(&e, ino, 3 * bs, sh + 3 * bs, bs);
	mc = count_map(&e, ino);
	ck_assert_uint_eq(mc.pieces, 3);
	ck_assert_uint_eq(mc.unwritten, 2);
	expect_file(&e, ino, sh, 8 * bs, "written in the middle");
	ck_assert_int_eq(fs_lseek(e.fs, ino, 0, SEEK_DATA, &r), 0);
	ck_assert_uint_eq(r, 3 * bs);
	ck_assert_int_eq(fs_lseek(e.fs, ino, 3 * bs, SEEK_HOLE, &r), 0);
	ck_assert_uint_eq(r, 4 * bs);
	ck_assert_int_eq(fs_lseek(e.fs, ino, 4 * bs, SEEK_DATA, &r), -ENXIO);

	/* Converting the neighbours merges them back into one extent. */
	fill_pat(sh, 3 * bs, 0, 6);
	wr_ok(&e, ino, 0, sh, 3 * bs);
	mc = count_map(&e, ino);
	ck_assert_uint_eq(mc.pieces, 2);
	ck_assert_uint_eq(mc.unwritten, 1);
	/* A partial write of an unwritten block: the rest is zeros. */
	fill_pat(sh + 4 * bs + 10, 20, 9, 7);
	wr_ok(&e, ino, 4 * bs + 10, sh + 4 * bs + 10, 20);
	fill_pat(sh + 5 * bs, 3 * bs, 5 * bs, 8);
	wr_ok(&e, ino, 5 * bs, sh + 5 * bs, 3 * bs);
	mc = count_map(&e, ino);
	ck_assert_uint_eq(mc.pieces, 1);
	ck_assert_uint_eq(mc.unwritten, 0);
	expect_file(&e, ino, sh, 8 * bs, "all written");

	/* ZERO_RANGE over written data, unaligned, and past end of file. */
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, FALLOC_FL_ZERO_RANGE,
				      bs + bs / 2, 3 * bs), 0);
	memset(sh + bs + bs / 2, 0, 3 * bs);
	expect_file(&e, ino, sh, 8 * bs, "zero range");
	ck_assert_uint_eq(attr_of(&e, ino).blocks, 8 * bs / 512);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, FALLOC_FL_ZERO_RANGE,
				      7 * bs + 1, 2 * bs), 0);
	memset(sh + 7 * bs + 1, 0, bs - 1);
	expect_file(&e, ino, sh, 9 * bs + 1, "zero range past end");
	env_remount(&e);
	expect_file(&e, ino, sh, 9 * bs + 1, "zero range, remounted");
	check_consistent(&e, ino);

	/* What the interface refuses. */
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, FALLOC_FL_PUNCH_HOLE,
				      0, bs), -EOPNOTSUPP);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, FALLOC_FL_COLLAPSE_RANGE |
				      FALLOC_FL_KEEP_SIZE, 0, bs), -EOPNOTSUPP);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, 0, 0, 0), -EINVAL);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, 0, INT64_MAX, 2),
			 -EFBIG);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, DIOFS_ROOT_INO, 0, 0, bs),
			 -EISDIR);
	env_done(&e);
	free(sh);
	free(buf);
}
END_TEST

/* ---- collapse and insert range -------------------------------------------------- */

/* One collapse (or insert) of [off, off+len) that must succeed, applied to
 * the shadow sh of *size bytes too (past *size the shadow stays zero). */
static void shift_ok(struct env *e, uint64_t ino, unsigned char *sh,
		     uint64_t *size, bool collapse, uint64_t off, uint64_t len)
{
	int mode = collapse ? FALLOC_FL_COLLAPSE_RANGE : FALLOC_FL_INSERT_RANGE;
	int err = fs_fallocate(e->fs, e->ctx, ino, mode, off, len);

	ck_assert_msg(err == 0, "%s: %s %llu+%llu of %llu: %d", where,
		      collapse ? "collapse" : "insert",
		      (unsigned long long)off, (unsigned long long)len,
		      (unsigned long long)*size, err);
	if (collapse) {
		memmove(sh + off, sh + off + len, *size - off - len);
		*size -= len;
		memset(sh + *size, 0, len);
	} else {
		memmove(sh + off + len, sh + off, *size - off);
		memset(sh + off, 0, len);
		*size += len;
	}
}

/* A regular file or a FIFO named name in the root, so that fsck finds
 * every inode of the case named. */
static uint64_t mknamed(struct env *e, const char *name, mode_t mode)
{
	const struct fs_cred cred = { .uid = 1000, .gid = 100 };
	struct fs_attr a;

	ck_assert_int_eq(fs_mknod(e->fs, DIOFS_ROOT_INO, name, mode, 0, &cred,
				  &a), 0);
	fs_forget(e->fs, a.ino, 1);
	return a.ino;
}

/* Collapse and insert inside one extent, at extent edges, over holes,
 * unwritten extents and preallocation past end of file, in inline maps and
 * trees; the refusals are ext4's. */
START_TEST(t_shift)
{
	const struct geom *g = &geoms[_i];
	uint64_t bs = g->fs_bs, cap = 160 * bs, size = 16 * bs, blocks, i;
	unsigned char *sh = xalloc(cap + 64 * bs);
	struct map_count mc;
	struct env e;
	uint64_t ino, big, woff;

	env_init(&e, g, 64 * MiB, NULL);
	ino = mknamed(&e, "f", S_IFREG | 0644);
	fill_pat(sh, size, 0, 11);
	wr_ok(&e, ino, 0, sh, size);
	ck_assert_uint_eq(count_map(&e, ino).pieces, 1);

	/* Inside one extent: it splits, two blocks are freed. */
	shift_ok(&e, ino, sh, &size, true, 3 * bs, 2 * bs);
	expect_file(&e, ino, sh, size, "collapse inside an extent");
	ck_assert_uint_eq(count_map(&e, ino).pieces, 2);
	ck_assert_uint_eq(attr_of(&e, ino).blocks, 14 * bs / 512);
	check_consistent(&e, ino);

	/* An insert and the collapse of the same hole leave one extent again
	 * (rule 1: the pieces continue each other on the device). */
	shift_ok(&e, ino, sh, &size, false, 8 * bs, 3 * bs);
	expect_file(&e, ino, sh, size, "insert inside an extent");
	ck_assert_uint_eq(count_map(&e, ino).pieces, 3);
	shift_ok(&e, ino, sh, &size, true, 8 * bs, 3 * bs);
	expect_file(&e, ino, sh, size, "collapse of the inserted hole");
	ck_assert_uint_eq(count_map(&e, ino).pieces, 2);

	/* At block 0 and at an extent's edge. */
	shift_ok(&e, ino, sh, &size, false, 0, bs);
	shift_ok(&e, ino, sh, &size, true, 0, 2 * bs);
	shift_ok(&e, ino, sh, &size, false, 2 * bs, bs);
	expect_file(&e, ino, sh, size, "at 0 and at an edge");
	check_consistent(&e, ino);

	/* Unwritten blocks inside the file and past its end keep their
	 * state: they still read as zeros and count as unwritten. */
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino,
				      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      5 * bs, 4 * bs), 0);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, 0, 5 * bs, 4 * bs), 0);
	memset(sh + 5 * bs, 0, 4 * bs);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, FALLOC_FL_KEEP_SIZE,
				      size + 2 * bs, 3 * bs), 0);
	mc = count_map(&e, ino);
	ck_assert_uint_eq(mc.unwritten, 2);
	shift_ok(&e, ino, sh, &size, false, 6 * bs, 2 * bs);
	ck_assert_uint_eq(count_map(&e, ino).unwritten, 3);
	/* blocks 4 (data), 5 (unwritten) and 6 (hole) go */
	shift_ok(&e, ino, sh, &size, true, 4 * bs, 3 * bs);
	expect_file(&e, ino, sh, size, "over unwritten extents");
	mc = count_map(&e, ino);
	ck_assert_uint_eq(mc.unwritten, 2);
	/* The file ends inside a block: that block moves whole.  (The
	 * truncate frees the preallocation past end of file.) */
	ck_assert_int_eq(set_size(&e, ino, size - 100), 0);
	size -= 100;
	memset(sh + size, 0, 100);
	blocks = attr_of(&e, ino).blocks;
	shift_ok(&e, ino, sh, &size, true, bs, bs);
	shift_ok(&e, ino, sh, &size, false, size / bs * bs, 2 * bs);
	expect_file(&e, ino, sh, size, "a partial last block");
	ck_assert_uint_eq(attr_of(&e, ino).blocks, blocks - bs / 512);
	env_remount(&e);
	expect_file(&e, ino, sh, size, "remounted");
	ck_assert_uint_eq(count_map(&e, ino).unwritten, 1);
	check_consistent(&e, ino);

	/* A tree: every other block written, then shifts at random aligned
	 * places against the shadow. */
	ck_assert_int_eq(set_size(&e, ino, 0), 0);
	memset(sh, 0, cap + 64 * bs);
	for (i = 0; i < 120; i += 2) {
		fill_pat(sh + i * bs, bs, i * bs, 12);
		wr_ok(&e, ino, i * bs, sh + i * bs, bs);
	}
	size = 119 * bs;
	ck_assert_uint_ne(ext_root_of(&e, ino, NULL), 0);
	rng_state = 0xc011a95e + (uint64_t)_i;
	for (i = 0; i < 40; i++) {
		uint64_t nb = size / bs;
		uint64_t off = rnd_below(nb - 1) * bs;
		uint64_t len = (1 + rnd_below(4)) * bs;
		bool collapse = size > cap / 2 || rnd_below(2);

		if (collapse && off + len >= size)
			len = size - off - 1 < bs ? 0 : (size - off - 1) / bs * bs;
		if (!len)
			continue;
		shift_ok(&e, ino, sh, &size, collapse, off, len);
	}
	expect_file(&e, ino, sh, size, "random shifts of a tree");
	check_consistent(&e, ino);
	env_remount(&e);
	expect_file(&e, ino, sh, size, "random shifts, remounted");
	check_consistent(&e, ino);

	/* The refusals: ext4's and the VFS's, and nothing changes. */
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, FALLOC_FL_COLLAPSE_RANGE,
				      1, bs), -EINVAL);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, FALLOC_FL_INSERT_RANGE,
				      0, bs + 512), -EINVAL);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, FALLOC_FL_COLLAPSE_RANGE,
				      size / bs * bs - bs, bs), -EINVAL);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, FALLOC_FL_COLLAPSE_RANGE,
				      0, (size + bs) / bs * bs), -EINVAL);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, FALLOC_FL_INSERT_RANGE,
				      (size + bs - 1) / bs * bs, bs), -EINVAL);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, FALLOC_FL_COLLAPSE_RANGE,
				      0, 0), -EINVAL);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino,
				      FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE,
				      0, bs), -EOPNOTSUPP);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino,
				      FALLOC_FL_INSERT_RANGE | FALLOC_FL_PUNCH_HOLE,
				      0, bs), -EOPNOTSUPP);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino,
				      FALLOC_FL_INSERT_RANGE |
				      FALLOC_FL_COLLAPSE_RANGE, 0, bs),
			 -EOPNOTSUPP);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, DIOFS_ROOT_INO,
				      FALLOC_FL_COLLAPSE_RANGE, 0, bs), -EISDIR);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx,
				      mknamed(&e, "fifo", S_IFIFO | 0644),
				      FALLOC_FL_INSERT_RANGE, 0, bs), -ENODEV);
	/* An insert that would pass the largest size: -EFBIG. */
	big = mknamed(&e, "big", S_IFREG | 0644);
	woff = ((INT64_MAX - bs) / bs - 1) * bs;
	fill_pat(sh + cap, bs, woff, 13);
	wr_ok(&e, big, woff, sh + cap, bs);
	ck_assert_int_eq(set_size(&e, big, INT64_MAX - bs), 0);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, big, FALLOC_FL_INSERT_RANGE,
				      0, 2 * bs), -EFBIG);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, big, FALLOC_FL_INSERT_RANGE,
				      0, bs), 0);
	ck_assert_uint_eq(attr_of(&e, big).size, INT64_MAX);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, big, FALLOC_FL_COLLAPSE_RANGE,
				      bs, 3 * bs), 0);
	ck_assert_uint_eq(attr_of(&e, big).size, INT64_MAX - 3 * bs);
	ck_assert_int_eq(rd(&e, big, woff - 2 * bs, sh + cap + bs, bs),
			 (ssize_t)bs);
	expect_mem(sh + cap + bs, sh + cap, bs, "the block near the limit");
	expect_file(&e, ino, sh, size, "after the refusals");
	check_consistent(&e, ino);
	env_done_fsck(&e);
	free(sh);
}
END_TEST

/* ---- random operations against a shadow copy ------------------------------------- */

START_TEST(t_shadow)
{
	const struct geom *g = &geoms[_i];
	const uint64_t max = 2 * MiB;
	unsigned char *sh = xalloc(max + 256 * KiB), *buf = xalloc(max + 256 * KiB);
	uint64_t size = 0, r;
	struct env e;
	uint64_t ino;
	int op;

	env_init(&e, g, 64 * MiB, NULL);
	ino = mkfile(&e);
	rng_state = 0xfeedbeef + (uint64_t)_i;
	for (op = 0; op < 400; op++) {
		unsigned kind = (unsigned)rnd_below(110);
		uint64_t off = rnd_below(max), len = 1 + rnd_below(192 * KiB);
		ssize_t n;

		if (rnd_below(3) == 0)	/* block aligned, often */
			off &= ~(uint64_t)(g->fs_bs - 1);
		if (kind < 35) {
			fill_pat(sh + off, len, off, (unsigned)op);
			wr_ok(&e, ino, off, sh + off, len);
			if (off + len > size)
				size = off + len;
		} else if (kind < 55) {
			n = rd(&e, ino, off, buf, len);
			ck_assert_int_eq(n, off >= size ? 0 :
					 (ssize_t)(off + len > size ? size - off
								    : len));
			if (n > 0)
				expect_mem(buf, sh + off, n, "op %d read", op);
		} else if (kind < 65) {
			ck_assert_int_eq(set_size(&e, ino, off), 0);
			if (off < size)
				memset(sh + off, 0, size - off);
			size = off;
		} else if (kind < 75) {
			ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino,
						      FALLOC_FL_PUNCH_HOLE |
						      FALLOC_FL_KEEP_SIZE,
						      off, len), 0);
			if (off < size)
				memset(sh + off, 0,
				       (off + len > size ? size : off + len) - off);
		} else if (kind < 83) {
			bool keep = rnd_below(2);

			ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino,
						      FALLOC_FL_ZERO_RANGE |
						      (keep ? FALLOC_FL_KEEP_SIZE : 0),
						      off, len), 0);
			if (off < size)
				memset(sh + off, 0,
				       (off + len > size ? size : off + len) - off);
			if (!keep && off + len > size)
				size = off + len;
		} else if (kind < 93) {
			bool keep = rnd_below(2);

			ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino,
						      keep ? FALLOC_FL_KEEP_SIZE : 0,
						      off, len), 0);
			if (!keep && off + len > size)
				size = off + len;
		} else if (kind >= 100) {
			bool collapse = kind < 105;
			uint64_t bs = g->fs_bs;
			int want;

			/* aligned, mostly inside the file and a few blocks
			 * long; what ext4 refuses is refused */
			off = off / bs * bs;
			len = (1 + rnd_below(4)) * bs;
			if (size && rnd_below(4))
				off = rnd_below((size + bs - 1) / bs) * bs;
			if (collapse)
				want = off + len >= size ? -EINVAL : 0;
			else
				want = off >= size ? -EINVAL : 0;
			if (!want && !collapse && size + len > max)
				continue;	/* the shadow's room */
			if (!want) {
				shift_ok(&e, ino, sh, &size, collapse, off, len);
				continue;
			}
			ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino,
						      collapse ?
						      FALLOC_FL_COLLAPSE_RANGE :
						      FALLOC_FL_INSERT_RANGE,
						      off, len), want);
		} else {
			int whence = rnd_below(2) ? SEEK_DATA : SEEK_HOLE;
			int err = fs_lseek(e.fs, ino, off, whence, &r);

			if (off >= size) {
				ck_assert_int_eq(err, -ENXIO);
				continue;
			}
			if (whence == SEEK_DATA && err == -ENXIO)
				r = size;	/* all zeros up to the end */
			else
				ck_assert_int_eq(err, 0);
			ck_assert_uint_ge(r, off);
			ck_assert_uint_le(r, size);
			/* What is skipped reads as zeros. */
			if (whence == SEEK_DATA)
				expect_mem(sh + off, NULL, r - off,
					   "op %d SEEK_DATA skipped", op);
			else if (r < size)
				ck_assert_int_eq(sh[r], 0);
		}
		if (op % 100 == 99) {
			expect_file(&e, ino, sh, size, "shadow");
			check_consistent(&e, ino);
			bdev_test_log_clear(e.bdev);
		}
	}
	env_remount(&e);
	expect_file(&e, ino, sh, size, "shadow, remounted");
	check_consistent(&e, ino);
	env_done(&e);
	free(sh);
	free(buf);
}
END_TEST

/* ---- ENOSPC ---------------------------------------------------------------------- */

START_TEST(t_enospc)
{
	const struct geom *g = &geoms[_i];
	struct format_opts fo = { .journal_blocks = 64 };
	uint64_t chunk = 256 * KiB, free0, free1, done = 0;
	unsigned char *a = xalloc(MiB), *b = xalloc(chunk);
	struct env e;
	uint64_t ia, ib;
	ssize_t n;

	env_init(&e, g, 8 * MiB, &fo);
	ia = mkfile(&e);
	ib = mkfile(&e);
	fill_pat(a, MiB, 0, 10);
	wr_ok(&e, ia, 0, a, MiB);
	free0 = free_blocks(&e);
	fill_pat(b, chunk, 0, 11);
	for (;;) {
		n = wr(&e, ib, done, b, chunk);
		if (n < (ssize_t)chunk)
			break;
		done += chunk;
		ck_assert_uint_lt(done, 8 * MiB);
	}
	/* A short write counts what landed; a failed one says ENOSPC. */
	ck_assert_msg(n == -ENOSPC || n >= 0, "%s: write at full: %zd", where, n);
	if (n > 0)
		done += n;
	ck_assert_uint_eq(attr_of(&e, ib).size, done);
	ck_assert_uint_lt(free_blocks(&e), 2 + 16 * KiB / g->fs_bs);
	ck_assert_int_eq(wr(&e, ib, done, b, chunk), -ENOSPC);
	expect_file(&e, ia, a, MiB, "the other file at ENOSPC");
	check_consistent(&e, ib);

	/* Truncation gives every block back. */
	ck_assert_int_eq(set_size(&e, ib, 0), 0);
	free1 = free_blocks(&e);
	ck_assert_uint_eq(free1, free0);
	wr_ok(&e, ib, 0, b, chunk);
	env_remount(&e);
	expect_file(&e, ia, a, MiB, "the other file, remounted");
	expect_file(&e, ib, b, chunk, "rewritten");
	check_consistent(&e, ia);
	check_consistent(&e, ib);
	env_done(&e);
	free(a);
	free(b);
}
END_TEST

/*
 * An abort after the inode changed in memory: the fifth extent needs a
 * tree block that is not there, and the inode must come back as it was
 * (inode.h rule 7).
 */
START_TEST(t_abort_reload)
{
	const struct geom g = { 4096, 512 };
	struct format_opts fo = { .journal_blocks = 64 };
	unsigned char *buf = xalloc(MiB);
	struct inode *ip;
	struct txn *t;
	uint64_t ia, ib, done = 0, k;
	unsigned nr;
	struct env e;
	ssize_t n;
	int err;

	env_init(&e, &g, 8 * MiB, &fo);
	ia = mkfile(&e);
	ib = mkfile(&e);
	for (k = 0; k < 4; k++)
		ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ib,
					      FALLOC_FL_KEEP_SIZE,
					      2 * k * g.fs_bs, g.fs_bs), 0);
	ck_assert_uint_eq(count_map(&e, ib).pieces, 4);
	fill_pat(buf, MiB, 0, 12);
	/* Fill the device with whole blocks, then free exactly one. */
	for (;;) {
		n = wr(&e, ia, done, buf, g.fs_bs);
		if (n != (ssize_t)g.fs_bs)
			break;
		done += g.fs_bs;
	}
	ck_assert_uint_eq(free_blocks(&e), 0);
	ck_assert_int_eq(set_size(&e, ia, done - g.fs_bs), 0);
	ck_assert_uint_eq(free_blocks(&e), 1);

	ck_assert_int_eq(inode_get(e.fs, ib, &ip), 0);
	ck_assert_int_eq(fs_txn_begin(e.fs, &t), 0);
	err = extent_prealloc(t, ip, 100, 1);
	ck_assert_int_eq(err, -ENOSPC);
	ck_assert_int_eq(fs_txn_end(e.fs, t, err), -ENOSPC);
	ck_assert_uint_eq(ip->nr_extents, 4);
	ck_assert_uint_eq(ip->ext_root, 0);
	ck_assert_uint_eq(ip->blocks, 4);
	inode_put(ip);
	ck_assert_int_eq(fs_error(e.fs), 0);
	ck_assert_uint_eq(free_blocks(&e), 1);
	ck_assert_uint_eq(count_map(&e, ib).pieces, 4);
	ck_assert_uint_eq(ext_root_of(&e, ib, &nr), 0);
	ck_assert_uint_eq(nr, 4);
	check_consistent(&e, ib);
	env_remount(&e);
	check_consistent(&e, ib);
	check_consistent(&e, ia);
	env_done(&e);
	free(buf);
}
END_TEST

/* ---- the orphan list ---------------------------------------------------------- */

/* Drop ino's last link, as an unlink of an open file does. */
static void orphan(struct env *e, uint64_t ino)
{
	struct inode *ip;
	struct txn *t;
	int err;

	ck_assert_int_eq(inode_get(e->fs, ino, &ip), 0);
	ck_assert_int_eq(fs_txn_begin(e->fs, &t), 0);
	err = inode_join(t, ip);
	if (!err) {
		ip->links = 0;
		err = inode_orphan_add(t, ip);
	}
	ck_assert_int_eq(fs_txn_end(e->fs, t, err), 0);
	ck_assert_int_eq(err, 0);
	inode_put(ip);
}

START_TEST(t_orphans)
{
	const struct geom *g = &geoms[_i];
	unsigned char *buf = xalloc(256 * KiB);
	struct bdev_test_opts bo = { .block_size = g->dev_bs };
	uint64_t free0, ino[3];
	struct bdev *copy;
	struct inode *ip;
	struct env e, c;
	int i;

	env_init(&e, g, 32 * MiB, NULL);
	free0 = free_blocks(&e);
	fill_pat(buf, 256 * KiB, 0, 13);
	for (i = 0; i < 3; i++) {
		ino[i] = mkfile(&e);
		wr_ok(&e, ino[i], 0, buf, 256 * KiB);
		ck_assert_int_eq(fs_open(e.fs, ino[i], O_RDWR), 0);
		orphan(&e, ino[i]);
	}
	ck_assert_uint_eq(e.fs->sb.orphan_head, ino[2]);
	/* Still open: it lives, its data readable. */
	expect_file(&e, ino[1], buf, 256 * KiB, "open orphan");
	/* The middle of the list goes at its last close. */
	fs_release(e.fs, ino[1]);
	ck_assert_int_eq(inode_get(e.fs, ino[1], &ip), -ENOENT);
	ck_assert_uint_eq(e.fs->sb.orphan_head, ino[2]);
	ck_assert_int_eq(inode_get(e.fs, ino[2], &ip), 0);
	ck_assert_uint_eq(ip->orphan_next, ino[0]);
	inode_put(ip);

	/* A crash now, after a commit: the device as it is, without an
	 * unmount. */
	ck_assert_int_eq(fs_sync(e.fs), 0);
	bo.size = e.size;
	ck_assert_int_eq(bdev_test_create(&bo, &copy), 0);
	memcpy(bdev_test_data(copy), bdev_test_data(e.bdev), e.size);

	/* The clean unmount of the original frees the rest itself. */
	env_unmount(&e);
	env_mount(&e);
	ck_assert_uint_eq(e.fs->sb.orphan_head, 0);
	ck_assert_uint_eq(free_blocks(&e), free0);
	env_done(&e);

	/* The next mount after the crash frees both survivors. */
	c = e;
	c.bdev = copy;
	c.fs = NULL;
	env_mount(&c);
	ck_assert_uint_eq(c.fs->sb.orphan_head, 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(inode_get(c.fs, ino[i], &ip), -ENOENT);
	ck_assert_uint_eq(free_blocks(&c), free0);
	{
		char msg[256] = "";

		pthread_rwlock_rdlock(&c.fs->meta_lock);
		ck_assert_msg(alloc_check(c.fs->alloc, msg, sizeof(msg)) == 0,
			      "%s", msg);
		pthread_rwlock_unlock(&c.fs->meta_lock);
	}
	/* A number freed is handed out again, with a new generation. */
	{
		uint64_t n = mkfile(&c);

		ck_assert_uint_eq(attr_of(&c, n).size, 0);
		ck_assert_uint_ge(attr_of(&c, n).generation, 2);
	}
	env_done(&c);
	free(buf);
}
END_TEST

/* ---- attributes ------------------------------------------------------------------ */

START_TEST(t_setattr)
{
	const struct geom *g = &geoms[_i];
	struct fs_setattr sa = { 0 };
	struct fs_attr a, b;
	struct timespec t0;
	struct env e;
	uint64_t ino;
	char x = 'x';

	env_init(&e, g, 32 * MiB, NULL);
	ino = mkfile(&e);
	a = attr_of(&e, ino);
	ck_assert_uint_eq(a.ino, ino);
	ck_assert_uint_eq(a.mode, S_IFREG | 0644);
	ck_assert_uint_eq(a.nlink, 1);
	ck_assert_uint_eq(a.uid, 1000);
	ck_assert_uint_eq(a.gid, 100);
	ck_assert_uint_eq(a.blksize, g->fs_bs);
	ck_assert_uint_ge(a.generation, 1);

	sa.mask = FS_SET_MODE | FS_SET_UID | FS_SET_GID | FS_SET_ATIME |
		  FS_SET_MTIME;
	sa.mode = S_IFDIR | 04711;	/* the type bits are not the caller's */
	sa.uid = 7;
	sa.gid = 8;
	sa.atime = (struct timespec){ 1000000000, 123456789 };
	sa.mtime = (struct timespec){ -5, 999999999 };
	ck_assert_int_eq(fs_setattr(e.fs, e.ctx, ino, &sa, &b), 0);
	ck_assert_uint_eq(b.mode, S_IFREG | 04711);
	ck_assert_uint_eq(b.uid, 7);
	ck_assert_uint_eq(b.gid, 8);
	ck_assert_int_eq(b.atime.tv_sec, 1000000000);
	ck_assert_int_eq(b.atime.tv_nsec, 123456789);
	ck_assert_int_eq(b.mtime.tv_sec, -5);
	ck_assert_int_eq(b.mtime.tv_nsec, 999999999);
	ck_assert(b.ctime.tv_sec > a.ctime.tv_sec ||
		  (b.ctime.tv_sec == a.ctime.tv_sec &&
		   b.ctime.tv_nsec >= a.ctime.tv_nsec));

	env_remount(&e);
	a = attr_of(&e, ino);
	ck_assert_uint_eq(a.mode, S_IFREG | 04711);
	ck_assert_int_eq(a.atime.tv_nsec, 123456789);
	ck_assert_int_eq(a.mtime.tv_sec, -5);
	ck_assert_int_eq(a.mtime.tv_nsec, 999999999);

	/* "Now" flags and an explicit ctime. */
	clock_gettime(CLOCK_REALTIME, &t0);
	sa.mask = FS_SET_ATIME_NOW | FS_SET_MTIME_NOW | FS_SET_CTIME;
	sa.ctime = (struct timespec){ 42, 42 };
	ck_assert_int_eq(fs_setattr(e.fs, e.ctx, ino, &sa, &b), 0);
	ck_assert_int_ge(b.mtime.tv_sec, t0.tv_sec - 1);
	ck_assert_int_ge(b.atime.tv_sec, t0.tv_sec - 1);
	ck_assert_int_eq(b.ctime.tv_sec, 42);

	/* A write moves mtime and ctime (deferred, made durable by fsync). */
	sa.mask = FS_SET_MTIME;
	sa.mtime = (struct timespec){ 10, 0 };
	ck_assert_int_eq(fs_setattr(e.fs, e.ctx, ino, &sa, &b), 0);
	ck_assert_int_eq(wr(&e, ino, 0, &x, 1), 1);
	wr_ok(&e, ino, 0, &x, 1);	/* an overwrite: no size change */
	a = attr_of(&e, ino);
	ck_assert_int_ge(a.mtime.tv_sec, t0.tv_sec - 1);
	ck_assert_int_ge(a.ctime.tv_sec, t0.tv_sec - 1);
	ck_assert_int_eq(fs_fsync(e.fs, ino, false), 0);
	{
		/* Straight from the disk: drop the cached inode by remounting
		 * the copy of the device as it is now. */
		struct bdev_test_opts bo = { .size = e.size,
					     .block_size = g->dev_bs };
		struct env c = e;

		ck_assert_int_eq(bdev_test_create(&bo, &c.bdev), 0);
		memcpy(bdev_test_data(c.bdev), bdev_test_data(e.bdev), e.size);
		env_mount(&c);
		b = attr_of(&c, ino);
		ck_assert_int_eq(b.mtime.tv_sec, a.mtime.tv_sec);
		ck_assert_int_eq(b.mtime.tv_nsec, a.mtime.tv_nsec);
		env_done(&c);
	}

	/* Sizes: directories, limits, other types. */
	sa.mask = FS_SET_SIZE;
	sa.size = (uint64_t)INT64_MAX + 1;
	ck_assert_int_eq(fs_setattr(e.fs, e.ctx, ino, &sa, &b), -EFBIG);
	sa.size = (uint64_t)INT64_MAX;
	ck_assert_int_eq(fs_setattr(e.fs, e.ctx, ino, &sa, &b), 0);
	ck_assert_uint_eq(b.size, (uint64_t)INT64_MAX);
	ck_assert_uint_eq(b.blocks, (uint64_t)g->fs_bs / 512);
	ck_assert_int_eq(wr(&e, ino, INT64_MAX, &x, 1), -EFBIG);
	ck_assert_int_eq(rd(&e, ino, INT64_MAX - 1, &x, 1), 1);
	ck_assert_int_eq(x, 0);
	sa.size = 0;
	ck_assert_int_eq(fs_setattr(e.fs, e.ctx, DIOFS_ROOT_INO, &sa, &b),
			 -EISDIR);
	ck_assert_int_eq(fs_getattr(e.fs, 999999999, &a), -ENOENT);
	ck_assert_int_eq(fs_getattr(e.fs, 3, &a), -ENOENT);
	ck_assert_int_eq(fs_getattr(e.fs, ino + 1, &a), -ENOENT);
	ck_assert_int_eq(rd(&e, DIOFS_ROOT_INO, 0, &x, 1), -EISDIR);
	check_consistent(&e, ino);
	env_done(&e);
}
END_TEST

/* FS_SET_KILL_SETID: set-user-ID always, set-group-ID only when
 * group-executable, never of a directory; with nothing to clear it
 * changes nothing, ctime included.  With a size change it is one change. */
/* ---- asynchronous reads -------------------------------------------------------- */

struct done_result {
	int calls;
	ssize_t result;
};

static void note_done(void *priv, ssize_t result)
{
	struct done_result *r = priv;

	r->calls++;
	r->result = result;
}

/*
 * Reads started together on one ctx complete when it is reaped, each with
 * what fs_read() would have returned (data, a hole's zeros, short at end of
 * file, nothing past it), and fs_read_end() sets the access time; a start
 * that fails submits nothing and never calls done.
 */
START_TEST(t_read_async)
{
	const struct geom *g = &geoms[_i];
	static const struct {
		uint64_t off, len;
		ssize_t want;
	} reads[] = {
		{ 4 * KiB, 16 * KiB, 16 * KiB },	/* data */
		{ 70 * KiB, 8 * KiB, 8 * KiB },		/* the hole */
		{ 120 * KiB, 64 * KiB, 40 * KiB },	/* across end of file */
		{ 200 * KiB, 4 * KiB, 0 },		/* past it */
	};
	enum { N = sizeof(reads) / sizeof(reads[0]) };
	struct fs_setattr sa = {
		.mask = FS_SET_ATIME,
		.atime = { 1000000000, 0 },
	};
	struct done_result res[N] = { 0 }, bad = { 0 };
	unsigned char *sh = xalloc(160 * KiB), *buf[N];
	struct fs_read rd[N], rd_bad;
	struct iovec iov[N];
	struct fs_attr a;
	struct env e;
	uint64_t ino;

	env_init(&e, g, 32 * MiB, NULL);
	ino = mkfile(&e);
	fill_pat(sh, 160 * KiB, 0, 7);
	memset(sh + 64 * KiB, 0, 64 * KiB);
	wr_ok(&e, ino, 0, sh, 64 * KiB);
	wr_ok(&e, ino, 128 * KiB, sh + 128 * KiB, 32 * KiB);
	ck_assert_int_eq(fs_setattr(e.fs, e.ctx, ino, &sa, &a), 0);

	for (int i = 0; i < N; i++) {
		buf[i] = xalloc(reads[i].len);
		iov[i] = (struct iovec){ buf[i], reads[i].len };
		ck_assert_int_eq(fs_read_start(e.fs, e.ctx, ino, reads[i].off,
					       &iov[i], 1, note_done, &res[i],
					       &rd[i]), 0);
	}
	/* the test device completes nothing before it is reaped */
	ck_assert_int_eq(res[0].calls, 0);
	ck_assert_uint_ge(dio_ctx_pending(e.ctx), 1);
	ck_assert_int_ge(dio_reap(e.ctx, dio_ctx_pending(e.ctx)), 1);
	ck_assert_uint_eq(dio_ctx_pending(e.ctx), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(res[i].calls, 1);
		ck_assert_int_eq(fs_read_end(&rd[i], res[i].result),
				 reads[i].want);
		expect_mem(buf[i], sh + reads[i].off, (size_t)reads[i].want,
			   "read %d", i);
		free(buf[i]);
	}
	a = attr_of(&e, ino);
	ck_assert_int_gt(a.atime.tv_sec, 1000000000);

	/* a read the device fails ends with the error */
	buf[0] = xalloc(4 * KiB);
	iov[0] = (struct iovec){ buf[0], 4 * KiB };
	bdev_test_fail_range(e.bdev, BDEV_READ, 0, e.size, -EIO);
	ck_assert_int_eq(fs_read_start(e.fs, e.ctx, ino, 0, &iov[0], 1,
				       note_done, &res[0], &rd[0]), 0);
	ck_assert_int_ge(dio_reap(e.ctx, dio_ctx_pending(e.ctx)), 0);
	ck_assert_int_eq(res[0].calls, 2);
	ck_assert_int_eq(fs_read_end(&rd[0], res[0].result), -EIO);
	bdev_test_clear_faults(e.bdev);

	ck_assert_int_eq(fs_read_start(e.fs, e.ctx, DIOFS_ROOT_INO, 0, &iov[0],
				       1, note_done, &bad, &rd_bad), -EISDIR);
	ck_assert_int_eq(fs_read_start(e.fs, e.ctx, 999999, 0, &iov[0], 1,
				       note_done, &bad, &rd_bad), -ENOENT);
	ck_assert_int_eq(bad.calls, 0);
	ck_assert_uint_eq(dio_ctx_pending(e.ctx), 0);
	free(buf[0]);
	env_done(&e);
	free(sh);
}
END_TEST

/*
 * Writes started together: an overwrite, then an extending write that has
 * to wait for it (dio.h rule 4); fs_write_end() gives what fs_write()
 * would have, with the times moved; a failed start submits nothing.
 */
START_TEST(t_write_async)
{
	const struct geom *g = &geoms[_i];
	struct fs_setattr sa = {
		.mask = FS_SET_MTIME,
		.mtime = { 1000000000, 0 },
	};
	struct done_result res[2] = { 0 }, bad = { 0 };
	unsigned char *sh = xalloc(68 * KiB), *got = xalloc(68 * KiB);
	struct fs_write wr[2], wr_bad;
	struct iovec iov[2] = {
		{ sh + 4 * KiB, 8 * KiB },
		{ sh + 64 * KiB, 4 * KiB },
	};
	uint64_t offs[2] = { 4 * KiB, 64 * KiB };
	struct fs_attr a;
	struct env e;
	uint64_t ino;

	env_init(&e, g, 32 * MiB, NULL);
	ino = mkfile(&e);
	fill_pat(sh, 68 * KiB, 0, 3);
	wr_ok(&e, ino, 0, sh, 64 * KiB);
	fill_pat(sh + 4 * KiB, 8 * KiB, 4 * KiB, 9);
	ck_assert_int_eq(fs_setattr(e.fs, e.ctx, ino, &sa, &a), 0);

	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(fs_write_start(e.fs, e.ctx, ino, offs[i],
						&iov[i], 1, false, note_done,
						&res[i], &wr[i]), 0);
	ck_assert_int_ge(dio_reap(e.ctx, dio_ctx_pending(e.ctx)), 0);
	ck_assert_uint_eq(dio_ctx_pending(e.ctx), 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(res[i].calls, 1);
		ck_assert_int_eq(fs_write_end(e.ctx, &wr[i], res[i].result),
				 (ssize_t)iov[i].iov_len);
	}
	a = attr_of(&e, ino);
	ck_assert_uint_eq(a.size, 68 * KiB);
	ck_assert_int_gt(a.mtime.tv_sec, 1000000000);
	ck_assert_int_eq(rd(&e, ino, 0, got, 68 * KiB), (ssize_t)(68 * KiB));
	expect_mem(got, sh, 68 * KiB, "after the writes");

	/* a write the device fails ends with the error, the data unchanged */
	bdev_test_fail_range(e.bdev, BDEV_WRITE, 0, e.size, -EIO);
	ck_assert_int_eq(fs_write_start(e.fs, e.ctx, ino, 0, &iov[1], 1,
					false, note_done, &res[1], &wr[1]), 0);
	ck_assert_int_ge(dio_reap(e.ctx, dio_ctx_pending(e.ctx)), 0);
	ck_assert_int_eq(res[1].calls, 2);
	ck_assert_int_eq(fs_write_end(e.ctx, &wr[1], res[1].result), -EIO);
	bdev_test_clear_faults(e.bdev);
	ck_assert_int_eq(rd(&e, ino, 0, got, 68 * KiB), (ssize_t)(68 * KiB));
	expect_mem(got, sh, 68 * KiB, "after the failed write");

	ck_assert_int_eq(fs_write_start(e.fs, e.ctx, DIOFS_ROOT_INO, 0,
					&iov[0], 1, false, note_done, &bad,
					&wr_bad),
			 -EISDIR);
	ck_assert_int_eq(bad.calls, 0);
	ck_assert_uint_eq(dio_ctx_pending(e.ctx), 0);
	env_done(&e);
	free(sh);
	free(got);
}
END_TEST

/* The engine's count of writes answered early (fs.h, write-behind). */
static uint64_t writes_behind(struct env *e)
{
	struct stats *s = bdev_stats(e->bdev);
	uint64_t *w = xalloc(stats_words(s) * sizeof(*w));
	uint64_t n;

	stats_fold(s, w);
	n = w[STATS_WRITES_BEHIND];
	free(w);
	return n;
}

/* Start a write of len bytes of buf at off, one that may be answered
 * early, and complete it: whether it was in place. */
static bool write_in_place(struct env *e, uint64_t ino, uint64_t off,
			   unsigned char *buf, size_t len)
{
	struct done_result res = { 0 };
	struct iovec iov = { buf, len };
	struct fs_write wr;

	ck_assert_int_eq(fs_write_start(e->fs, e->ctx, ino, off, &iov, 1,
					true, note_done, &res, &wr), 0);
	ck_assert_int_ge(dio_reap(e->ctx, dio_ctx_pending(e->ctx)), 0);
	ck_assert_int_eq(res.calls, 1);
	ck_assert_int_eq(fs_write_end(e->ctx, &wr, res.result), (ssize_t)len);
	return wr.in_place;
}

/*
 * Write-behind (fs.h): only an overwrite of written blocks inside the
 * file, started with behind, is in place.  Answered early, it has its times set at once and counts
 * as written; a device error after that is kept for the file's next
 * fsync, which reports it once.
 */
START_TEST(t_write_behind)
{
	const struct geom *g = &geoms[_i];
	const uint64_t bs = g->fs_bs;
	struct fs_setattr sa = {
		.mask = FS_SET_MTIME,
		.mtime = { 1000000000, 0 },
	};
	struct fs_setattr grow = { .mask = FS_SET_SIZE, .size = 8 * bs };
	unsigned char *sh = xalloc(8 * bs), *got = xalloc(8 * bs);
	struct done_result res = { 0 };
	struct fs_write wr;
	struct iovec iov;
	struct fs_attr a;
	struct env e;
	uint64_t ino;

	env_init(&e, g, 32 * MiB, NULL);
	ino = mkfile(&e);
	ck_assert_int_eq(fs_open(e.fs, ino, O_RDWR), 0);	/* keeps it cached */
	fill_pat(sh, 8 * bs, 0, 11);
	wr_ok(&e, ino, 0, sh, 4 * bs);
	ck_assert(write_in_place(&e, ino, bs, sh + bs, bs));
	ck_assert(!write_in_place(&e, ino, bs + 100, sh + bs + 100, 200));
	ck_assert(!write_in_place(&e, ino, 4 * bs, sh + 4 * bs, bs));
	ck_assert_int_eq(fs_setattr(e.fs, e.ctx, ino, &grow, &a), 0);
	ck_assert(!write_in_place(&e, ino, 6 * bs, sh + 6 * bs, bs));
	memset(sh + 5 * bs, 0, bs);	/* the holes */
	memset(sh + 7 * bs, 0, bs);
	ck_assert_uint_eq(writes_behind(&e), 0);

	/* an overwrite started without behind is not offered */
	iov = (struct iovec){ sh, bs };
	ck_assert_int_eq(fs_write_start(e.fs, e.ctx, ino, 0, &iov, 1, false,
					note_done, &res, &wr), 0);
	ck_assert(!wr.in_place);
	ck_assert_int_ge(dio_reap(e.ctx, dio_ctx_pending(e.ctx)), 1);
	ck_assert_int_eq(fs_write_end(e.ctx, &wr, res.result), (ssize_t)bs);
	res.calls = 0;

	/* answered early: the times move before the device has the data */
	ck_assert_int_eq(fs_setattr(e.fs, e.ctx, ino, &sa, &a), 0);
	fill_pat(sh, bs, 0, 12);
	iov = (struct iovec){ sh, bs };
	ck_assert_int_eq(fs_write_start(e.fs, e.ctx, ino, 0, &iov, 1,
					true, note_done, &res, &wr), 0);
	ck_assert(wr.in_place);
	ck_assert_int_eq(res.calls, 0);
	ck_assert_int_eq(fs_write_behind(&wr), (ssize_t)bs);
	ck_assert_int_gt(attr_of(&e, ino).mtime.tv_sec, 1000000000);
	ck_assert_uint_eq(writes_behind(&e), 1);
	ck_assert_int_ge(dio_reap(e.ctx, dio_ctx_pending(e.ctx)), 1);
	ck_assert_int_eq(fs_write_end(e.ctx, &wr, res.result), (ssize_t)bs);
	ck_assert_int_eq(fs_fsync(e.fs, ino, false), 0);
	ck_assert_int_eq(rd(&e, ino, 0, got, 8 * bs), (ssize_t)(8 * bs));
	expect_mem(got, sh, 8 * bs, "after the write answered early");

	/* one that fails: its error goes to the next fsync, once */
	bdev_test_fail_range(e.bdev, BDEV_WRITE, 0, e.size, -EIO);
	iov = (struct iovec){ got, bs };
	memset(got, 0xa5, bs);
	ck_assert_int_eq(fs_write_start(e.fs, e.ctx, ino, 2 * bs, &iov, 1,
					true, note_done, &res, &wr), 0);
	ck_assert(wr.in_place);
	ck_assert_int_eq(fs_write_behind(&wr), (ssize_t)bs);
	ck_assert_int_ge(dio_reap(e.ctx, dio_ctx_pending(e.ctx)), 1);
	ck_assert_int_eq(fs_write_end(e.ctx, &wr, res.result), -EIO);
	bdev_test_clear_faults(e.bdev);
	ck_assert_int_eq(fs_fsync(e.fs, ino, true), -EIO);
	ck_assert_int_eq(fs_fsync(e.fs, ino, true), 0);
	ck_assert_int_eq(fs_error(e.fs), 0);
	ck_assert_int_eq(rd(&e, ino, 0, got, 8 * bs), (ssize_t)(8 * bs));
	expect_mem(got, sh, 8 * bs, "after the failed write");
	ck_assert_uint_eq(dio_ctx_pending(e.ctx), 0);
	fs_release(e.fs, ino);
	env_done(&e);
	free(sh);
	free(got);
}
END_TEST

START_TEST(t_kill_setid)
{
	static const struct {
		mode_t type, before, after;
	} cases[] = {
		{ S_IFREG, 06755, 00755 },
		{ S_IFREG, 04744, 00744 },
		{ S_IFREG, 02745, 02745 },	/* a locking mark: kept */
		{ S_IFREG, 02775, 00775 },
		{ S_IFREG, 00755, 00755 },
		{ S_IFDIR, 06775, 06775 },
	};
	const struct fs_cred cred = { .uid = 1000, .gid = 100 };
	const struct geom *g = &geoms[_i];
	struct fs_setattr sa = { 0 };
	struct fs_attr a, b;
	struct env e;
	uint64_t ino;
	size_t i;

	env_init(&e, g, 32 * MiB, NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%zu", i);
		if (cases[i].type == S_IFDIR)
			ck_assert_int_eq(fs_mkdir(e.fs, DIOFS_ROOT_INO, name,
						  0755, &cred, &a), 0);
		else
			ck_assert_int_eq(fs_mknod(e.fs, DIOFS_ROOT_INO, name,
						  S_IFREG | 0644, 0, &cred,
						  &a), 0);
		ino = a.ino;
		sa.mask = FS_SET_MODE | FS_SET_CTIME;
		sa.mode = cases[i].before;
		sa.ctime = (struct timespec){ 42, 0 };
		ck_assert_int_eq(fs_setattr(e.fs, e.ctx, ino, &sa, &a), 0);
		sa.mask = FS_SET_KILL_SETID;
		ck_assert_int_eq(fs_setattr(e.fs, NULL, ino, &sa, &b), 0);
		ck_assert_uint_eq(b.mode & 07777, cases[i].after);
		if (cases[i].after == cases[i].before)
			ck_assert_int_eq(b.ctime.tv_sec, 42);
		else
			ck_assert_int_gt(b.ctime.tv_sec, 42);
		fs_forget(e.fs, ino, 1);
	}

	/* A truncate that clears the bits, kept across a remount. */
	ino = mkfile(&e);
	sa.mask = FS_SET_MODE;
	sa.mode = 06711;
	ck_assert_int_eq(fs_setattr(e.fs, e.ctx, ino, &sa, &a), 0);
	sa.mask = FS_SET_SIZE | FS_SET_KILL_SETID;
	sa.size = 12345;
	ck_assert_int_eq(fs_setattr(e.fs, e.ctx, ino, &sa, &b), 0);
	ck_assert_uint_eq(b.mode, S_IFREG | 0711);
	ck_assert_uint_eq(b.size, 12345);
	ck_assert_int_eq(fs_fsync(e.fs, ino, false), 0);
	env_remount(&e);
	a = attr_of(&e, ino);
	ck_assert_uint_eq(a.mode, S_IFREG | 0711);
	ck_assert_uint_eq(a.size, 12345);
	env_done(&e);
}
END_TEST

/* ---- copy_file_range ------------------------------------------------------------ */

START_TEST(t_copy_range)
{
	const struct geom *g = &geoms[_i];
	uint64_t len = 3 * MiB + 12345;
	unsigned char *src = xalloc(len), *dst = xalloc(len + 8192);
	struct env e;
	uint64_t a, b;

	env_init(&e, g, 32 * MiB, NULL);
	a = mkfile(&e);
	b = mkfile(&e);
	fill_pat(src, len, 0, 14);
	wr_ok(&e, a, 0, src, len);
	/* Unaligned on both sides, across end of file: short. */
	ck_assert_int_eq(fs_copy_file_range(e.fs, e.ctx, a, 777, b, 4097,
					    len), len - 777);
	memcpy(dst + 4097, src + 777, len - 777);
	expect_file(&e, b, dst, 4097 + len - 777, "copy");
	ck_assert_int_eq(fs_copy_file_range(e.fs, e.ctx, a, len, b, 0, 10), 0);
	ck_assert_int_eq(fs_copy_file_range(e.fs, e.ctx, a, 0, a, 100, 200),
			 -EINVAL);
	ck_assert_int_eq(fs_copy_file_range(e.fs, e.ctx, a, 0, a, len,
					    4096), 4096);
	ck_assert_int_eq(fs_copy_file_range(e.fs, e.ctx, DIOFS_ROOT_INO, 0, b,
					    0, 1), -EISDIR);
	check_consistent(&e, b);
	env_done(&e);
	free(src);
	free(dst);
}
END_TEST

/* ---- statfs and the error state -------------------------------------------------- */

START_TEST(t_statfs_error)
{
	const struct geom *g = &geoms[_i];
	struct fs_setattr sa = { .mask = FS_SET_MODE, .mode = 0600 };
	unsigned char *buf = xalloc(MiB);
	struct statvfs st, st2;
	struct fs_attr a;
	struct env e;
	uint64_t ino;

	env_init(&e, g, 32 * MiB, NULL);
	ck_assert_int_eq(fs_statfs(e.fs, &st), 0);
	ck_assert_uint_eq(st.f_bsize, g->fs_bs);
	ck_assert_uint_eq(st.f_frsize, g->fs_bs);
	ck_assert_uint_le(st.f_blocks, 32 * MiB / g->fs_bs);
	ck_assert_uint_gt(st.f_blocks, 32 * MiB / g->fs_bs / 2);
	ck_assert_uint_le(st.f_bfree, st.f_blocks);
	ck_assert_uint_eq(st.f_bavail, st.f_bfree);
	ck_assert_uint_le(st.f_ffree, st.f_files);
	ck_assert_uint_eq(st.f_namemax, 255);
	ino = mkfile(&e);
	fill_pat(buf, MiB, 0, 15);
	wr_ok(&e, ino, 0, buf, MiB);
	ck_assert_int_eq(fs_statfs(e.fs, &st2), 0);
	ck_assert_uint_eq(st2.f_bfree, st.f_bfree - MiB / g->fs_bs);
	ck_assert_uint_eq(st2.f_ffree, st.f_ffree - 1);
	ck_assert_int_eq(fs_sync(e.fs), 0);

	/* A journal write fails: the change was made in memory, its commit
	 * fails, and the filesystem is read-only from then on, with one
	 * error. */
	bdev_test_fail_range(e.bdev, BDEV_WRITE, 0, e.size, -EIO);
	ck_assert_int_eq(fs_setattr(e.fs, e.ctx, ino, &sa, &a), 0);
	ck_assert_int_eq(fs_sync(e.fs), -EIO);
	ck_assert_int_eq(fs_error(e.fs), -EIO);
	bdev_test_clear_faults(e.bdev);
	ck_assert_int_eq(fs_setattr(e.fs, e.ctx, ino, &sa, &a), -EROFS);
	ck_assert_int_eq(wr(&e, ino, 0, buf, 10), -EROFS);
	ck_assert_int_eq(fs_fallocate(e.fs, e.ctx, ino, 0, 0, 10), -EROFS);
	ck_assert_int_eq(rd(&e, ino, 0, buf + 1, 10), 10);
	ck_assert_int_eq(fs_statfs(e.fs, &st), 0);
	ck_assert(st.f_flag & ST_RDONLY);
	ck_assert_int_eq(fs_fsync(e.fs, ino, true), -EIO);
	dio_ctx_destroy(e.ctx);
	ck_assert_int_eq(fs_unmount(e.fs), -EIO);
	e.fs = NULL;
	e.ctx = NULL;

	/* Read-only mounts refuse changes from the start. */
	{
		struct fs_mount_opts o = { .read_only = true };
		const char *msg = NULL;

		ck_assert_int_eq(fs_mount_bdev(e.bdev, &o, &e.fs, &msg), 0);
		ck_assert_int_eq(dio_ctx_create(e.bdev, NULL, &e.ctx), 0);
		ck_assert_int_eq(fs_setattr(e.fs, e.ctx, ino, &sa, &a), -EROFS);
		ck_assert_int_eq(wr(&e, ino, 0, buf, 10), -EROFS);
		ck_assert_int_eq(rd(&e, ino, 0, buf + 1, 10), 10);
	}
	env_done(&e);
	free(buf);
}
END_TEST

START_TEST(t_mount_errors)
{
	struct bdev_test_opts bo = { .size = 8 * MiB, .block_size = 512 };
	struct fs_mount_opts o = { 0 };
	const char *msg = NULL;
	struct bdev *bdev;
	struct fs *fs;

	ck_assert_int_eq(bdev_test_create(&bo, &bdev), 0);
	ck_assert_int_lt(fs_mount_bdev(bdev, &o, &fs, &msg), 0);
	ck_assert_ptr_nonnull(msg);
	ck_assert(strlen(msg) > 0 && !strchr(msg, '\n'));
	bdev_close(bdev);
	msg = NULL;
	ck_assert_int_lt(fs_mount("/nonexistent/diofs-image", &o, &fs, &msg),
			 0);
	ck_assert_ptr_nonnull(msg);
}
END_TEST

/* Change the superblock of an unmounted filesystem. */
static void sb_edit(struct env *e, uint32_t set_state, uint32_t set_ro_compat)
{
	struct super sb;
	char msg[200] = "";

	ck_assert_int_eq(super_read(e->bdev, &sb, msg, sizeof(msg)), 0);
	sb.state |= set_state;
	sb.ro_compat |= set_ro_compat;
	ck_assert_int_eq(super_write(e->bdev, &sb), 0);
}

static int mount_msg(struct env *e, const char **msg)
{
	struct fs_mount_opts o = { 0 };

	*msg = NULL;
	return fs_mount_bdev(e->bdev, &o, &e->fs, msg);
}

/* What the mount checks, and the one line each says. */
START_TEST(t_mount_checks)
{
	const struct geom *g = &geoms[_i];
	const char *msg;
	struct super sb;
	char why[200];
	uint64_t blkno;
	uint32_t off;
	struct env e;

	env_init(&e, g, 16 * MiB, NULL);
	ck_assert(!fs_read_only(e.fs));
	ck_assert_ptr_null(fs_mount_notice(e.fs));
	env_unmount(&e);

	/* The error flag: a read-write mount that says to run fsck. */
	sb_edit(&e, DIOFS_STATE_ERROR, 0);
	ck_assert_int_eq(mount_msg(&e, &msg), 0);
	ck_assert(!fs_read_only(e.fs));
	ck_assert_ptr_nonnull(fs_mount_notice(e.fs));
	ck_assert_str_eq(fs_mount_notice(e.fs),
			 "the filesystem has errors: run fsck.diofs");
	ck_assert_int_eq(fs_unmount(e.fs), 0);

	/* A read-only-compatible feature unknown here: read-only, said. */
	sb_edit(&e, 0, 0x80000000u);
	ck_assert_int_eq(mount_msg(&e, &msg), 0);
	ck_assert(fs_read_only(e.fs));
	ck_assert_ptr_nonnull(strstr(fs_mount_notice(e.fs),
				     "mounting read-only; the filesystem has errors"));
	ck_assert_int_eq(fs_unmount(e.fs), 0);
	ck_assert_int_eq(super_read(e.bdev, &sb, why, sizeof(why)), 0);
	sb.ro_compat &= ~0x80000000u;
	sb.state &= ~DIOFS_STATE_ERROR;
	ck_assert_int_eq(super_write(e.bdev, &sb), 0);

	/* A device open read-only: a read-only mount. */
	e.bdev->read_only = 1;
	ck_assert_int_eq(mount_msg(&e, &msg), 0);
	ck_assert(fs_read_only(e.fs));
	ck_assert_ptr_null(fs_mount_notice(e.fs));
	ck_assert_int_eq(fs_unmount(e.fs), 0);
	e.bdev->read_only = 0;

	/* A damaged root: refused, in one line naming fsck. */
	ck_assert_int_eq(super_inode_loc(&sb, DIOFS_ROOT_INO, &blkno, &off), 0);
	memset(bdev_test_data(e.bdev) + blkno * sb.block_size + off, 0x5A, 64);
	ck_assert_int_eq(mount_msg(&e, &msg), -EUCLEAN);
	ck_assert_str_eq(msg, "the root directory is damaged: run fsck.diofs");
	e.fs = NULL;

	/* Not a filesystem at all: says so, and what to do, with no errno
	 * text after it. */
	memset(bdev_test_data(e.bdev), 0, e.size);
	ck_assert_int_eq(mount_msg(&e, &msg), -EINVAL);
	ck_assert_ptr_nonnull(msg);
	ck_assert(!strncmp(msg, FS_NOT_DIOFS, strlen(FS_NOT_DIOFS)));
	ck_assert_ptr_nonnull(strstr(msg, ": use mkfs.diofs to make one"));
	ck_assert_ptr_null(strstr(msg, strerror(EINVAL)));
	e.fs = NULL;
	env_done(&e);
}
END_TEST

/* ---- concurrency: writers allocating under the shared lock ----------------------- */

struct writer {
	struct env *e;
	uint64_t ino;
	unsigned idx, nthreads, nblocks;
	int err;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint32_t bs = w->e->bs;
	unsigned char *blk = malloc(bs);
	struct dio_ctx *ctx;
	unsigned i;

	if (!blk || dio_ctx_create(w->e->bdev, NULL, &ctx)) {
		w->err = -ENOMEM;
		free(blk);
		return NULL;
	}
	for (i = w->idx; i < w->nblocks && !w->err; i += w->nthreads) {
		struct iovec iov = { blk, bs };
		uint64_t off = (uint64_t)i * bs;

		fill_pat(blk, bs, off, 16);
		if (fs_write(w->e->fs, ctx, w->ino, off, &iov, 1) != (ssize_t)bs)
			w->err = -EIO;
	}
	dio_ctx_destroy(ctx);
	free(blk);
	return NULL;
}

START_TEST(t_concurrent)
{
	const struct geom *g = &geoms[_i];
	enum { T = 4 };
	unsigned nblocks = g->fs_bs >= 65536 ? 64 : 512, i;
	uint64_t size = (uint64_t)nblocks * g->fs_bs;
	unsigned char *sh = xalloc(size);
	struct writer w[T];
	pthread_t th[T];
	struct env e;
	uint64_t ino;

	env_init(&e, g, 64 * MiB, NULL);
	ino = mkfile(&e);
	/* Inside end of file, whole blocks: the worker's shared lock, so
	 * the allocations race in get_block. */
	ck_assert_int_eq(set_size(&e, ino, size), 0);
	for (i = 0; i < T; i++) {
		w[i] = (struct writer){ &e, ino, i, T, nblocks, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, writer_main,
						&w[i]), 0);
	}
	for (i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(w[i].err, 0);
	}
	fill_pat(sh, size, 0, 16);
	expect_file(&e, ino, sh, size, "concurrent writers");
	ck_assert_uint_eq(count_map(&e, ino).unwritten, 0);
	check_consistent(&e, ino);
	env_remount(&e);
	expect_file(&e, ino, sh, size, "concurrent writers, remounted");
	env_done(&e);
	free(sh);
}
END_TEST

/* ---- reports and remounts ---------------------------------------------------- */

/* What the engine reported through fs_mount_opts.log. */
#define MAX_REPORTS 64
static pthread_mutex_t reports_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { int level; char line[256]; } reports[MAX_REPORTS];
static int nreports;

static void report(int level, const char *line)
{
	pthread_mutex_lock(&reports_lock);
	if (nreports < MAX_REPORTS) {
		reports[nreports].level = level;
		snprintf(reports[nreports].line, sizeof(reports[0].line), "%s",
			 line);
		nreports++;
	}
	pthread_mutex_unlock(&reports_lock);
}

/* Whether a report at level contains text. */
static bool reported(int level, const char *text)
{
	bool found = false;
	int i;

	pthread_mutex_lock(&reports_lock);
	for (i = 0; i < nreports && !found; i++)
		found = reports[i].level == level &&
			strstr(reports[i].line, text);
	pthread_mutex_unlock(&reports_lock);
	return found;
}

static void mount_with(struct env *e, bool read_only, bool log)
{
	struct fs_mount_opts o = { .read_only = read_only,
				   .log = log ? report : NULL };
	const char *msg = NULL;

	ck_assert_int_eq(fs_mount_bdev(e->bdev, &o, &e->fs, &msg), 0);
	ck_assert_int_eq(dio_ctx_create(e->bdev, NULL, &e->ctx), 0);
}

/* The engine reports a corrupt block, device errors, a journal abort and
 * the switch to read-only, each once, through the mount's hook. */
START_TEST(t_reports)
{
	const struct geom *g = &geoms[2];
	struct fs_setattr sa = { .mask = FS_SET_MODE, .mode = 0600 };
	unsigned char *buf = xalloc(64 * KiB), *dev;
	char text[64];
	struct fs_attr a;
	struct env e;
	uint64_t ino, blkno;
	uint32_t off;

	env_init(&e, g, 32 * MiB, NULL);
	ino = mkfile(&e);
	fill_pat(buf, 64 * KiB, 0, 3);
	wr_ok(&e, ino, 0, buf, 64 * KiB);
	ck_assert_int_eq(super_inode_loc(&e.fs->sb, ino, &blkno, &off), 0);
	env_unmount(&e);

	/* a flipped byte in the inode's table block */
	dev = bdev_test_data(e.bdev);
	dev[blkno * g->fs_bs + off + 8] ^= 0x40;
	nreports = 0;
	mount_with(&e, false, true);
	ck_assert_int_eq(fs_getattr(e.fs, ino, &a), -EUCLEAN);
	snprintf(text, sizeof(text), "metadata block %llu is corrupt",
		 (unsigned long long)blkno);
	ck_assert_msg(reported(LOG_ERR, text), "no report of block %llu",
		      (unsigned long long)blkno);
	env_unmount(&e);
	dev[blkno * g->fs_bs + off + 8] ^= 0x40;

	/* a read the device fails */
	nreports = 0;
	mount_with(&e, false, true);
	bdev_test_fail_range(e.bdev, BDEV_READ, 0, e.size, -EIO);
	ck_assert_int_lt(rd(&e, ino, 0, buf, 4096), 0);
	bdev_test_clear_faults(e.bdev);
	ck_assert(reported(LOG_ERR, "I/O error reading"));
	ck_assert_int_eq(nreports, 1);

	/* a commit the device fails: the journal aborts, changes stop */
	bdev_test_fail_range(e.bdev, BDEV_WRITE, 0, e.size, -EIO);
	ck_assert_int_eq(fs_setattr(e.fs, e.ctx, ino, &sa, &a), 0);
	ck_assert_int_eq(fs_sync(e.fs), -EIO);
	bdev_test_clear_faults(e.bdev);
	ck_assert(reported(LOG_ERR, "I/O error writing"));
	ck_assert(reported(LOG_CRIT, "the journal aborted a commit"));
	ck_assert(reported(LOG_CRIT, "stopped all changes"));
	dio_ctx_destroy(e.ctx);
	ck_assert_int_eq(fs_unmount(e.fs), -EIO);
	e.fs = NULL;
	e.ctx = NULL;

	/* without a hook nothing is reported, and nothing breaks */
	nreports = 0;
	mount_with(&e, false, false);
	bdev_test_fail_range(e.bdev, BDEV_READ, 0, e.size, -EIO);
	ck_assert_int_lt(rd(&e, ino, 0, buf, 4096), 0);
	bdev_test_clear_faults(e.bdev);
	ck_assert_int_eq(nreports, 0);
	env_done(&e);
	free(buf);
}
END_TEST

/* A filesystem mounted read-only becomes read-write: changes work and
 * survive the next mount, and a remount read-only writes them home. */
START_TEST(t_remount_rw)
{
	const struct geom *g = &geoms[_i];
	unsigned char *buf = xalloc(MiB), *back = xalloc(MiB);
	struct env e;
	uint64_t ino, ino2;

	env_init(&e, g, 32 * MiB, NULL);
	ino = mkfile(&e);
	fill_pat(buf, MiB, 0, 5);
	wr_ok(&e, ino, 0, buf, MiB);
	env_unmount(&e);

	mount_with(&e, true, false);
	ck_assert(fs_read_only(e.fs));
	ck_assert_int_eq(wr(&e, ino, 0, buf, 10), -EROFS);
	ck_assert_int_eq(fs_set_read_only(e.fs, false), 0);
	ck_assert(!fs_read_only(e.fs));
	ino2 = mkfile(&e);
	fill_pat(buf, MiB, 0, 6);
	wr_ok(&e, ino2, 0, buf, MiB);
	ck_assert_int_eq(fs_set_read_only(e.fs, true), 0);
	ck_assert_int_eq(wr(&e, ino2, 0, buf, 10), -EROFS);
	ck_assert_int_eq(fs_set_read_only(e.fs, false), 0);
	ck_assert_int_eq(set_size(&e, ino, 4096), 0);
	env_unmount(&e);

	env_mount(&e);
	ck_assert_uint_eq(attr_of(&e, ino).size, 4096);
	ck_assert_int_eq(rd(&e, ino2, 0, back, MiB), (ssize_t)MiB);
	expect_mem(back, buf, MiB, "ino2 after remount,rw");
	env_done(&e);
	free(buf);
	free(back);
}
END_TEST

static Suite *fs_suite(void)
{
	Suite *s = suite_create("fs");
	struct {
		const char *name;
		const TTest *fn;
		int n;
	} cases[] = {
		{ "sequential", t_sequential, NGEOMS },
		{ "tree", t_tree, NGEOMS },
		{ "many_extents", t_many_extents, 1 },
		{ "punch_truncate", t_punch_truncate, NGEOMS },
		{ "grow_over_garbage", t_grow_over_garbage, NGEOMS },
		{ "unwritten", t_unwritten, NGEOMS },
		{ "shift", t_shift, NGEOMS },
		{ "shadow", t_shadow, NGEOMS },
		{ "enospc", t_enospc, NGEOMS },
		{ "abort_reload", t_abort_reload, 1 },
		{ "orphans", t_orphans, NGEOMS },
		{ "setattr", t_setattr, NGEOMS },
		{ "read_async", t_read_async, NGEOMS },
		{ "write_async", t_write_async, NGEOMS },
		{ "write_behind", t_write_behind, NGEOMS },
		{ "kill_setid", t_kill_setid, NGEOMS },
		{ "copy_range", t_copy_range, NGEOMS },
		{ "statfs_error", t_statfs_error, NGEOMS },
		{ "mount_errors", t_mount_errors, 1 },
		{ "mount_checks", t_mount_checks, NGEOMS },
		{ "concurrent", t_concurrent, NGEOMS },
		{ "reports", t_reports, 1 },
		{ "remount_rw", t_remount_rw, NGEOMS },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_set_timeout(tc, CASE_TIMEOUT);
		tcase_add_loop_test(tc, cases[i].fn, 0, cases[i].n);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fs_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
