/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the on-disk format, the superblock and the allocators:
 * structure sizes, superblock round trips and corruption (the backup takes
 * over), formatting over every fs block size from 1 KiB to 64 KiB on
 * 512-byte and 4 KiB device sectors, block allocation (goal locality, large
 * contiguous runs, no reuse of freed blocks before commit, ENOSPC exactly
 * when full, free counts), inode allocation, and a 1 TiB sparse image
 * formatted and mounted through the real block device in seconds; and the
 * record codec: byte-exact round trips, and each check naming the field
 * it finds wrong.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "diofs/alloc.h"
#include "diofs/bdev.h"
#include "diofs/cache.h"
#include "diofs/codec.h"
#include "diofs/crc.h"
#include "diofs/format.h"
#include "diofs/super.h"

#define MiB (1024ull * 1024)
#define CACHE_BLOCKS 4096

static const uint8_t uuid1[16] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4,
				   5, 6, 7, 8, 9, 10, 11, 12 };

struct env {
	struct bdev *bdev;
	struct super sb;
	struct cache *c;
	struct alloc *a;
	char msg[256];
};

static void env_mount(struct env *e)
{
	int err;

	err = super_read(e->bdev, &e->sb, e->msg, sizeof(e->msg));
	ck_assert_msg(err == 0, "super_read: %d %s", err, e->msg);
	ck_assert_int_eq(cache_create(e->bdev, e->sb.block_size, e->sb.uuid,
				      CACHE_BLOCKS, &e->c), 0);
	ck_assert_int_eq(alloc_open(&e->sb, e->c, &e->a), 0);
}

static void env_unmount(struct env *e)
{
	alloc_close(e->a);
	cache_destroy(e->c);
	e->a = NULL;
	e->c = NULL;
}

/* A test device of size bytes with a fresh filesystem, mounted. */
static void env_make(struct env *e, uint64_t size, uint32_t dev_bs,
		     const struct format_opts *opts)
{
	struct bdev_test_opts to = { .size = size, .block_size = dev_bs };
	int err;

	memset(e, 0, sizeof(*e));
	ck_assert_int_eq(bdev_test_create(&to, &e->bdev), 0);
	err = super_format(e->bdev, opts, NULL, e->msg, sizeof(e->msg));
	ck_assert_msg(err == 0, "super_format: %d %s", err, e->msg);
	env_mount(e);
}

static void env_destroy(struct env *e)
{
	if (e->a)
		env_unmount(e);
	bdev_close(e->bdev);
}

static void check_consistent(struct env *e)
{
	char msg[256];
	int err = alloc_check(e->a, msg, sizeof(msg));

	ck_assert_msg(err == 0, "alloc_check: %s", msg);
}

static uint64_t free_blocks(struct env *e)
{
	uint64_t fb;

	alloc_counts(e->a, &fb, NULL);
	return fb;
}

static uint64_t free_inodes(struct env *e)
{
	uint64_t fi;

	alloc_counts(e->a, NULL, &fi);
	return fi;
}

/* Allocate in a transaction of its own and commit. */
static int alloc_commit(struct env *e, uint64_t goal, uint64_t min,
			uint64_t max, uint64_t *start, uint64_t *len)
{
	struct txn *t;
	int err;

	ck_assert_int_eq(txn_begin(e->c, &t), 0);
	err = alloc_blocks(e->a, t, goal, min, max, start, len);
	if (err) {
		txn_abort(t);
		return err;
	}
	ck_assert_int_eq(txn_commit(t), 0);
	return 0;
}

static void free_commit(struct env *e, uint64_t start, uint64_t len)
{
	struct txn *t;

	ck_assert_int_eq(txn_begin(e->c, &t), 0);
	ck_assert_int_eq(alloc_free(e->a, t, start, len), 0);
	ck_assert_int_eq(txn_commit(t), 0);
}

/* ---- layout -------------------------------------------------------------- */

START_TEST(test_struct_sizes)
{
	uint8_t seed[16] = { 0 }, seed2[16] = { 1 };
	uint64_t h, k;

	ck_assert_uint_eq(sizeof(struct diofs_blkhdr), 32);
	ck_assert_uint_eq(sizeof(struct diofs_super), 512);
	ck_assert_uint_eq(sizeof(struct diofs_group_desc), 64);
	ck_assert_uint_eq(sizeof(struct diofs_inode), DIOFS_INODE_SIZE);
	ck_assert_uint_eq(sizeof(struct diofs_extent), 24);
	ck_assert_uint_eq(sizeof(struct diofs_extent_val), 16);
	ck_assert_uint_eq(sizeof(struct diofs_dirent), 10);
	ck_assert_uint_eq(sizeof(struct diofs_xattr_entry), 4);
	ck_assert_uint_eq(offsetof(struct diofs_super, journal_start), 128);
	ck_assert_uint_eq(offsetof(struct diofs_super, hash_seed), 216);
	ck_assert_uint_eq(offsetof(struct diofs_inode, parent), 96);
	ck_assert_uint_eq(offsetof(struct diofs_inode, ext_root), 112);
	ck_assert_uint_eq(offsetof(struct diofs_inode, inline_data), 144);
	ck_assert_uint_eq(offsetof(struct diofs_inode, xattr), 256);

	/* two inodes fill a 1 KiB table block exactly */
	ck_assert_uint_eq(DIOFS_INODES_PER_BLOCK(1024), 2);
	ck_assert_uint_eq(32 + 2 * DIOFS_INODE_SIZE, 1024);
	ck_assert_uint_eq(DIOFS_INODES_PER_BLOCK(4096), 8);
	ck_assert_uint_eq(DIOFS_INODES_PER_BLOCK(65536), 132);
	ck_assert_uint_eq(DIOFS_BITMAP_BITS(4096), 32512);
	ck_assert_uint_eq(DIOFS_DESCS_PER_BLOCK(4096), 63);

	/* name hashing: seeded, and keys leave room for . and .. */
	h = diofs_name_hash(seed, "hello", 5);
	ck_assert_uint_eq(h, diofs_name_hash(seed, "hello", 5));
	ck_assert_uint_ne(h, diofs_name_hash(seed2, "hello", 5));
	ck_assert_uint_ne(h, diofs_name_hash(seed, "hellp", 5));
	k = diofs_dir_key(h, 7);
	ck_assert_uint_eq(k & 0xff, 7);
	ck_assert_uint_eq(diofs_dir_key(h, 0) >> 8, k >> 8);
	ck_assert_uint_ge(diofs_dir_key(0, 0), 256);
	ck_assert_uint_lt(diofs_dir_key(UINT64_MAX, 255), 1ull << 63);
}
END_TEST

