/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * super: the superblock, the filesystem geometry, and mkfs's format routine.
 *
 * struct super is the host-endian form of struct diofs_super (format.h) plus
 * the numbers derived from it.  Everything that maps a group, an inode or a
 * descriptor to a block goes through the helpers below, so there is one
 * copy of the geometry arithmetic.
 *
 * Mounting, in order:
 *  1. super_read(): the primary superblock, or the backup if the primary is
 *     unusable (the message says so); checks version, features and geometry
 *     against the device.  sb->read_only is set for unknown ro_compat bits.
 *  2. cache_create(bdev, sb->block_size, sb->uuid, ...).
 *  3. alloc_open() (alloc.h): reads the group descriptors and recomputes
 *     sb->free_blocks and sb->free_inodes from them.
 *  4. In a transaction: set DIOFS_STATE_DIRTY, mount_time, mount_count + 1,
 *     then super_update().  Unmount does the same with the state bit cleared
 *     and the free counts from alloc_counts().
 *
 * Rules:
 *  1. While a cache is open over the device, the superblock changes only
 *     through super_update() inside a transaction, which rewrites both
 *     copies.  super_write() writes the device directly and is for when no
 *     cache is open (mkfs, fsck, tests).
 *  2. The superblock's free counts are refreshed lazily (at unmount); the
 *     group descriptors are the truth, and alloc_open() recomputes them.
 *  3. Error returns: -EINVAL not a diofs filesystem (or bad arguments),
 *     -EOPNOTSUPP unsupported version or features, -EUCLEAN checksum
 *     mismatch or inconsistent geometry, -EFBIG device smaller than the
 *     filesystem, -EIO and -ENOMEM as usual.  Functions that take msg
 *     store a one-line explanation there on failure (no trailing newline).
 */
#ifndef DIOFS_SUPER_H
#define DIOFS_SUPER_H

#include <stddef.h>
#include <stdint.h>

#include "diofs/bdev.h"
#include "diofs/cache.h"
#include "diofs/format.h"

struct super {
	/* as stored (format.h) */
	uint32_t version;
	uint32_t block_size;
	uint32_t compat, ro_compat, incompat;
	uint32_t inode_size;
	uint64_t blocks_count;
	uint64_t inodes_count;
	uint64_t free_blocks;
	uint64_t free_inodes;
	uint64_t group_count;
	uint64_t group_start;
	uint32_t blocks_per_group;
	uint32_t inodes_per_group;
	uint64_t gdt_start, gdt_blocks;
	uint64_t journal_start, journal_blocks, journal_seq;
	uint64_t backup_blkno;
	uint64_t root_ino, first_ino;
	uint64_t orphan_head;
	int64_t mkfs_time, mount_time, write_time;
	uint32_t mount_count;
	uint32_t state;
	uint8_t uuid[16];
	uint8_t hash_seed[16];
	char label[DIOFS_LABEL_MAX + 1];	/* NUL-terminated */

	/* derived */
	unsigned block_bits;		/* block_size == 1 << block_bits */
	uint32_t inodes_per_block;
	uint32_t itable_blocks;		/* inode-table blocks per group */
	uint32_t descs_per_block;
	int read_only;			/* unknown ro_compat features */
	int from_backup;		/* read from the backup copy */
	struct bdev *bdev;		/* the device super_read() or
					 * super_format() used; NULL from
					 * super_plan() */
};

/* ---- reading and writing ------------------------------------------------- */

/*
 * Read the superblock of the filesystem on bdev into *sb and check it
 * (rule 3).  When the primary copy is unusable for any reason but an
 * unsupported version or feature, the backup in the last block is tried,
 * at the location the primary names if it is legible and otherwise at the
 * end of the device for each block size; on success through the backup,
 * sb->from_backup is set and msg explains.
 */
int super_read(struct bdev *bdev, struct super *sb, char *msg, size_t msglen);
/* Read and check the copy at fs block blkno for block size block_size
 * (e.g. a backup at a place the caller knows). */
int super_read_at(struct bdev *bdev, uint32_t block_size, uint64_t blkno,
		  struct super *sb, char *msg, size_t msglen);
