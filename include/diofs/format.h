/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * format: diofs on-disk structures.  doc/FORMAT.md describes them byte by
 * byte.  All fields are little-endian and fixed width; convert at the
 * boundary with the helpers below, never write a host-endian struct.
 *
 * The device, in fs blocks (block n lives at byte n * block_size):
 *
 *   0                    primary superblock
 *   1 .. gdt_blocks      group descriptor table
 *   journal_start ..     journal area (journal_blocks, reserved by mkfs)
 *   group_start ..       allocation groups 0 .. group_count-1, each
 *                        [block bitmap][inode bitmap][inode table][data...]
 *   ..                   (an unused tail shorter than a usable group)
 *   blocks_count - 1     backup superblock
 *
 * Rules:
 *  1. Every metadata block starts with struct diofs_blkhdr; its crc32c
 *     covers the whole block (crc.h).  The superblock, group descriptor
 *     blocks, bitmaps, inode table blocks and B+tree nodes are metadata
 *     blocks.  File data, long symlink targets and the journal area are not.
 *  2. Group g covers blocks [group_start + g * blocks_per_group, + its
 *     length); every group but the last is blocks_per_group long, the last
 *     ends at the backup superblock at the latest.  A group's block bitmap
 *     fits in one block, so blocks_per_group <= DIOFS_BITMAP_BITS(bs).
 *  3. Groups are initialized lazily: a group flagged DIOFS_BG_BLOCK_UNINIT
 *     has no block bitmap on disk and only its own metadata in use; one
 *     flagged DIOFS_BG_INODE_UNINIT has no inode bitmap on disk and every
 *     inode free.  Inode-table blocks at or past the group's itable_init
 *     have never been written and hold no live inode.
 *  4. Inode n lives in group n / inodes_per_group, slot n % inodes_per_group
 *     of that group's inode table.  Inode 0 is never used; inode 1 is the
 *     root directory (FUSE's root node id, so no translation is needed);
 *     inodes 2 .. first_ino-1 are reserved.
 *  5. Directories hold no "." or ".." entries on disk: "." is the directory
 *     itself and ".." is its inode's parent field.
 */
#ifndef DIOFS_FORMAT_H
#define DIOFS_FORMAT_H

#include <assert.h>
#include <endian.h>
#include <stddef.h>
#include <stdint.h>

typedef uint16_t le16;
typedef uint32_t le32;
typedef uint64_t le64;

/* Header at the start of every metadata block (32 bytes). */
struct diofs_blkhdr {
	le32 magic;		/* what kind of block this is */
	le32 crc;		/* crc32c of the whole block, this field taken as 0 */
	le64 blkno;		/* where the block belongs: catches misdirected writes */
	uint8_t uuid[16];	/* filesystem UUID: catches blocks of an earlier mkfs */
};
static_assert(sizeof(struct diofs_blkhdr) == 32, "blkhdr size");

/* ---- block magics: four ASCII bytes on disk ----------------------------- */

#define DIOFS_MAGIC4(a, b, c, d) \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | \
	 (uint32_t)(d) << 24)

#define DIOFS_MAGIC_SUPER	DIOFS_MAGIC4('d', 'f', 'S', 'B')
#define DIOFS_MAGIC_GDT		DIOFS_MAGIC4('d', 'f', 'G', 'D')
#define DIOFS_MAGIC_BBITMAP	DIOFS_MAGIC4('d', 'f', 'B', 'B')
#define DIOFS_MAGIC_IBITMAP	DIOFS_MAGIC4('d', 'f', 'I', 'B')
#define DIOFS_MAGIC_ITABLE	DIOFS_MAGIC4('d', 'f', 'I', 'T')
/* B+tree nodes (btree.h): leaf and interior magic of each kind of tree */
#define DIOFS_MAGIC_EXT_LEAF	DIOFS_MAGIC4('d', 'f', 'X', 'L')
#define DIOFS_MAGIC_EXT_NODE	DIOFS_MAGIC4('d', 'f', 'X', 'N')
#define DIOFS_MAGIC_DIR_LEAF	DIOFS_MAGIC4('d', 'f', 'D', 'L')
#define DIOFS_MAGIC_DIR_NODE	DIOFS_MAGIC4('d', 'f', 'D', 'N')
#define DIOFS_MAGIC_XATTR_LEAF	DIOFS_MAGIC4('d', 'f', 'A', 'L')
#define DIOFS_MAGIC_XATTR_NODE	DIOFS_MAGIC4('d', 'f', 'A', 'N')
/* Journal records (struct diofs_jsuper, diofs_jdesc, diofs_jrevoke,
 * diofs_jcommit); their hdr.blkno is the block they are written in. */