/* ---- the record codec (codec.h) --------------------------------------------- */

/* The geometry of a 64 MiB filesystem of 4 KiB blocks in four groups,
 * without a device. */
static void plan_sb(struct super *sb)
{
	struct format_opts o = { .blocks_per_group = 4096 };
	char msg[256];

	ck_assert_int_eq(super_plan(64 * MiB, 512, &o, sb, msg, sizeof(msg)), 0);
	ck_assert_uint_ge(sb->group_count, 3);
}

/* Bytes that no field leaves as they were by accident. */
static void fill_pattern(void *p, size_t len, unsigned seed)
{
	uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = (uint8_t)(seed + i * 37 + (i >> 3));
}

START_TEST(test_codec_inode)
{
	struct diofs_inode d, back;
	struct codec_inode r, good;
	struct super sb;
	int i;

	plan_sb(&sb);
	/* Rule 2: every byte comes back, the reserved word included. */
	fill_pattern(&d, sizeof(d), 5);
	codec_inode_decode(&d, &r);
	memset(&back, 0, sizeof(back));
	codec_inode_encode(&r, &back);
	ck_assert_mem_eq(&back, &d, sizeof(d));

	memset(&d, 0, sizeof(d));
	d.mode = htole32(0100644);
	d.ino = htole64(42);
	d.size = htole64(12345);
	d.mtime = htole64((uint64_t)-5);
	d.mtime_nsec = htole32(999999999);
	d.ext_root = htole64(sb.blocks_count - 1);
	d.orphan_next = htole64(sb.inodes_count - 1);
	d.nr_extents = htole16(DIOFS_INLINE_EXTENTS);
	d.xattr_len = htole16(DIOFS_INLINE_XATTR);
	d.ext[1].pblk = htole64(77);
	codec_inode_decode(&d, &good);
	ck_assert_uint_eq(good.mode, 0100644);
	ck_assert_uint_eq(good.size, 12345);
	ck_assert_int_eq(good.time[CODEC_MTIME].tv_sec, -5);
	ck_assert_int_eq(good.time[CODEC_MTIME].tv_nsec, 999999999);
	ck_assert_uint_eq(le64toh(good.ext[1].pblk), 77);
	ck_assert_uint_eq(codec_inode_check(&good, 42, &sb), 0);

	/* Rule 1: each broken field is named, and only it. */
	ck_assert_uint_eq(codec_inode_check(&good, 43, &sb),
			  CODEC_BAD(CODEC_INODE_INO));
	r = good;
	r.size = (uint64_t)INT64_MAX + 1;
	ck_assert_uint_eq(codec_inode_check(&r, 42, &sb),
			  CODEC_BAD(CODEC_INODE_SIZE));
	for (i = 0; i < CODEC_TIMES; i++) {
		r = good;
		r.time[i].tv_nsec = 1000000000L;
		ck_assert_uint_eq(codec_inode_check(&r, 42, &sb),
				  CODEC_BAD(CODEC_INODE_ATIME + i));
	}
	ck_assert_str_eq(codec_inode_field_name(CODEC_INODE_ATIME + CODEC_CRTIME),
			 "crtime");
	r = good;
	r.ext_root = sb.blocks_count;
	r.xattr_root = sb.blocks_count;
	ck_assert_uint_eq(codec_inode_check(&r, 42, &sb),
			  CODEC_BAD(CODEC_INODE_EXT_ROOT) |
			  CODEC_BAD(CODEC_INODE_XATTR_ROOT));
	r = good;
	r.orphan_next = sb.inodes_count;
	r.nr_extents = DIOFS_INLINE_EXTENTS + 1;
	r.xattr_len = DIOFS_INLINE_XATTR + 1;
	ck_assert_uint_eq(codec_inode_check(&r, 42, &sb),
			  CODEC_BAD(CODEC_INODE_ORPHAN_NEXT) |
			  CODEC_BAD(CODEC_INODE_NR_EXTENTS) |
			  CODEC_BAD(CODEC_INODE_XATTR_LEN));
	ck_assert_str_eq(codec_inode_field_name(CODEC_INODE_ORPHAN_NEXT),
			 "orphan_next");
}
END_TEST

START_TEST(test_codec_extent)
{
	struct codec_extent e, good = { .lblk = 10, .pblk = 100, .len = 5,
					.flags = DIOFS_EXT_UNWRITTEN };
	struct diofs_extent_val v;
	struct diofs_extent d;
	struct super sb;

	plan_sb(&sb);
	codec_extent_encode(&good, &d);
	ck_assert_uint_eq(le64toh(d.lblk), 10);
	ck_assert_uint_eq(le32toh(d.flags), DIOFS_EXT_UNWRITTEN);
	codec_extent_decode(&d, &e);
	ck_assert_mem_eq(&e, &good, sizeof(e));
	codec_extent_val_encode(&good, &v);
	ck_assert_uint_eq(le64toh(v.pblk), 100);
	codec_extent_val_decode(10, &v, &e);
	ck_assert_mem_eq(&e, &good, sizeof(e));
	ck_assert_uint_eq(codec_extent_check(&good, &sb), 0);

	e = good;
	e.len = 0;
	ck_assert_uint_eq(codec_extent_check(&e, &sb),
			  CODEC_BAD(CODEC_EXTENT_LEN));
	e = good;
	e.flags |= 0x100;
	ck_assert_uint_eq(codec_extent_check(&e, &sb),
			  CODEC_BAD(CODEC_EXTENT_FLAGS));
	e = good;
	e.pblk = sb.blocks_count - 4;
	ck_assert_uint_eq(codec_extent_check(&e, &sb),
			  CODEC_BAD(CODEC_EXTENT_PBLK));
	e = good;
	e.lblk = UINT64_MAX - 3;
	ck_assert_uint_eq(codec_extent_check(&e, &sb),
			  CODEC_BAD(CODEC_EXTENT_LBLK));
}
END_TEST

