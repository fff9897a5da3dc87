/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * codec: the host-endian form of the on-disk records that the engine and
 * fsck both read and write, and the one copy of their conversions and
 * checks.
 *
 * format.h gives the bytes; this module turns them into host values and
 * back.  The engine (inode.c, extent.c, dir.c, xattr.c, namei.c, alloc.c)
 * and fsck.diofs use it and keep no decoder of their own.  The superblock
 * has its own pair in super.c (super_encode(), super_decode()).
 *
 * Rules:
 *  1. A decode converts every field and trusts none.  Only the decodes of
 *     entries of variable length (directory and attribute entries) refuse
 *     one (-EUCLEAN), when its lengths disagree: they must stay inside
 *     their input.  The fixed records have checks of their own
 *     (codec_*_check()) that return a mask with one bit per field that
 *     breaks format.h's rules (CODEC_BAD()), so that the engine can refuse
 *     a record on any of them (-EUCLEAN) and fsck can name the field of
 *     each fault it repairs.
 *  2. An encode writes every byte of the record from the host form, so a
 *     decode followed by an encode gives back the same bytes: a caller
 *     changes the fields it knows and leaves the others as they were.
 *  3. Pure functions over memory: no I/O, no allocation, no locks.
 */
#ifndef DIOFS_CODEC_H
#define DIOFS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "diofs/format.h"
#include "diofs/super.h"

/* A field's bit in the mask a check returns (rule 1). */
#define CODEC_BAD(field)	(1u << (field))

/* ---- inodes ---------------------------------------------------------------- */

/* The four timestamps of an inode, in the order format.h stores them. */
enum codec_time { CODEC_ATIME, CODEC_MTIME, CODEC_CTIME, CODEC_CRTIME,
		  CODEC_TIMES };

/* The host-endian form of one inode-table slot (struct diofs_inode). */
struct codec_inode {
	uint32_t mode, flags, uid, gid, links, generation;
	uint64_t ino, size, blocks;
	struct timespec time[CODEC_TIMES];
	uint64_t parent, rdev;
	uint64_t ext_root, xattr_root, orphan_next;
	uint16_t nr_extents, xattr_len;
	uint32_t reserved0;	/* as read; what the engine writes has 0 */
	union {			/* the data area, as stored: inline extents
				 * convert with codec_extent_decode() */
		struct diofs_extent ext[DIOFS_INLINE_EXTENTS];
		uint8_t inline_data[DIOFS_INLINE_DATA];
	};
	uint8_t xattr[DIOFS_INLINE_XATTR];	/* as stored */
};

/* The fields codec_inode_check() can find wrong. */
enum codec_inode_field {
	CODEC_INODE_INO,		/* not the number of its slot */
	CODEC_INODE_SIZE,		/* past the largest off_t */
	/* a timestamp whose nanoseconds are a second or more, which no
	 * struct timespec may hold: CODEC_INODE_ATIME + enum codec_time */
	CODEC_INODE_ATIME,
	CODEC_INODE_MTIME,
	CODEC_INODE_CTIME,
	CODEC_INODE_CRTIME,
	CODEC_INODE_EXT_ROOT,		/* past the device */
	CODEC_INODE_XATTR_ROOT,		/* past the device */
	CODEC_INODE_ORPHAN_NEXT,	/* past the inode count */
	CODEC_INODE_NR_EXTENTS,		/* more than fit inline */
	CODEC_INODE_XATTR_LEN,		/* more than the inline xattr area */
	CODEC_INODE_FIELDS
};

void codec_inode_decode(const struct diofs_inode *d, struct codec_inode *r);
void codec_inode_encode(const struct codec_inode *r, struct diofs_inode *d);
/* Rule 1 for the inode in slot ino of the filesystem sb describes: the
 * fields that later code may not trust, 0 if none. */
unsigned codec_inode_check(const struct codec_inode *r, uint64_t ino,
			   const struct super *sb);
/* A field's name as format.h spells it ("ino", "atime", ...). */
const char *codec_inode_field_name(enum codec_inode_field field);

/* ---- extents --------------------------------------------------------------- */

/* An extent in host byte order: an inline one (struct diofs_extent), or an
 * extent-tree entry (key lblk, value struct diofs_extent_val). */
struct codec_extent {
	uint64_t lblk, pblk;
	uint32_t len, flags;
};

/* The fields codec_extent_check() can find wrong. */
enum codec_extent_field {
	CODEC_EXTENT_LEN,		/* 0 */
	CODEC_EXTENT_FLAGS,		/* a flag format.h does not know */
	CODEC_EXTENT_PBLK,		/* the blocks run past the device */
	CODEC_EXTENT_LBLK,		/* the file blocks run past 2^64 - 1 */
	CODEC_EXTENT_FIELDS
};

void codec_extent_decode(const struct diofs_extent *d, struct codec_extent *e);
void codec_extent_encode(const struct codec_extent *e, struct diofs_extent *d);
/* A tree entry: lblk is its key. */
void codec_extent_val_decode(uint64_t lblk, const struct diofs_extent_val *v,
			     struct codec_extent *e);
void codec_extent_val_encode(const struct codec_extent *e,
			     struct diofs_extent_val *v);
/* Rule 1 for an extent of the filesystem sb describes. */
unsigned codec_extent_check(const struct codec_extent *e,
			    const struct super *sb);

/* ---- directory entries ------------------------------------------------------ */

/* The longest value of a directory-tree entry: the header and a name of
 * DIOFS_NAME_MAX bytes. */