#define DIOFS_MAGIC_JSUPER	DIOFS_MAGIC4('d', 'f', 'J', 'S')
#define DIOFS_MAGIC_JDESC	DIOFS_MAGIC4('d', 'f', 'J', 'D')
#define DIOFS_MAGIC_JREVOKE	DIOFS_MAGIC4('d', 'f', 'J', 'R')
#define DIOFS_MAGIC_JCOMMIT	DIOFS_MAGIC4('d', 'f', 'J', 'C')

/* ---- sizes and limits --------------------------------------------------- */

#define DIOFS_MIN_BLOCK_SIZE	1024u
#define DIOFS_MAX_BLOCK_SIZE	65536u
#define DIOFS_DEFAULT_BLOCK_SIZE 4096u
#define DIOFS_VERSION		1u	/* superblock version this code writes */
#define DIOFS_LABEL_MAX		63	/* label bytes, NUL not counted */
#define DIOFS_NAME_MAX		255	/* bytes of one directory entry name */

/* Bits of a bitmap block: everything after the header. */
#define DIOFS_BITMAP_BITS(bs)	(((uint32_t)(bs) - 32u) * 8u)
/* Group descriptors per descriptor-table block. */
#define DIOFS_DESCS_PER_BLOCK(bs) (((uint32_t)(bs) - 32u) / 64u)
/* Inodes per inode-table block. */
#define DIOFS_INODES_PER_BLOCK(bs) (((uint32_t)(bs) - 32u) / DIOFS_INODE_SIZE)

#define DIOFS_ROOT_INO		1u
#define DIOFS_FIRST_INO		16u	/* first inode number handed out */

/* ---- superblock ---------------------------------------------------------- */

/*
 * Feature flags.  A reader refuses a filesystem with an incompat bit it does
 * not know, mounts read-only one with an unknown ro_compat bit, and ignores
 * unknown compat bits.
 */
/* The journal area [journal_start, +journal_blocks) is reserved. */
#define DIOFS_FEAT_COMPAT_JOURNAL	0x00000001u
#define DIOFS_FEAT_COMPAT_KNOWN		DIOFS_FEAT_COMPAT_JOURNAL
#define DIOFS_FEAT_RO_COMPAT_KNOWN	0u
/* The journal may hold committed transactions not yet written in place:
 * replay before use.  A read-write mount sets it (written in place, before
 * anything is journaled) and a clean unmount or a replay clears it; mkfs
 * never sets it.  A reader without journal code refuses the filesystem
 * rather than use it unreplayed. */
#define DIOFS_FEAT_INCOMPAT_RECOVER	0x00000001u
/* Attribute values too large for an entry lie in runs of blocks of their
 * own (struct diofs_xattr_ref).  mkfs sets it; on an older filesystem the
 * first such value sets it, in the same transaction.  A reader without it
 * would take the reference for the value. */
#define DIOFS_FEAT_INCOMPAT_XATTR_RUNS	0x00000002u
#define DIOFS_FEAT_INCOMPAT_KNOWN	(DIOFS_FEAT_INCOMPAT_RECOVER | \
					 DIOFS_FEAT_INCOMPAT_XATTR_RUNS)

/* state bits */
#define DIOFS_STATE_DIRTY	0x1u	/* mounted read-write, not yet cleanly unmounted */
#define DIOFS_STATE_ERROR	0x2u	/* an error was detected: run fsck */

/*
 * The superblock: the first 512 bytes of block 0 (primary) and of block
 * blocks_count - 1 (backup); the rest of those blocks is zero.  hdr.blkno is
 * the block the copy lives in, hdr.uuid the filesystem UUID.
 */