/* Write both copies directly and flush (rule 1).  Sets write_time. */
int super_write(struct bdev *bdev, struct super *sb);
/* Rewrite both copies through the cache inside t (rule 1). */
int super_update(struct super *sb, struct cache *c, struct txn *t);

/* Quick test for mkfs: 1 if bdev's block 0 carries a diofs superblock
 * magic (legible or not), 0 if not, -errno on I/O error. */
int super_probe(struct bdev *bdev);

/* Encode into a block_size-byte block (header stamped for blkno) / decode
 * and check one copy.  super_decode() takes the device's size and block
 * size for the geometry checks. */
void super_encode(const struct super *sb, void *block, uint64_t blkno);
int super_decode(const void *block, uint64_t blkno, uint64_t dev_size,
		 uint32_t dev_block, struct super *sb, char *msg,
		 size_t msglen);

/* ---- geometry ------------------------------------------------------------ */

uint64_t super_group_first(const struct super *sb, uint64_t g);
uint64_t super_group_len(const struct super *sb, uint64_t g);
/* Blocks at the start of every group taken by its bitmaps and inode table. */
static inline uint32_t super_group_meta(const struct super *sb)
{
	return 2 + sb->itable_blocks;
}
/* The group holding block blkno; group_count if it is outside every group. */
uint64_t super_group_of(const struct super *sb, uint64_t blkno);
/* Where group g's descriptor lives: table block and byte offset in it. */
void super_desc_loc(const struct super *sb, uint64_t g, uint64_t *blkno,
		    uint32_t *offset);
/* Where inode ino lives: inode-table block and byte offset in it.
 * -EINVAL for inode 0 and numbers past inodes_count. */
int super_inode_loc(const struct super *sb, uint64_t ino, uint64_t *blkno,
		    uint32_t *offset);
static inline uint64_t super_inode_group(const struct super *sb, uint64_t ino)
{
	return ino / sb->inodes_per_group;
}
/* A good first data block for a file with no blocks yet: the start of the
 * data area of its inode's group. */
uint64_t super_inode_goal(const struct super *sb, uint64_t ino);

/* ---- formatting ---------------------------------------------------------- */

struct format_opts {
	uint32_t block_size;	/* 0: DIOFS_DEFAULT_BLOCK_SIZE */
	uint64_t size;		/* bytes to use; 0: the whole device */
	uint64_t inodes;	/* 0: one per FORMAT_BYTES_PER_INODE */
	uint64_t journal_blocks; /* 0: the default (doc/FORMAT.md) */
	uint32_t blocks_per_group; /* 0: DIOFS_BITMAP_BITS(block_size) */
	const char *label;	/* NULL: none */
	const uint8_t *uuid;	/* NULL: random */
	uint32_t root_uid, root_gid; /* owner of the root directory */
};

#define FORMAT_BYTES_PER_INODE	16384u
/* Fewest inodes a filesystem has for files, beyond the reserved ones
 * (DIOFS_FIRST_INO): a smaller count asked for is raised to this. */
#define FORMAT_MIN_FREE_INODES	16u

/*
 * Work out the geometry of a filesystem for a device of dev_size bytes and
 * dev_block-byte sectors, without writing (mkfs -n shows it).  Fills every
 * field of *sb; the free counts are those of the fresh filesystem.
 */
int super_plan(uint64_t dev_size, uint32_t dev_block,
	       const struct format_opts *opts, struct super *sb, char *msg,
	       size_t msglen);
/*
 * Make a new, empty filesystem on bdev: superblock and backup, descriptor
 * table, group 0's bitmaps and first inode-table blocks with the root
 * directory; every other group is left uninitialized (format.h rule 3), so
 * the cost does not grow with the device beyond the descriptor table.  The
 * journal area gets only its journal superblock.  Flushes before
 * returning.  *sb (if non-NULL) receives the new superblock.
 */
int super_format(struct bdev *bdev, const struct format_opts *opts,
		 struct super *sb, char *msg, size_t msglen);

#endif