START_TEST(test_codec_dirent)
{
	uint8_t val[CODEC_DIRENT_MAX + 8];
	struct codec_dirent e;
	size_t n;

	n = codec_dirent_encode(val, "name", 4, 1234, DIOFS_FT_REG);
	ck_assert_uint_eq(n, sizeof(struct diofs_dirent) + 4);
	ck_assert_int_eq(codec_dirent_decode(val, n, &e), 0);
	ck_assert_uint_eq(e.ino, 1234);
	ck_assert_uint_eq(e.ftype, DIOFS_FT_REG);
	ck_assert_uint_eq(e.name_len, 4);
	ck_assert_str_eq(e.name, "name");

	/* a length that disagrees with name_len, either way */
	ck_assert_int_eq(codec_dirent_decode(val, n - 1, &e), -EUCLEAN);
	ck_assert_uint_eq(e.name_len, 0);
	ck_assert_int_eq(codec_dirent_decode(val, n + 1, &e), -EUCLEAN);
	ck_assert_int_eq(codec_dirent_decode(val, 3, &e), -EUCLEAN);
	ck_assert_int_eq(codec_dirent_decode(val, CODEC_DIRENT_MAX + 1, &e),
			 -EUCLEAN);
	/* an empty name */
	n = codec_dirent_encode(val, "", 0, 1234, DIOFS_FT_REG);
	ck_assert_int_eq(codec_dirent_decode(val, n, &e), -EUCLEAN);

	ck_assert_uint_eq(codec_ftype(S_IFDIR | 0755), DIOFS_FT_DIR);
	ck_assert_uint_eq(codec_ftype(S_IFLNK | 0777), DIOFS_FT_LNK);
	ck_assert_uint_eq(codec_ftype(S_IFSOCK), DIOFS_FT_SOCK);
	ck_assert_uint_eq(codec_ftype(0170000), DIOFS_FT_UNKNOWN);
}
END_TEST

START_TEST(test_codec_xattr)
{
	uint8_t area[DIOFS_INLINE_XATTR] = { 0 }, val[64];
	struct codec_xattr x;
	size_t n, used, next;

	ck_assert_uint_eq(codec_xattr_size(3, 2), 9);
	ck_assert_uint_eq(codec_xattr_padded(3, 2), 12);
	ck_assert_uint_eq(codec_xattr_padded(4, 4), 12);

	/* an inline area of two entries, each padded to 4 */
	codec_xattr_encode(area, DIOFS_XATTR_USER, "abc", 3, "xy", 2);
	codec_xattr_encode(area + 12, DIOFS_XATTR_TRUSTED, "k", 1, NULL, 0);
	used = 12 + 8;
	ck_assert_int_eq(codec_xattr_inline(area, used, 0, &x, &next), 0);
	ck_assert_uint_eq(x.name_index, DIOFS_XATTR_USER);
	ck_assert_uint_eq(x.name_len, 3);
	ck_assert_uint_eq(x.value_len, 2);
	ck_assert_mem_eq(x.name, "abc", 3);
	ck_assert_mem_eq(x.value, "xy", 2);
	ck_assert_uint_eq(next, 12);
	ck_assert_int_eq(codec_xattr_inline(area, used, next, &x, &next), 0);
	ck_assert_uint_eq(x.value_len, 0);
	ck_assert_uint_eq(next, used);
	/* past the used part: the header, or the padding */
	ck_assert_int_eq(codec_xattr_inline(area, used, used, &x, &next),
			 -EUCLEAN);
	ck_assert_int_eq(codec_xattr_inline(area, 11, 0, &x, &next), -EUCLEAN);
	/* an empty name */
	area[1] = 0;
	ck_assert_int_eq(codec_xattr_inline(area, used, 0, &x, &next), -EUCLEAN);

	n = codec_xattr_encode(val, DIOFS_XATTR_SECURITY, "name", 4, "value", 5);
	ck_assert_uint_eq(n, 13);
	ck_assert_int_eq(codec_xattr_value(val, n, &x), 0);
	ck_assert_mem_eq(x.value, "value", 5);
	ck_assert_int_eq(codec_xattr_value(val, n + 1, &x), -EUCLEAN);
	ck_assert_int_eq(codec_xattr_value(val, 3, &x), -EUCLEAN);
}
END_TEST

START_TEST(test_codec_group)
{
	struct diofs_group_desc d, back;
	struct codec_group r, good;
	struct super sb;
	uint64_t first;

	plan_sb(&sb);
	fill_pattern(&d, sizeof(d), 9);
	codec_group_decode(&d, &r);
	codec_group_encode(&r, &back);
	ck_assert_mem_eq(&back, &d, sizeof(d));

	first = super_group_first(&sb, 1);
	memset(&good, 0, sizeof(good));
	good.block_bitmap = first;
	good.inode_bitmap = first + 1;
	good.inode_table = first + 2;
	good.free_blocks = (uint32_t)(super_group_len(&sb, 1) -
				      super_group_meta(&sb));
	good.free_inodes = sb.inodes_per_group;
	good.itable_init = sb.itable_blocks;
	good.flags = CODEC_GROUP_KNOWN_FLAGS;
	ck_assert_uint_eq(codec_group_check(&good, 1, &sb), 0);
	ck_assert_uint_eq(codec_group_check(&good, 2, &sb),
			  CODEC_BAD(CODEC_GROUP_LAYOUT));
	r = good;
	r.free_blocks++;
	r.free_inodes++;
	ck_assert_uint_eq(codec_group_check(&r, 1, &sb),
			  CODEC_BAD(CODEC_GROUP_FREE_BLOCKS) |
			  CODEC_BAD(CODEC_GROUP_FREE_INODES));
	r = good;
	r.itable_init++;
	r.flags |= 0x10;
	ck_assert_uint_eq(codec_group_check(&r, 1, &sb),
			  CODEC_BAD(CODEC_GROUP_ITABLE_INIT) |
			  CODEC_BAD(CODEC_GROUP_FLAGS));
}
END_TEST

/* ---- superblock ------------------------------------------------------------ */