struct diofs_super {
	struct diofs_blkhdr hdr;	/*   0 magic DIOFS_MAGIC_SUPER */
	le32 version;			/*  32 DIOFS_VERSION */
	le32 block_size;		/*  36 bytes, power of two, 1 KiB..64 KiB */
	le32 compat;			/*  40 DIOFS_FEAT_COMPAT_* */
	le32 ro_compat;			/*  44 DIOFS_FEAT_RO_COMPAT_* */
	le32 incompat;			/*  48 DIOFS_FEAT_INCOMPAT_* */
	le32 inode_size;		/*  52 DIOFS_INODE_SIZE */
	le64 blocks_count;		/*  56 fs blocks, including both superblocks */
	le64 inodes_count;		/*  64 group_count * inodes_per_group */
	le64 free_blocks;		/*  72 as of the last unmount (lazy) */
	le64 free_inodes;		/*  80 as of the last unmount (lazy) */
	le64 group_count;		/*  88 */
	le64 group_start;		/*  96 first block of group 0 */
	le32 blocks_per_group;		/* 104 */
	le32 inodes_per_group;		/* 108 multiple of inodes per block */
	le64 gdt_start;			/* 112 always 1 */
	le64 gdt_blocks;		/* 120 */
	le64 journal_start;		/* 128 first block of the journal area */
	le64 journal_blocks;		/* 136 its length (0: none) */
	le64 journal_seq;		/* 144 next journal sequence number */
	le64 backup_blkno;		/* 152 blocks_count - 1 */
	le64 root_ino;			/* 160 DIOFS_ROOT_INO */
	le64 first_ino;			/* 168 DIOFS_FIRST_INO */
	le64 orphan_head;		/* 176 first unlinked-but-open inode, 0: none */
	le64 mkfs_time;			/* 184 seconds since the epoch */
	le64 mount_time;		/* 192 */
	le64 write_time;		/* 200 */
	le32 mount_count;		/* 208 */
	le32 state;			/* 212 DIOFS_STATE_* */
	uint8_t hash_seed[16];		/* 216 seed of diofs_name_hash() */
	char label[64];			/* 232 NUL-padded, at most 63 bytes */
	uint8_t reserved[216];		/* 296 zero */
};
static_assert(sizeof(struct diofs_super) == 512, "superblock size");
static_assert(offsetof(struct diofs_super, label) == 232, "superblock label");

/* ---- allocation groups ---------------------------------------------------- */

#define DIOFS_BG_BLOCK_UNINIT	0x1u	/* no block bitmap on disk (rule 3) */
#define DIOFS_BG_INODE_UNINIT	0x2u	/* no inode bitmap on disk (rule 3) */

/*
 * One group's descriptor.  Descriptor-table block k (at gdt_start + k) holds
 * the descriptors of groups k * DIOFS_DESCS_PER_BLOCK(bs) onward, right after
 * its header.  The descriptors are the truth for free counts; the
 * superblock's totals are only refreshed at unmount.
 */
struct diofs_group_desc {
	le64 block_bitmap;	/*  0 group start */
	le64 inode_bitmap;	/*  8 group start + 1 */
	le64 inode_table;	/* 16 group start + 2 */
	le32 free_blocks;	/* 24 */
	le32 free_inodes;	/* 28 */
	le32 dirs;		/* 32 directories with inodes in this group */
	le32 itable_init;	/* 36 inode-table blocks initialized (rule 3) */
	le32 flags;		/* 40 DIOFS_BG_* */
	uint8_t reserved[20];	/* 44 zero */
};
static_assert(sizeof(struct diofs_group_desc) == 64, "group descriptor size");

/*
 * Bitmap blocks: after the header, bit i (byte 32 + i / 8, bit i % 8, least
 * significant first) is 1 when block group_start(g) + i (block bitmap) or
 * inode g * inodes_per_group + i (inode bitmap) is in use.  Bits past the
 * end of the group or past inodes_per_group are 1.
 */

/* ---- inodes -------------------------------------------------------------- */

/*
 * 496 bytes: two inodes and a block header fill a 1 KiB inode-table block
 * exactly, and the slack is under 3% at every block size.  Slot s of an
 * inode-table block sits at byte 32 + s * DIOFS_INODE_SIZE.
 */
#define DIOFS_INODE_SIZE	496u
#define DIOFS_INLINE_EXTENTS	4
#define DIOFS_INLINE_DATA	112	/* bytes of the data area */
#define DIOFS_INLINE_XATTR	240	/* bytes of the inline xattr area */

/* inode flags; the attribute flags (chattr) have Linux's FS_*_FL values */
#define DIOFS_IFL_INLINE	0x00000001u /* data area holds the file's bytes */
#define DIOFS_IFL_IMMUTABLE	0x00000010u /* no change, no new name, no removal */
#define DIOFS_IFL_APPEND	0x00000020u /* writes only at end of file */
#define DIOFS_IFL_NODUMP	0x00000040u /* left out of backups (dump(8)) */
#define DIOFS_IFL_NOATIME	0x00000080u /* reads leave atime alone */
#define DIOFS_IFL_KNOWN		(DIOFS_IFL_INLINE | DIOFS_IFL_IMMUTABLE | \
				 DIOFS_IFL_APPEND | DIOFS_IFL_NODUMP | \
				 DIOFS_IFL_NOATIME)

/* extent flags */
#define DIOFS_EXT_UNWRITTEN	0x00000001u /* allocated, reads as zeros */

