/*
 * Copyright (C) 2025 The diofs authors
 *
 * This file may be redistributed under the terms of the
 * GNU Lesser General Public License.
 *
 * diofs: a FUSE filesystem for block devices and image files.  The
 * on-disk format is described in doc/FORMAT.md of the diofs sources.
 *
 * Rules:
 *  1. Only the primary superblock, the first 512 bytes of block 0, is
 *     read; its magic is "dfSB" at byte 0.
 *  2. It is accepted only when its block size is a power of two from
 *     1 KiB to 64 KiB, it names itself as block 0, and the crc32c of the
 *     whole block (the crc field taken as zero) matches, so that a diofs
 *     superblock that another filesystem's mkfs has partly overwritten is
 *     not taken for a live one.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "superblocks.h"
#include "crc32c.h"

#define DIOFS_MIN_BLOCK_SIZE	1024U
#define DIOFS_MAX_BLOCK_SIZE	65536U

/* The first 512 bytes of block 0; every integer is little-endian. */
struct diofs_super_block {
	uint32_t	magic;			/*   0 "dfSB" */
	uint32_t	crc;			/*   4 crc32c of the block */
	uint64_t	blkno;			/*   8 0: where this copy lives */
	uint8_t		uuid[16];		/*  16 */
	uint32_t	version;		/*  32 1 */
	uint32_t	block_size;		/*  36 */
	uint32_t	compat;			/*  40 */
	uint32_t	ro_compat;		/*  44 */
	uint32_t	incompat;		/*  48 */
	uint32_t	inode_size;		/*  52 */
	uint64_t	blocks_count;		/*  56 */
	uint64_t	inodes_count;		/*  64 */
	uint64_t	free_blocks;		/*  72 */
	uint64_t	free_inodes;		/*  80 */
	uint64_t	group_count;		/*  88 */
	uint64_t	group_start;		/*  96 */
	uint32_t	blocks_per_group;	/* 104 */
	uint32_t	inodes_per_group;	/* 108 */
	uint64_t	gdt_start;		/* 112 */
	uint64_t	gdt_blocks;		/* 120 */
	uint64_t	journal_start;		/* 128 */
	uint64_t	journal_blocks;		/* 136 */
	uint64_t	journal_seq;		/* 144 */
	uint64_t	backup_blkno;		/* 152 */
	uint64_t	root_ino;		/* 160 */
	uint64_t	first_ino;		/* 168 */
	uint64_t	orphan_head;		/* 176 */
	uint64_t	mkfs_time;		/* 184 */
	uint64_t	mount_time;		/* 192 */
	uint64_t	write_time;		/* 200 */
	uint32_t	mount_count;		/* 208 */
	uint32_t	state;			/* 212 */
	uint8_t		hash_seed[16];		/* 216 */
	uint8_t		label[64];		/* 232 NUL-padded */
	uint8_t		reserved[216];		/* 296 */
} __attribute__((packed));

/* Rule 2: crc32c (initial and final value inverted) of the whole block. */
static int diofs_verify_csum(blkid_probe pr,
			     const struct diofs_super_block *sb,
			     uint32_t block_size)
{
	static const unsigned char zero[sizeof(uint32_t)];
	const size_t crc_off = offsetof(struct diofs_super_block, crc);
	const size_t rest = crc_off + sizeof(uint32_t);
	const unsigned char *buf;
	uint32_t crc;

	buf = blkid_probe_get_buffer(pr, 0, block_size);
	if (!buf)
		return 0;
	crc = crc32c(~0U, buf, crc_off);
	crc = crc32c(crc, zero, sizeof(zero));
	crc = crc32c(crc, buf + rest, block_size - rest);
	return blkid_probe_verify_csum(pr, ~crc, le32_to_cpu(sb->crc));
}

static int probe_diofs(blkid_probe pr, const struct blkid_idmag *mag)
{
	const struct diofs_super_block *sb;
	uint32_t block_size;

	sb = blkid_probe_get_sb(pr, mag, struct diofs_super_block);
	if (!sb)
		return errno ? -errno : BLKID_PROBE_NONE;

	block_size = le32_to_cpu(sb->block_size);
	if (block_size < DIOFS_MIN_BLOCK_SIZE ||
	    block_size > DIOFS_MAX_BLOCK_SIZE ||
	    (block_size & (block_size - 1)) ||
	    le64_to_cpu(sb->blkno) != 0)
		return BLKID_PROBE_NONE;
	if (!diofs_verify_csum(pr, sb, block_size))
		return BLKID_PROBE_NONE;

	if (sb->label[0])
		blkid_probe_set_label(pr, sb->label, sizeof(sb->label));
	blkid_probe_set_uuid(pr, sb->uuid);
	blkid_probe_sprintf_version(pr, "%u", le32_to_cpu(sb->version));
	blkid_probe_set_fsblocksize(pr, block_size);
	blkid_probe_set_block_size(pr, block_size);
	blkid_probe_set_fssize(pr, le64_to_cpu(sb->blocks_count) * block_size);
	blkid_probe_set_fsendianness(pr, BLKID_ENDIANNESS_LITTLE);

	return BLKID_PROBE_OK;
}

const struct blkid_idinfo diofs_idinfo =
{
	.name		= "diofs",
	.usage		= BLKID_USAGE_FILESYSTEM,
	.probefunc	= probe_diofs,
	.magics		=
	{
		{ .magic = "dfSB", .len = 4, .kboff = 0, .sboff = 0 },
		{ NULL }
	}
};