START_TEST(test_sb_roundtrip)
{
	struct format_opts o = { .label = "scratch", .uuid = uuid1,
				 .root_uid = 1000, .root_gid = 100 };
	struct super planned, got;
	struct env e;
	char msg[256];

	env_make(&e, 64 * MiB, 512, &o);
	ck_assert_int_eq(super_plan(64 * MiB, 512, &o, &planned, msg,
				    sizeof(msg)), 0);
	ck_assert_str_eq(e.sb.label, "scratch");
	ck_assert_mem_eq(e.sb.uuid, uuid1, 16);
	ck_assert_uint_eq(e.sb.version, DIOFS_VERSION);
	ck_assert_uint_eq(e.sb.block_size, 4096);
	ck_assert_uint_eq(e.sb.blocks_count, 64 * MiB / 4096);
	ck_assert_uint_eq(e.sb.backup_blkno, e.sb.blocks_count - 1);
	ck_assert_uint_eq(e.sb.group_count, planned.group_count);
	ck_assert_uint_eq(e.sb.inodes_count, planned.inodes_count);
	ck_assert_uint_eq(e.sb.compat & DIOFS_FEAT_COMPAT_JOURNAL,
			  DIOFS_FEAT_COMPAT_JOURNAL);
	/* the journal area is reserved between the table and group 0 */
	ck_assert_uint_ge(e.sb.journal_blocks, 1024);
	ck_assert_uint_eq(e.sb.journal_start, 1 + e.sb.gdt_blocks);
	ck_assert_uint_eq(e.sb.group_start,
			  e.sb.journal_start + e.sb.journal_blocks);
	ck_assert_int_eq(e.sb.from_backup, 0);
	ck_assert_int_eq(e.sb.read_only, 0);
	/* the free counts recomputed at mount match the plan */
	ck_assert_uint_eq(e.sb.free_blocks, planned.free_blocks);
	ck_assert_uint_eq(e.sb.free_inodes, planned.free_inodes);
	env_unmount(&e);

	e.sb.mount_count = 7;
	strcpy(e.sb.label, "renamed");
	ck_assert_int_eq(super_write(e.bdev, &e.sb), 0);
	ck_assert_int_eq(super_read(e.bdev, &got, msg, sizeof(msg)), 0);
	ck_assert_uint_eq(got.mount_count, 7);
	ck_assert_str_eq(got.label, "renamed");
	ck_assert_int_eq(super_read_at(e.bdev, 4096, got.backup_blkno, &got,
				       msg, sizeof(msg)), 0);
	ck_assert_str_eq(got.label, "renamed");
	ck_assert_int_eq(got.from_backup, 1);
	ck_assert_int_eq(super_probe(e.bdev), 1);
	env_destroy(&e);
}
END_TEST

START_TEST(test_sb_update_in_txn)
{
	struct format_opts o = { 0 };
	struct super got;
	struct txn *t;
	struct env e;
	char msg[256];

	env_make(&e, 32 * MiB, 512, &o);
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	e.sb.state |= DIOFS_STATE_DIRTY;
	e.sb.mount_count++;
	ck_assert_int_eq(super_update(&e.sb, e.c, t), 0);
	ck_assert_int_eq(txn_commit(t), 0);
	ck_assert_int_eq(super_read(e.bdev, &got, msg, sizeof(msg)), 0);
	ck_assert_uint_eq(got.state, DIOFS_STATE_DIRTY);
	ck_assert_uint_eq(got.mount_count, 1);
	ck_assert_int_eq(super_read_at(e.bdev, got.block_size,
				       got.backup_blkno, &got, msg,
				       sizeof(msg)), 0);
	ck_assert_uint_eq(got.mount_count, 1);

	/* an aborted update leaves the device alone */
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	e.sb.mount_count = 99;
	ck_assert_int_eq(super_update(&e.sb, e.c, t), 0);
	txn_abort(t);
	ck_assert_int_eq(super_read(e.bdev, &got, msg, sizeof(msg)), 0);
	ck_assert_uint_eq(got.mount_count, 1);
	env_destroy(&e);
}
END_TEST

START_TEST(test_sb_backup_used)
{
	struct format_opts o = { .label = "bk", .block_size = 2048 };
	struct env e;
	struct super got;
	unsigned char *data;
	char msg[256];

	env_make(&e, 48 * MiB, 512, &o);
	env_unmount(&e);
	data = bdev_test_data(e.bdev);

	/* a flipped byte in the primary: the checksum catches it */
	data[300] ^= 0x40;
	ck_assert_int_eq(super_read(e.bdev, &got, msg, sizeof(msg)), 0);
	ck_assert_int_eq(got.from_backup, 1);
	ck_assert_str_eq(got.label, "bk");
	ck_assert_ptr_nonnull(strstr(msg, "checksum mismatch"));
	ck_assert_ptr_nonnull(strstr(msg, "backup"));

	/* a primary wiped out entirely: the backup is found at the end */
	memset(data, 0, 4096);
	ck_assert_int_eq(super_read(e.bdev, &got, msg, sizeof(msg)), 0);
	ck_assert_int_eq(got.from_backup, 1);
	ck_assert_uint_eq(got.block_size, 2048);

	/* mounting from the backup, then rewriting both copies repairs it */
	ck_assert_int_eq(super_write(e.bdev, &got), 0);
	ck_assert_int_eq(super_read(e.bdev, &got, msg, sizeof(msg)), 0);
	ck_assert_int_eq(got.from_backup, 0);

	/* both copies damaged */
	data[300] ^= 0x40;
	data[e.sb.backup_blkno * 2048 + 300] ^= 0x40;
	ck_assert_int_eq(super_read(e.bdev, &got, msg, sizeof(msg)),
			 -EUCLEAN);
	ck_assert_ptr_nonnull(strstr(msg, "checksum mismatch"));
	ck_assert_ptr_null(strchr(msg, '\n'));
	env_destroy(&e);
}
END_TEST