/* An extent kept inline in the inode. */
struct diofs_extent {
	le64 lblk;		/*  0 first file block */
	le64 pblk;		/*  8 first device block */
	le32 len;		/* 16 blocks, >= 1 */
	le32 flags;		/* 20 DIOFS_EXT_* */
};
static_assert(sizeof(struct diofs_extent) == 24, "extent size");

/* The value of an extent-tree entry; its key is the extent's lblk. */
struct diofs_extent_val {
	le64 pblk;		/*  0 */
	le32 len;		/*  8 */
	le32 flags;		/* 12 */
};
static_assert(sizeof(struct diofs_extent_val) == 16, "extent value size");

struct diofs_inode {
	le32 mode;		/*   0 S_IFMT type and permission bits; 0: free */
	le32 flags;		/*   4 DIOFS_IFL_* */
	le32 uid;		/*   8 */
	le32 gid;		/*  12 */
	le32 links;		/*  16 */
	le32 generation;	/*  20 changes each time the number is reused */
	le64 ino;		/*  24 this inode's number: catches misplaced inodes */
	le64 size;		/*  32 bytes; a directory: its entries (not . ..) */
	le64 blocks;		/*  40 fs blocks held: data, tree nodes */
	le64 atime;		/*  48 seconds since the epoch (signed) */
	le64 mtime;		/*  56 */
	le64 ctime;		/*  64 */
	le64 crtime;		/*  72 */
	le32 atime_nsec;	/*  80 below 10^9: no struct timespec holds more */
	le32 mtime_nsec;	/*  84 */
	le32 ctime_nsec;	/*  88 */
	le32 crtime_nsec;	/*  92 */
	le64 parent;		/*  96 a directory's parent (root: itself) */
	le64 rdev;		/* 104 device number of a device node */
	le64 ext_root;		/* 112 extent tree root (0: extents inline);
				 *     a directory's entry tree root */
	le64 xattr_root;	/* 120 xattr tree root, 0: none */
	le64 orphan_next;	/* 128 next inode on the orphan list, 0: end */
	le16 nr_extents;	/* 136 inline extents in use, 0..4 */
	le16 xattr_len;		/* 138 bytes of the xattr area in use */
	le32 reserved0;		/* 140 zero */
	union {			/* 144 the data area */
		struct diofs_extent ext[DIOFS_INLINE_EXTENTS];
		uint8_t inline_data[DIOFS_INLINE_DATA];
	};
	uint8_t xattr[DIOFS_INLINE_XATTR];	/* 256 inline xattr entries */
};
static_assert(sizeof(struct diofs_inode) == DIOFS_INODE_SIZE, "inode size");
static_assert(offsetof(struct diofs_inode, ext) == 144, "inode data area");
static_assert(offsetof(struct diofs_inode, xattr) == 256, "inode xattr area");

/* ---- directory entries ----------------------------------------------------- */

/* file types of directory entries: the values of DT_* in <dirent.h> */
#define DIOFS_FT_UNKNOWN	0
#define DIOFS_FT_FIFO		1
#define DIOFS_FT_CHR		2
#define DIOFS_FT_DIR		4
#define DIOFS_FT_BLK		6
#define DIOFS_FT_REG		8
#define DIOFS_FT_LNK		10
#define DIOFS_FT_SOCK		12

/* The value of a directory-tree entry: 10 bytes, then name_len name bytes
 * (no NUL).  Its key is diofs_dir_key(diofs_name_hash(name), n). */
struct diofs_dirent {
	le64 ino;
	uint8_t ftype;		/* DIOFS_FT_* */
	uint8_t name_len;	/* 1 .. DIOFS_NAME_MAX */
	uint8_t name[];
} __attribute__((packed));
static_assert(sizeof(struct diofs_dirent) == 10, "dirent size");

/* ---- extended attributes --------------------------------------------------- */

/* name_index: which prefix the stored name goes with */
#define DIOFS_XATTR_OTHER	0	/* the stored name is the full name */
#define DIOFS_XATTR_USER	1	/* "user." */
#define DIOFS_XATTR_TRUSTED	2	/* "trusted." */
#define DIOFS_XATTR_SECURITY	3	/* "security." */
#define DIOFS_XATTR_SYSTEM	4	/* "system." */
/* name_index bit: the entry's value is a struct diofs_xattr_ref */
#define DIOFS_XATTR_RUN		0x80
#define DIOFS_XATTR_VALUE_MAX	65536u	/* XATTR_SIZE_MAX, bytes of one value */