#define CODEC_DIRENT_MAX	(sizeof(struct diofs_dirent) + DIOFS_NAME_MAX)

/* The host form of a directory-tree value (struct diofs_dirent and its
 * name).  The key it is filed under is diofs_dir_key() of the name's
 * diofs_name_hash() (format.h). */
struct codec_dirent {
	uint64_t ino;
	uint8_t ftype;			/* DIOFS_FT_* */
	uint8_t name_len;		/* 1 .. DIOFS_NAME_MAX */
	char name[DIOFS_NAME_MAX + 1];	/* NUL-terminated */
};

/* Decode a value of vlen bytes, as btree_lookup() reports its length (val
 * holds its first CODEC_DIRENT_MAX bytes at most): 0, or -EUCLEAN when
 * the length and name_len disagree or the name is empty; *e then holds
 * no entry (inode 0, no name). */
int codec_dirent_decode(const void *val, size_t vlen, struct codec_dirent *e);
/* Encode name (len bytes, 1 .. DIOFS_NAME_MAX) -> ino into buf, which
 * holds CODEC_DIRENT_MAX bytes; returns the value's length. */
size_t codec_dirent_encode(void *buf, const void *name, size_t len,
			   uint64_t ino, uint8_t ftype);
/* The file type an entry names an inode of this mode with; DIOFS_FT_UNKNOWN
 * when the mode has no valid type. */
uint8_t codec_ftype(uint32_t mode);

/* ---- extended attribute entries --------------------------------------------- */

/* One extended attribute entry (struct diofs_xattr_entry, then its name
 * and value), decoded where it lies: name and value point into the bytes
 * it was decoded from. */
struct codec_xattr {
	uint8_t name_index;		/* DIOFS_XATTR_*, DIOFS_XATTR_RUN taken off */
	bool run;			/* value is a struct diofs_xattr_ref */
	uint8_t name_len;		/* 1 .. 255 */
	uint16_t value_len;
	const uint8_t *name;		/* no prefix, no NUL */
	const uint8_t *value;
};

/* The host-endian form of struct diofs_xattr_ref. */
struct codec_xattr_ref {
	uint64_t start;
	uint32_t size, crc;
};

/* The bytes an entry takes: as a tree value, and in the inline area
 * (padded to a multiple of 4). */
size_t codec_xattr_size(size_t name_len, size_t value_len);
size_t codec_xattr_padded(size_t name_len, size_t value_len);
/* The entry at byte off of an inline area, of which the first used bytes
 * are in use: 0 with *x and *next, the offset of the entry after it;
 * -EUCLEAN when the entry runs past used, padding included, or its name
 * is empty. */
int codec_xattr_inline(const uint8_t *area, size_t used, size_t off,
		       struct codec_xattr *x, size_t *next);
/* A tree value of vlen bytes, all of them in val: 0 with *x when it is
 * exactly one entry with a name, else -EUCLEAN.  Both decoders also refuse
 * a run entry whose value is not sizeof(struct diofs_xattr_ref) long. */
int codec_xattr_value(const void *val, size_t vlen, struct codec_xattr *x);
/* Encode an entry into buf, which holds codec_xattr_size() bytes;
 * returns that size.  value may be NULL when value_len is 0. */
size_t codec_xattr_encode(void *buf, uint8_t name_index, const void *name,
			  size_t name_len, const void *value,
			  size_t value_len);

/* The reference of a run entry (x->run).  0, or -EUCLEAN when its size is
 * 0 or above DIOFS_XATTR_VALUE_MAX. */
int codec_xattr_ref_decode(const struct codec_xattr *x,
			   struct codec_xattr_ref *r);
void codec_xattr_ref_encode(const struct codec_xattr_ref *r,
			    struct diofs_xattr_ref *d);
/* Blocks of block_size bytes the run of a size-byte value takes. */
uint64_t codec_xattr_run_blocks(uint32_t size, uint32_t block_size);

/* ---- group descriptors ------------------------------------------------------- */

/* The DIOFS_BG_* flags format.h defines. */
#define CODEC_GROUP_KNOWN_FLAGS	(DIOFS_BG_BLOCK_UNINIT | DIOFS_BG_INODE_UNINIT)

/* The host-endian form of struct diofs_group_desc. */
struct codec_group {
	uint64_t block_bitmap, inode_bitmap, inode_table;
	uint32_t free_blocks, free_inodes, dirs, itable_init;
	uint32_t flags;				/* DIOFS_BG_* */
	uint8_t reserved[20];			/* as read; format.h: zero */
};

/* The fields codec_group_check() can find wrong. */
enum codec_group_field {
	CODEC_GROUP_LAYOUT,		/* a bitmap or the inode table is not
					 * where the group's are */
	CODEC_GROUP_FREE_BLOCKS,	/* more than the group's data area */
	CODEC_GROUP_FREE_INODES,	/* more than inodes_per_group */
	CODEC_GROUP_ITABLE_INIT,	/* more than the inode table's blocks */
	CODEC_GROUP_FLAGS,		/* a flag format.h does not know */
	CODEC_GROUP_FIELDS
};

void codec_group_decode(const struct diofs_group_desc *d,
			struct codec_group *r);
void codec_group_encode(const struct codec_group *r,
			struct diofs_group_desc *d);
/* Rule 1 for the descriptor of group g of the filesystem sb describes. */
unsigned codec_group_check(const struct codec_group *r, uint64_t g,
			   const struct super *sb);

#endif