START_TEST(test_sb_not_diofs)
{
	struct bdev_test_opts to = { .size = 8 * MiB, .block_size = 512 };
	struct bdev *bdev;
	struct super sb;
	char msg[256];

	ck_assert_int_eq(bdev_test_create(&to, &bdev), 0);
	memset(bdev_test_data(bdev), 0x5a, 8 * MiB);
	ck_assert_int_eq(super_read(bdev, &sb, msg, sizeof(msg)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(msg, "not a diofs filesystem"));
	ck_assert_int_eq(super_probe(bdev), 0);
	bdev_close(bdev);
}
END_TEST

START_TEST(test_sb_unsupported)
{
	struct format_opts o = { 0 };
	struct super sb, got;
	struct env e;
	char msg[256];

	env_make(&e, 32 * MiB, 512, &o);
	env_unmount(&e);
	sb = e.sb;

	sb.version = DIOFS_VERSION + 1;
	ck_assert_int_eq(super_write(e.bdev, &sb), 0);
	ck_assert_int_eq(super_read(e.bdev, &got, msg, sizeof(msg)),
			 -EOPNOTSUPP);
	ck_assert_ptr_nonnull(strstr(msg, "unsupported diofs version"));

	sb.version = DIOFS_VERSION;
	sb.incompat = 0x80000000u;
	ck_assert_int_eq(super_write(e.bdev, &sb), 0);
	ck_assert_int_eq(super_read(e.bdev, &got, msg, sizeof(msg)),
			 -EOPNOTSUPP);
	ck_assert_ptr_nonnull(strstr(msg, "unsupported diofs features"));

	/* an unknown ro_compat feature: readable, read-only */
	sb.incompat = 0;
	sb.ro_compat = 0x40000000u;
	ck_assert_int_eq(super_write(e.bdev, &sb), 0);
	ck_assert_int_eq(super_read(e.bdev, &got, msg, sizeof(msg)), 0);
	ck_assert_int_eq(got.read_only, 1);

	/* an unknown compat feature changes nothing */
	sb.ro_compat = 0;
	sb.compat |= 0x80000000u;
	ck_assert_int_eq(super_write(e.bdev, &sb), 0);
	ck_assert_int_eq(super_read(e.bdev, &got, msg, sizeof(msg)), 0);
	ck_assert_int_eq(got.read_only, 0);
	env_destroy(&e);
}
END_TEST

START_TEST(test_sb_device_too_small)
{
	struct bdev_test_opts to = { .size = 16 * MiB, .block_size = 512 };
	struct format_opts o = { 0 };
	struct bdev *small;
	struct super got;
	struct env e;
	char msg[256];

	env_make(&e, 32 * MiB, 512, &o);
	env_unmount(&e);
	ck_assert_int_eq(bdev_test_create(&to, &small), 0);
	memcpy(bdev_test_data(small), bdev_test_data(e.bdev), 16 * MiB);
	ck_assert_int_eq(super_read(small, &got, msg, sizeof(msg)), -EFBIG);
	ck_assert_ptr_nonnull(strstr(msg, "device smaller than the filesystem"));
	bdev_close(small);

	/* and formatting asks for more than the device has */
	o.size = 64 * MiB;
	ck_assert_int_eq(super_format(e.bdev, &o, NULL, msg, sizeof(msg)),
			 -EFBIG);
	o.size = 0;
	o.block_size = 3000;
	ck_assert_int_eq(super_format(e.bdev, &o, NULL, msg, sizeof(msg)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(msg, "block size"));
	env_destroy(&e);
}
END_TEST

/* ---- every block size on both sector sizes ---------------------------------- */

static const struct { uint32_t bs, dev_bs; } matrix[] = {
	{ 1024, 512 }, { 2048, 512 }, { 4096, 512 }, { 8192, 512 },
	{ 16384, 512 }, { 32768, 512 }, { 65536, 512 },
	{ 1024, 4096 }, { 2048, 4096 }, { 4096, 4096 }, { 8192, 4096 },
	{ 16384, 4096 }, { 32768, 4096 }, { 65536, 4096 },
};
#define NMATRIX (int)(sizeof(matrix) / sizeof(matrix[0]))

START_TEST(test_format_matrix)
{
	struct bdev_test_opts to = { .size = 96 * MiB,
				     .block_size = matrix[_i].dev_bs };
	struct format_opts o = { .block_size = matrix[_i].bs };
	uint64_t blkno, start, len, ino, fb;
	const struct diofs_inode *root;
	struct mbuf *b;
	uint32_t off;
	struct txn *t;
	struct env e;
	int err;

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(bdev_test_create(&to, &e.bdev), 0);
	err = super_format(e.bdev, &o, NULL, e.msg, sizeof(e.msg));
	if (matrix[_i].bs < matrix[_i].dev_bs) {
		/* an fs block must be whole device sectors */
		ck_assert_int_eq(err, -EINVAL);
		ck_assert_ptr_nonnull(strstr(e.msg, "smaller than the device"));
		bdev_close(e.bdev);
		return;
	}
	ck_assert_msg(err == 0, "format: %s", e.msg);
	env_mount(&e);
	ck_assert_uint_eq(e.sb.block_size, matrix[_i].bs);
	ck_assert_uint_eq(e.sb.blocks_count, 96 * MiB / matrix[_i].bs);
	ck_assert_uint_eq(e.sb.inodes_per_block,
			  DIOFS_INODES_PER_BLOCK(matrix[_i].bs));
	check_consistent(&e);

	/* the root directory */
	ck_assert_int_eq(super_inode_loc(&e.sb, DIOFS_ROOT_INO, &blkno, &off),
			 0);
	ck_assert_int_eq(cache_read(e.c, blkno, DIOFS_MAGIC_ITABLE, &b), 0);
	root = (const struct diofs_inode *)((uint8_t *)b->data + off);
	ck_assert_uint_eq(le32toh(root->mode), S_IFDIR | 0755);
	ck_assert_uint_eq(le64toh(root->ino), DIOFS_ROOT_INO);
	ck_assert_uint_eq(le32toh(root->links), 2);
	ck_assert_uint_eq(le64toh(root->parent), DIOFS_ROOT_INO);
	ck_assert_uint_eq(le64toh(root->ext_root), 0);
	cache_release(e.c, b);
	ck_assert_int_eq(alloc_inode_in_use(e.a, DIOFS_ROOT_INO), 1);
	ck_assert_int_eq(alloc_block_in_use(e.a, 0), 1);

	/* allocate, remount, find it all again */
	fb = free_blocks(&e);
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(alloc_blocks(e.a, t, 0, 1, 64, &start, &len), 0);
	ck_assert_int_eq(alloc_inode(e.a, t, DIOFS_ROOT_INO, 0, &ino), 0);
	ck_assert_int_eq(txn_commit(t), 0);
	ck_assert_uint_eq(len, 64);
	ck_assert_uint_eq(ino, DIOFS_FIRST_INO);
	env_unmount(&e);
	env_mount(&e);
	ck_assert_uint_eq(free_blocks(&e), fb - 64);
	ck_assert_int_eq(alloc_block_in_use(e.a, start), 1);
	ck_assert_int_eq(alloc_block_in_use(e.a, start + 63), 1);
	ck_assert_int_eq(alloc_inode_in_use(e.a, ino), 1);
	ck_assert_int_eq(super_inode_loc(&e.sb, ino, &blkno, &off), 0);
	ck_assert_int_eq(cache_read(e.c, blkno, DIOFS_MAGIC_ITABLE, &b), 0);
	cache_release(e.c, b);
	check_consistent(&e);
	env_destroy(&e);
}
END_TEST

/* ---- block allocation ---------------------------------------------------------- */

/* 64 MiB of 4 KiB blocks in groups of 1024 blocks: about 15 groups. */
static void env_groups(struct env *e)
{
	struct format_opts o = { .blocks_per_group = 1024 };

	env_make(e, 64 * MiB, 512, &o);
	ck_assert_uint_ge(e->sb.group_count, 10);
}

START_TEST(test_alloc_goal)
{
	uint64_t goal, start, len, s2, l2, g;
	struct env e;

	env_groups(&e);
	/* a goal in the middle of group 5: taken exactly */
	g = 5;
	goal = super_group_first(&e.sb, g) + super_group_meta(&e.sb) + 100;
	ck_assert_int_eq(alloc_commit(&e, goal, 1, 10, &start, &len), 0);
	ck_assert_uint_eq(start, goal);
	ck_assert_uint_eq(len, 10);
	/* the next one continues it */
	ck_assert_int_eq(alloc_commit(&e, start + len, 1, 10, &s2, &l2), 0);
	ck_assert_uint_eq(s2, start + len);
	/* a taken goal: the nearest run after it in the same group */
	ck_assert_int_eq(alloc_commit(&e, goal, 1, 10, &s2, &l2), 0);
	ck_assert_uint_eq(super_group_of(&e.sb, s2), g);
	ck_assert_uint_eq(s2, goal + 20);
	/* a goal in another group stays there */
	goal = super_group_first(&e.sb, 8) + 500;
	ck_assert_int_eq(alloc_commit(&e, goal, 1, 1, &s2, &l2), 0);
	ck_assert_uint_eq(s2, goal);
	/* a goal outside every group: group 0 */
	ck_assert_int_eq(alloc_commit(&e, 0, 1, 1, &s2, &l2), 0);
	ck_assert_uint_eq(super_group_of(&e.sb, s2), 0);
	check_consistent(&e);
	env_destroy(&e);
}
END_TEST

START_TEST(test_alloc_contiguous)
{
	uint64_t start, len, next, s, l, cap, fb;
	struct env e;
	int i;

	env_groups(&e);
	cap = e.sb.blocks_per_group - super_group_meta(&e.sb);
	fb = free_blocks(&e);
	/* more than a group holds: one whole group's data area */
	ck_assert_int_eq(alloc_commit(&e, 0, 1, 100000, &start, &len), 0);
	ck_assert_uint_eq(len, cap);
	ck_assert_uint_eq(free_blocks(&e), fb - cap);

	/* a file written sequentially: every piece continues the last */
	ck_assert_int_eq(alloc_commit(&e, 0, 1, 64, &start, &len), 0);
	next = start + len;
	for (i = 0; i < 8; i++) {
		ck_assert_int_eq(alloc_commit(&e, next, 1, 64, &s, &l), 0);
		ck_assert_uint_eq(s, next);
		ck_assert_uint_eq(l, 64);
		next = s + l;
	}

	/* a hole of 5 in a full group 2: a request it cannot satisfy whole
	 * goes on to the next group with room, one it can takes the hole */
	s = super_group_first(&e.sb, 2) + super_group_meta(&e.sb);
	ck_assert_int_eq(alloc_commit(&e, s, cap, cap, &start, &len), 0);
	ck_assert_uint_eq(start, s);
	free_commit(&e, s + 10, 5);
	ck_assert_int_eq(alloc_commit(&e, s, 1, 100, &start, &len), 0);
	ck_assert_uint_eq(super_group_of(&e.sb, start), 3);
	ck_assert_uint_eq(len, 100);
	ck_assert_int_eq(alloc_commit(&e, s, 1, 5, &start, &len), 0);
	ck_assert_uint_eq(start, s + 10);
	ck_assert_uint_eq(len, 5);

	/* only short runs left anywhere: min is what counts */
	free_commit(&e, s + 10, 5);
	while (alloc_commit(&e, 0, 6, cap, &start, &len) == 0)
		;
	ck_assert_int_eq(alloc_commit(&e, 0, 1, 100, &start, &len), 0);
	ck_assert_uint_eq(start, s + 10);
	ck_assert_uint_eq(len, 5);
	check_consistent(&e);
	env_destroy(&e);
}
END_TEST

START_TEST(test_alloc_reuse_after_commit)
{
	uint64_t start, len, s, l, fb;
	struct txn *t;
	struct env e;

	env_groups(&e);
	ck_assert_int_eq(alloc_commit(&e, 0, 16, 16, &start, &len), 0);
	fb = free_blocks(&e);

	/* freed in t: free for statfs, but busy (not handed out again)
	 * while t is open */
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(alloc_free(e.a, t, start, len), 0);
	ck_assert_uint_eq(free_blocks(&e), fb + len);
	ck_assert_uint_eq(alloc_busy(e.a), len);
	ck_assert_int_eq(alloc_blocks(e.a, t, start, 1, 16, &s, &l), 0);
	ck_assert(s >= start + len || s + l <= start);
	ck_assert_int_eq(txn_commit(t), 0);
	ck_assert_uint_eq(alloc_busy(e.a), 0);
	ck_assert_uint_eq(free_blocks(&e), fb + 16 - l);

	/* after the commit they are */
	ck_assert_int_eq(alloc_commit(&e, start, 1, 16, &s, &l), 0);
	ck_assert_uint_eq(s, start);
	ck_assert_uint_eq(l, 16);

	/* a free that aborts frees nothing */
	fb = free_blocks(&e);
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(alloc_free(e.a, t, start, 16), 0);
	txn_abort(t);
	ck_assert_int_eq(alloc_block_in_use(e.a, start), 1);
	ck_assert_uint_eq(free_blocks(&e), fb);
	check_consistent(&e);

	/* an allocation that aborts allocates nothing, even in a group it
	 * initialized */
	s = super_group_first(&e.sb, 9) + super_group_meta(&e.sb);
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(alloc_blocks(e.a, t, s, 1, 50, &start, &len), 0);
	ck_assert_uint_eq(start, s);
	ck_assert_uint_eq(free_blocks(&e), fb - 50);
	txn_abort(t);
	ck_assert_uint_eq(free_blocks(&e), fb);
	ck_assert_int_eq(alloc_block_in_use(e.a, s), 0);
	check_consistent(&e);
	ck_assert_int_eq(alloc_commit(&e, s, 1, 50, &start, &len), 0);
	ck_assert_uint_eq(start, s);

	/* double frees and frees of metadata are refused */
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(alloc_free(e.a, t, s + 50, 1), -EUCLEAN);
	ck_assert_int_eq(alloc_free(e.a, t, super_group_first(&e.sb, 9), 1),
			 -EINVAL);
	ck_assert_int_eq(alloc_free(e.a, t, 0, 1), -EINVAL);
	ck_assert_int_eq(alloc_blocks(e.a, t, 0, 0, 1, &s, &l), -EINVAL);
	txn_abort(t);
	ck_assert_int_eq(alloc_error(e.a), 0);
	check_consistent(&e);
	env_destroy(&e);
}
END_TEST

START_TEST(test_lazy_groups)
{
	uint64_t first, start, len, blkno;
	const struct diofs_group_desc *d;
	const struct diofs_blkhdr *h;
	unsigned char *data;
	uint32_t off, bs;
	struct env e;

	env_groups(&e);
	data = bdev_test_data(e.bdev);
	bs = e.sb.block_size;
	first = super_group_first(&e.sb, 5);
	/* mkfs wrote nothing in group 5 */
	h = (const struct diofs_blkhdr *)(data + first * bs);
	ck_assert_uint_eq(h->magic, 0);
	super_desc_loc(&e.sb, 5, &blkno, &off);
	d = (const struct diofs_group_desc *)(data + blkno * bs + off);
	ck_assert_uint_eq(le32toh(d->flags),
			  DIOFS_BG_BLOCK_UNINIT | DIOFS_BG_INODE_UNINIT);
	ck_assert_int_eq(alloc_block_in_use(e.a, first + 2), 1);
	ck_assert_int_eq(alloc_block_in_use(e.a, first + super_group_meta(&e.sb)),
			 0);

	/* the first allocation there writes its bitmap */
	ck_assert_int_eq(alloc_commit(&e, first, 1, 3, &start, &len), 0);
	ck_assert_uint_eq(start, first + super_group_meta(&e.sb));
	ck_assert_uint_eq(le32toh(h->magic), DIOFS_MAGIC_BBITMAP);
	ck_assert_uint_eq(le32toh(d->flags), DIOFS_BG_INODE_UNINIT);
	ck_assert_uint_eq(le32toh(d->free_blocks),
			  super_group_len(&e.sb, 5) - super_group_meta(&e.sb) - 3);
	check_consistent(&e);
	env_unmount(&e);

	/* a descriptor that contradicts the geometry is caught at mount,
	 * even with a good checksum */
	((struct diofs_group_desc *)d)->free_blocks = htole32(1u << 30);
	blkhdr_stamp(data + blkno * bs, bs, DIOFS_MAGIC_GDT, blkno, e.sb.uuid);
	ck_assert_int_eq(cache_create(e.bdev, bs, e.sb.uuid, CACHE_BLOCKS,
				      &e.c), 0);
	ck_assert_int_eq(alloc_open(&e.sb, e.c, &e.a), -EUCLEAN);
	cache_destroy(e.c);
	/* and a flipped bit by its checksum */
	((struct diofs_group_desc *)d)->free_blocks = htole32(1);
	ck_assert_int_eq(cache_create(e.bdev, bs, e.sb.uuid, CACHE_BLOCKS,
				      &e.c), 0);
	ck_assert_int_eq(alloc_open(&e.sb, e.c, &e.a), -EUCLEAN);
	cache_destroy(e.c);
	e.c = NULL;
	e.a = NULL;
	env_destroy(&e);
}
END_TEST

START_TEST(test_alloc_enospc)
{
	struct format_opts o = { .blocks_per_group = 256 };
	uint64_t total, got = 0, start, len, first = 0;
	struct txn *t;
	struct env e;
	int err, n = 0;

	env_make(&e, 8 * MiB, 512, &o);
	total = free_blocks(&e);
	ck_assert_uint_eq(total, e.sb.free_blocks);
	ck_assert_uint_gt(total, 0);
	/* odd sizes, so the runs do not divide the groups evenly */
	while ((err = alloc_commit(&e, 0, 1, 37, &start, &len)) == 0) {
		if (!n++)
			first = start;
		got += len;
		ck_assert_uint_eq(free_blocks(&e), total - got);
	}
	ck_assert_int_eq(err, -ENOSPC);
	ck_assert_uint_eq(got, total);
	ck_assert_uint_eq(free_blocks(&e), 0);
	check_consistent(&e);

	/* freed, but the same transaction cannot have it back */
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(alloc_free(e.a, t, first, 1), 0);
	ck_assert_int_eq(alloc_blocks(e.a, t, 0, 1, 1, &start, &len),
			 -ENOSPC);
	ck_assert_int_eq(txn_commit(t), 0);
	ck_assert_uint_eq(free_blocks(&e), 1);
	ck_assert_int_eq(alloc_commit(&e, 0, 1, 8, &start, &len), 0);
	ck_assert_uint_eq(start, first);
	ck_assert_uint_eq(len, 1);
	ck_assert_int_eq(alloc_commit(&e, 0, 1, 1, &start, &len), -ENOSPC);

	/* the counts survive a remount */
	env_unmount(&e);
	env_mount(&e);
	ck_assert_uint_eq(free_blocks(&e), 0);
	ck_assert_uint_eq(e.sb.free_blocks, 0);
	check_consistent(&e);
	env_destroy(&e);
}
END_TEST

/* ---- inode allocation ------------------------------------------------------------ */

START_TEST(test_inode_alloc)
{
	struct format_opts o = { .blocks_per_group = 1024, .inodes = 400 };
	uint64_t ino, ino2, d1, d2, child, fi, ipg, n, last = 0;
	struct txn *t;
	struct env e;
	int err;

	env_make(&e, 64 * MiB, 512, &o);
	ipg = e.sb.inodes_per_group;
	fi = free_inodes(&e);
	ck_assert_uint_eq(fi, e.sb.inodes_count - DIOFS_FIRST_INO);

	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(alloc_inode(e.a, t, DIOFS_ROOT_INO, 0, &ino), 0);
	ck_assert_int_eq(alloc_inode(e.a, t, DIOFS_ROOT_INO, 0, &ino2), 0);
	ck_assert_int_eq(txn_commit(t), 0);
	ck_assert_uint_eq(ino, DIOFS_FIRST_INO);
	ck_assert_uint_eq(ino2, DIOFS_FIRST_INO + 1);
	ck_assert_uint_eq(free_inodes(&e), fi - 2);

	/* freed numbers come back at once */
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(alloc_inode_free(e.a, t, ino, 0), 0);
	ck_assert_int_eq(alloc_inode(e.a, t, DIOFS_ROOT_INO, 0, &n), 0);
	ck_assert_uint_eq(n, ino);
	ck_assert_int_eq(alloc_inode_free(e.a, t, DIOFS_ROOT_INO, 1), -EINVAL);
	ck_assert_int_eq(alloc_inode_free(e.a, t, e.sb.inodes_count, 0),
			 -EINVAL);
	ck_assert_int_eq(txn_commit(t), 0);

	/* top-level directories spread out; what is made in them stays */
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(alloc_inode(e.a, t, DIOFS_ROOT_INO, 1, &d1), 0);
	ck_assert_int_eq(alloc_inode(e.a, t, DIOFS_ROOT_INO, 1, &d2), 0);
	ck_assert_int_eq(alloc_inode(e.a, t, d2, 0, &child), 0);
	ck_assert_int_eq(txn_commit(t), 0);
	ck_assert_uint_ne(d1 / ipg, 0);
	ck_assert_uint_ne(d1 / ipg, d2 / ipg);
	ck_assert_uint_eq(child / ipg, d2 / ipg);
	ck_assert_uint_eq(child, d2 + 1);
	ck_assert_uint_eq(super_inode_group(&e.sb, child), d2 / ipg);
	check_consistent(&e);

	/* fill everything: ENOSPC exactly when the count says so */
	fi = free_inodes(&e);
	for (n = 0;; n++) {
		ck_assert_int_eq(txn_begin(e.c, &t), 0);
		err = alloc_inode(e.a, t, child, 0, &ino);
		if (err) {
			txn_abort(t);
			break;
		}
		ck_assert_int_eq(txn_commit(t), 0);
		ck_assert_int_eq(alloc_inode_in_use(e.a, ino), 1);
		last = ino;
	}
	ck_assert_int_eq(err, -ENOSPC);
	ck_assert_uint_eq(n, fi);
	ck_assert_uint_eq(free_inodes(&e), 0);
	check_consistent(&e);

	/* the inode-table block of every inode was initialized on the way */
	env_unmount(&e);
	env_mount(&e);
	ck_assert_uint_eq(e.sb.free_inodes, 0);
	{
		uint64_t blkno;
		uint32_t off;
		struct mbuf *b;

		ck_assert_int_eq(super_inode_loc(&e.sb, last, &blkno, &off), 0);
		ck_assert_int_eq(cache_read(e.c, blkno, DIOFS_MAGIC_ITABLE, &b),
				 0);
		cache_release(e.c, b);
	}
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(alloc_inode_free(e.a, t, last, 0), 0);
	ck_assert_int_eq(alloc_inode_free(e.a, t, last, 0), -EUCLEAN);
	ck_assert_int_eq(txn_commit(t), 0);
	ck_assert_uint_eq(free_inodes(&e), 1);
	check_consistent(&e);
	env_destroy(&e);
}
END_TEST

/* ---- a sparse 1 TiB image through the real block device ----------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const uint32_t big_bs[] = { 4096, 1024 };

START_TEST(test_format_1tib)
{
	char path[] = "/tmp/diofs-test-format-XXXXXX";
	struct format_opts o = { .block_size = big_bs[_i] };
	const char *emsg = NULL;
	uint64_t start, len;
	double t0, t_mkfs, t_mount;
	struct stat st;
	struct env e;
	int fd, err;

	memset(&e, 0, sizeof(e));
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 1ll << 40), 0);
	close(fd);

	err = bdev_open(path, BDEV_RDWR, &e.bdev, &emsg);
	/* Gone from /tmp at once: the descriptors keep it until exit, so
	 * nothing is left behind even if an assertion below fails. */
	fd = open(path, O_RDONLY);
	unlink(path);
	ck_assert_msg(err == 0, "bdev_open %s: %s", path, emsg ? emsg : "");
	ck_assert_int_ge(fd, 0);
	t0 = now();
	err = super_format(e.bdev, &o, NULL, e.msg, sizeof(e.msg));
	t_mkfs = now() - t0;
	ck_assert_msg(err == 0, "format: %s", e.msg);
	t0 = now();
	env_mount(&e);
	t_mount = now() - t0;
	ck_assert_uint_eq(e.sb.blocks_count, (1ull << 40) / big_bs[_i]);
	ck_assert_uint_eq(e.sb.journal_blocks * big_bs[_i], 128 * MiB);
	ck_assert_int_eq(alloc_commit(&e, 0, 1, 1000, &start, &len), 0);
	/* a goal near the end of the device */
	ck_assert_int_eq(alloc_commit(&e, e.sb.blocks_count - 100, 1, 8,
				      &start, &len), 0);
	ck_assert_uint_eq(super_group_of(&e.sb, start), e.sb.group_count - 1);
	env_destroy(&e);

	ck_assert_int_eq(fstat(fd, &st), 0);
	close(fd);
	/* only the metadata mkfs wrote takes space */
	ck_assert_uint_lt((uint64_t)st.st_blocks * 512, 64 * MiB);
	ck_assert_msg(t_mkfs < 5.0 && t_mount < 5.0,
		      "mkfs %.2fs, mount %.2fs", t_mkfs, t_mount);
}
END_TEST

static Suite *format_suite(void)
{
	Suite *s = suite_create("format");
	TCase *tc;

	tc = tcase_create("layout");
	tcase_add_test(tc, test_struct_sizes);
	suite_add_tcase(s, tc);

	tc = tcase_create("codec");
	tcase_add_test(tc, test_codec_inode);
	tcase_add_test(tc, test_codec_extent);
	tcase_add_test(tc, test_codec_dirent);
	tcase_add_test(tc, test_codec_xattr);
	tcase_add_test(tc, test_codec_group);
	suite_add_tcase(s, tc);

	tc = tcase_create("super");
	tcase_add_test(tc, test_sb_roundtrip);
	tcase_add_test(tc, test_sb_update_in_txn);
	tcase_add_test(tc, test_sb_backup_used);
	tcase_add_test(tc, test_sb_not_diofs);
	tcase_add_test(tc, test_sb_unsupported);
	tcase_add_test(tc, test_sb_device_too_small);
	suite_add_tcase(s, tc);

	tc = tcase_create("matrix");
	tcase_add_loop_test(tc, test_format_matrix, 0, NMATRIX);
	suite_add_tcase(s, tc);

	tc = tcase_create("alloc");
	tcase_add_test(tc, test_alloc_goal);
	tcase_add_test(tc, test_alloc_contiguous);
	tcase_add_test(tc, test_alloc_reuse_after_commit);
	tcase_add_test(tc, test_lazy_groups);
	tcase_add_test(tc, test_alloc_enospc);
	tcase_add_test(tc, test_inode_alloc);
	suite_add_tcase(s, tc);

	tc = tcase_create("big");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_format_1tib, 0,
			    (int)(sizeof(big_bs) / sizeof(big_bs[0])));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(format_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