/*
 * One extended attribute: this header, name_len name bytes (no prefix, no
 * NUL), value_len value bytes.  In the inode's xattr area entries follow
 * each other from byte 0, each padded with zeros to a multiple of 4 bytes,
 * for xattr_len bytes.  Attributes that do not fit there go to the xattr
 * tree: key diofs_dir_key(diofs_name_hash(index byte then name), n), value
 * one entry (unpadded).
 */
struct diofs_xattr_entry {
	uint8_t name_index;	/* DIOFS_XATTR_* */
	uint8_t name_len;	/* 1..255 */
	le16 value_len;
	uint8_t data[];
};
static_assert(sizeof(struct diofs_xattr_entry) == 4, "xattr entry size");

/*
 * The value of an entry whose name_index has DIOFS_XATTR_RUN set (its
 * value_len is 16): the attribute's value is the first size bytes of the
 * blocks [start, start + ceil(size / block_size)), one run in one group's
 * data area, written like file data (no block header); the rest of the
 * last block is zero.  Only values larger than an entry may hold are
 * stored so (DIOFS_FEAT_INCOMPAT_XATTR_RUNS).
 */
struct diofs_xattr_ref {
	le64 start;		/*  0 first block of the run */
	le32 size;		/*  8 bytes of the value, 1..DIOFS_XATTR_VALUE_MAX */
	le32 crc;		/* 12 crc32c (seed 0) of those bytes */
};
static_assert(sizeof(struct diofs_xattr_ref) == 16, "xattr reference size");

/* ---- name hashing ------------------------------------------------------------ */

/*
 * The 64-bit hash of a name: FNV-1a over the superblock's 16-byte hash_seed
 * followed by the name bytes, then the MurmurHash3 64-bit finalizer.  The
 * seed is random per filesystem, so names that collide cannot be chosen
 * without reading the superblock.
 */
static inline uint64_t diofs_name_hash(const uint8_t seed[16],
				       const void *name, size_t len)
{
	const uint8_t *p = name;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < 16; i++)
		h = (h ^ seed[i]) * 0x100000001b3ull;
	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

#define DIOFS_DIR_COLLISIONS	256	/* names per hash value, at most */

/*
 * The tree key for the n-th name (0 <= n < 256) with hash h: 54 bits of the
 * hash, plus one so that keys 0..255 stay free (readdir offsets for "." and
 * ".."), then the collision counter in the low 8 bits.  Keys stay below
 * 2^63, so they are valid off_t readdir offsets.
 */
static inline uint64_t diofs_dir_key(uint64_t h, unsigned n)
{
	return (((h >> 10) + 1) << 8) | (n & 0xffu);
}

/* ---- journal (doc/FORMAT.md, "Journal") ---------------------------------- */

#define DIOFS_JOURNAL_VERSION	1u	/* journal format this code writes */

/*
 * The journal superblock: block journal_start.  The log is the ring of the
 * journal_blocks - 1 blocks after it; log block i lives at journal_start +
 * 1 + i.  Replay starts at log block tail with sequence number tail_seq.
 */
struct diofs_jsuper {
	struct diofs_blkhdr hdr;	/*  0 magic DIOFS_MAGIC_JSUPER */
	le32 version;			/* 32 DIOFS_JOURNAL_VERSION */
	le32 block_size;		/* 36 the filesystem's */
	le64 nblocks;			/* 40 journal_blocks, this block included */
	le64 tail;			/* 48 log block of the oldest live transaction */
	le64 tail_seq;			/* 56 its sequence number */
	uint8_t reserved[64];		/* 64 zero */
};
static_assert(sizeof(struct diofs_jsuper) == 128, "journal superblock size");

/* Record header shared by descriptor, revoke and commit blocks. */
struct diofs_jrec {
	struct diofs_blkhdr hdr;	/*  0 magic: which record */
	le64 seq;			/* 32 the transaction's sequence number */
	le32 count;			/* 40 tags (descriptor), block numbers
					 *    (revoke), log blocks before the
					 *    commit block (commit) */
	le32 crc;			/* 44 commit: crc32c of those log blocks,
					 *    in log order; else 0 */
	le64 time;			/* 48 commit: seconds since the epoch */
	le64 reserved;			/* 56 zero */
	/* 64: descriptor: count le64 home block numbers, one per image block
	 *     that follows the descriptor, in order; revoke: count le64
	 *     block numbers revoked */
};
static_assert(sizeof(struct diofs_jrec) == 64, "journal record size");

/* Block numbers one descriptor or revoke block holds. */
#define DIOFS_JREC_SLOTS(bs)	(((uint32_t)(bs) - 64u) / 8u)

#endif
