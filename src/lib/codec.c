/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * codec: on-disk records to host form and back, and their checks
 * (codec.h).
 *
 * Rules:
 *  1. Every le*toh() and htole*() of the records codec.h covers is here,
 *     field by field in format.h's order, so a field added to format.h is
 *     added once.
 *  2. The checks test what the engine needs of a single record before it
 *     trusts it; what depends on other records (a tree's contents,
 *     whether an inode is in use) and what only fsck demands belong to the
 *     caller.  The geometry they need comes from super.h, whose helpers
 *     are the only functions this module calls.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "diofs/codec.h"

/* ---- inodes ---------------------------------------------------------------- */

static struct timespec time_decode(le64 sec, le32 nsec)
{
	struct timespec ts = {
		.tv_sec = (time_t)(int64_t)le64toh(sec),
		.tv_nsec = (long)le32toh(nsec),
	};

	return ts;
}

static void time_encode(struct timespec ts, le64 *sec, le32 *nsec)
{
	*sec = htole64((uint64_t)(int64_t)ts.tv_sec);
	*nsec = htole32((uint32_t)ts.tv_nsec);
}

void codec_inode_decode(const struct diofs_inode *d, struct codec_inode *r)
{
	r->mode = le32toh(d->mode);
	r->flags = le32toh(d->flags);
	r->uid = le32toh(d->uid);
	r->gid = le32toh(d->gid);
	r->links = le32toh(d->links);
	r->generation = le32toh(d->generation);
	r->ino = le64toh(d->ino);
	r->size = le64toh(d->size);
	r->blocks = le64toh(d->blocks);
	r->time[CODEC_ATIME] = time_decode(d->atime, d->atime_nsec);
	r->time[CODEC_MTIME] = time_decode(d->mtime, d->mtime_nsec);
	r->time[CODEC_CTIME] = time_decode(d->ctime, d->ctime_nsec);
	r->time[CODEC_CRTIME] = time_decode(d->crtime, d->crtime_nsec);
	r->parent = le64toh(d->parent);
	r->rdev = le64toh(d->rdev);
	r->ext_root = le64toh(d->ext_root);
	r->xattr_root = le64toh(d->xattr_root);
	r->orphan_next = le64toh(d->orphan_next);
	r->nr_extents = le16toh(d->nr_extents);
	r->xattr_len = le16toh(d->xattr_len);
	r->reserved0 = le32toh(d->reserved0);
	memcpy(r->inline_data, d->inline_data, sizeof(r->inline_data));
	memcpy(r->xattr, d->xattr, sizeof(r->xattr));
}

void codec_inode_encode(const struct codec_inode *r, struct diofs_inode *d)
{
	d->mode = htole32(r->mode);
	d->flags = htole32(r->flags);
	d->uid = htole32(r->uid);
	d->gid = htole32(r->gid);
	d->links = htole32(r->links);
	d->generation = htole32(r->generation);
	d->ino = htole64(r->ino);
	d->size = htole64(r->size);
	d->blocks = htole64(r->blocks);
	time_encode(r->time[CODEC_ATIME], &d->atime, &d->atime_nsec);
	time_encode(r->time[CODEC_MTIME], &d->mtime, &d->mtime_nsec);
	time_encode(r->time[CODEC_CTIME], &d->ctime, &d->ctime_nsec);
	time_encode(r->time[CODEC_CRTIME], &d->crtime, &d->crtime_nsec);
	d->parent = htole64(r->parent);
	d->rdev = htole64(r->rdev);
	d->ext_root = htole64(r->ext_root);
	d->xattr_root = htole64(r->xattr_root);
	d->orphan_next = htole64(r->orphan_next);
	d->nr_extents = htole16(r->nr_extents);
	d->xattr_len = htole16(r->xattr_len);
	d->reserved0 = htole32(r->reserved0);
	memcpy(d->inline_data, r->inline_data, sizeof(d->inline_data));
	memcpy(d->xattr, r->xattr, sizeof(d->xattr));
}

unsigned codec_inode_check(const struct codec_inode *r, uint64_t ino,
			   const struct super *sb)
{
	unsigned bad = 0;
	int i;

	if (r->ino != ino)
		bad |= CODEC_BAD(CODEC_INODE_INO);
	if (r->size > (uint64_t)INT64_MAX)
		bad |= CODEC_BAD(CODEC_INODE_SIZE);
	/* Negative: more than a 32-bit long holds, so too many as well. */
	for (i = 0; i < CODEC_TIMES; i++)
		if (r->time[i].tv_nsec < 0 || r->time[i].tv_nsec >= 1000000000L)
			bad |= CODEC_BAD(CODEC_INODE_ATIME + i);
	if (r->ext_root >= sb->blocks_count)
		bad |= CODEC_BAD(CODEC_INODE_EXT_ROOT);
	if (r->xattr_root >= sb->blocks_count)
		bad |= CODEC_BAD(CODEC_INODE_XATTR_ROOT);
	if (r->orphan_next >= sb->inodes_count)
		bad |= CODEC_BAD(CODEC_INODE_ORPHAN_NEXT);
	if (r->nr_extents > DIOFS_INLINE_EXTENTS)
		bad |= CODEC_BAD(CODEC_INODE_NR_EXTENTS);
	if (r->xattr_len > DIOFS_INLINE_XATTR)
		bad |= CODEC_BAD(CODEC_INODE_XATTR_LEN);
	return bad;
}

const char *codec_inode_field_name(enum codec_inode_field field)
{
	static const char *const names[CODEC_INODE_FIELDS] = {
		[CODEC_INODE_INO] = "ino",
		[CODEC_INODE_SIZE] = "size",
		[CODEC_INODE_ATIME] = "atime",
		[CODEC_INODE_MTIME] = "mtime",
		[CODEC_INODE_CTIME] = "ctime",
		[CODEC_INODE_CRTIME] = "crtime",
		[CODEC_INODE_EXT_ROOT] = "ext_root",
		[CODEC_INODE_XATTR_ROOT] = "xattr_root",
		[CODEC_INODE_ORPHAN_NEXT] = "orphan_next",
		[CODEC_INODE_NR_EXTENTS] = "nr_extents",
		[CODEC_INODE_XATTR_LEN] = "xattr_len",
	};

	return (unsigned)field < CODEC_INODE_FIELDS ? names[field] : "?";
}

/* ---- extents --------------------------------------------------------------- */

void codec_extent_decode(const struct diofs_extent *d, struct codec_extent *e)
{
	e->lblk = le64toh(d->lblk);
	e->pblk = le64toh(d->pblk);
	e->len = le32toh(d->len);
	e->flags = le32toh(d->flags);
}

void codec_extent_encode(const struct codec_extent *e, struct diofs_extent *d)
{
	d->lblk = htole64(e->lblk);
	d->pblk = htole64(e->pblk);
	d->len = htole32(e->len);
	d->flags = htole32(e->flags);
}

void codec_extent_val_decode(uint64_t lblk, const struct diofs_extent_val *v,
			     struct codec_extent *e)
{
	e->lblk = lblk;
	e->pblk = le64toh(v->pblk);
	e->len = le32toh(v->len);
	e->flags = le32toh(v->flags);
}

void codec_extent_val_encode(const struct codec_extent *e,
			     struct diofs_extent_val *v)
{
	v->pblk = htole64(e->pblk);
	v->len = htole32(e->len);
	v->flags = htole32(e->flags);
}

unsigned codec_extent_check(const struct codec_extent *e,
			    const struct super *sb)
{
	uint64_t nblocks = sb->blocks_count;
	unsigned bad = 0;

	if (!e->len)
		bad |= CODEC_BAD(CODEC_EXTENT_LEN);
	if (e->flags & ~DIOFS_EXT_UNWRITTEN)
		bad |= CODEC_BAD(CODEC_EXTENT_FLAGS);
	if (e->pblk >= nblocks || e->len > nblocks - e->pblk)
		bad |= CODEC_BAD(CODEC_EXTENT_PBLK);
	if (e->lblk > UINT64_MAX - e->len)
		bad |= CODEC_BAD(CODEC_EXTENT_LBLK);
	return bad;
}

/* ---- directory entries ------------------------------------------------------ */

int codec_dirent_decode(const void *val, size_t vlen, struct codec_dirent *e)
{
	const struct diofs_dirent *d = val;

	if (vlen < sizeof(*d) || vlen > CODEC_DIRENT_MAX ||
	    d->name_len == 0 || d->name_len != vlen - sizeof(*d)) {
		memset(e, 0, sizeof(*e));
		return -EUCLEAN;
	}
	e->ino = le64toh(d->ino);
	e->ftype = d->ftype;
	e->name_len = d->name_len;
	memcpy(e->name, d->name, e->name_len);
	e->name[e->name_len] = '\0';
	return 0;
}

size_t codec_dirent_encode(void *buf, const void *name, size_t len,
			   uint64_t ino, uint8_t ftype)
{
	struct diofs_dirent *d = buf;

	d->ino = htole64(ino);
	d->ftype = ftype;
	d->name_len = (uint8_t)len;
	memcpy(d->name, name, len);
	return sizeof(*d) + len;
}

uint8_t codec_ftype(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:	return DIOFS_FT_REG;
	case S_IFDIR:	return DIOFS_FT_DIR;
	case S_IFLNK:	return DIOFS_FT_LNK;
	case S_IFCHR:	return DIOFS_FT_CHR;
	case S_IFBLK:	return DIOFS_FT_BLK;
	case S_IFIFO:	return DIOFS_FT_FIFO;
	case S_IFSOCK:	return DIOFS_FT_SOCK;
	}
	return DIOFS_FT_UNKNOWN;
}

/* ---- extended attribute entries --------------------------------------------- */

size_t codec_xattr_size(size_t name_len, size_t value_len)
{
	return sizeof(struct diofs_xattr_entry) + name_len + value_len;
}

size_t codec_xattr_padded(size_t name_len, size_t value_len)
{
	return (codec_xattr_size(name_len, value_len) + 3) & ~(size_t)3;
}

/* The header at p; name and value follow it. */
static void xattr_decode(const struct diofs_xattr_entry *p,
			 struct codec_xattr *x)
{
	x->name_index = p->name_index & (uint8_t)~DIOFS_XATTR_RUN;
	x->run = (p->name_index & DIOFS_XATTR_RUN) != 0;
	x->name_len = p->name_len;
	x->value_len = le16toh(p->value_len);
	x->name = p->data;
	x->value = p->data + x->name_len;
}

int codec_xattr_inline(const uint8_t *area, size_t used, size_t off,
		       struct codec_xattr *x, size_t *next)
{
	size_t n;

	if (off + sizeof(struct diofs_xattr_entry) > used)
		return -EUCLEAN;
	xattr_decode((const struct diofs_xattr_entry *)(area + off), x);
	n = codec_xattr_padded(x->name_len, x->value_len);
	if (x->name_len == 0 || off + n > used ||
	    (x->run && x->value_len != sizeof(struct diofs_xattr_ref)))
		return -EUCLEAN;
	*next = off + n;
	return 0;
}

int codec_xattr_value(const void *val, size_t vlen, struct codec_xattr *x)
{
	if (vlen < sizeof(struct diofs_xattr_entry))
		return -EUCLEAN;
	xattr_decode(val, x);
	if (x->name_len == 0 ||
	    vlen != codec_xattr_size(x->name_len, x->value_len) ||
	    (x->run && x->value_len != sizeof(struct diofs_xattr_ref)))
		return -EUCLEAN;
	return 0;
}

int codec_xattr_ref_decode(const struct codec_xattr *x,
			   struct codec_xattr_ref *r)
{
	struct diofs_xattr_ref d;

	if (!x->run || x->value_len != sizeof(d))
		return -EUCLEAN;
	memcpy(&d, x->value, sizeof(d));	/* entries are not aligned */
	r->start = le64toh(d.start);
	r->size = le32toh(d.size);
	r->crc = le32toh(d.crc);
	if (r->size == 0 || r->size > DIOFS_XATTR_VALUE_MAX)
		return -EUCLEAN;
	return 0;
}

void codec_xattr_ref_encode(const struct codec_xattr_ref *r,
			    struct diofs_xattr_ref *d)
{
	d->start = htole64(r->start);
	d->size = htole32(r->size);
	d->crc = htole32(r->crc);
}

uint64_t codec_xattr_run_blocks(uint32_t size, uint32_t block_size)
{
	return ((uint64_t)size + block_size - 1) / block_size;
}

size_t codec_xattr_encode(void *buf, uint8_t name_index, const void *name,
			  size_t name_len, const void *value,
			  size_t value_len)
{
	struct diofs_xattr_entry *p = buf;

	p->name_index = name_index;
	p->name_len = (uint8_t)name_len;
	p->value_len = htole16((uint16_t)value_len);
	memcpy(p->data, name, name_len);
	if (value_len)
		memcpy(p->data + name_len, value, value_len);
	return codec_xattr_size(name_len, value_len);
}

/* ---- group descriptors ------------------------------------------------------- */

void codec_group_decode(const struct diofs_group_desc *d,
			struct codec_group *r)
{
	r->block_bitmap = le64toh(d->block_bitmap);
	r->inode_bitmap = le64toh(d->inode_bitmap);
	r->inode_table = le64toh(d->inode_table);
	r->free_blocks = le32toh(d->free_blocks);
	r->free_inodes = le32toh(d->free_inodes);
	r->dirs = le32toh(d->dirs);
	r->itable_init = le32toh(d->itable_init);
	r->flags = le32toh(d->flags);
	memcpy(r->reserved, d->reserved, sizeof(r->reserved));
}

void codec_group_encode(const struct codec_group *r,
			struct diofs_group_desc *d)
{
	d->block_bitmap = htole64(r->block_bitmap);
	d->inode_bitmap = htole64(r->inode_bitmap);
	d->inode_table = htole64(r->inode_table);
	d->free_blocks = htole32(r->free_blocks);
	d->free_inodes = htole32(r->free_inodes);
	d->dirs = htole32(r->dirs);
	d->itable_init = htole32(r->itable_init);
	d->flags = htole32(r->flags);
	memcpy(d->reserved, r->reserved, sizeof(d->reserved));
}

unsigned codec_group_check(const struct codec_group *r, uint64_t g,
			   const struct super *sb)
{
	uint64_t first = super_group_first(sb, g);
	unsigned bad = 0;

	if (r->block_bitmap != first || r->inode_bitmap != first + 1 ||
	    r->inode_table != first + 2)
		bad |= CODEC_BAD(CODEC_GROUP_LAYOUT);
	if (r->free_blocks > super_group_len(sb, g) - super_group_meta(sb))
		bad |= CODEC_BAD(CODEC_GROUP_FREE_BLOCKS);
	if (r->free_inodes > sb->inodes_per_group)
		bad |= CODEC_BAD(CODEC_GROUP_FREE_INODES);
	if (r->itable_init > sb->itable_blocks)
		bad |= CODEC_BAD(CODEC_GROUP_ITABLE_INIT);
	if (r->flags & ~CODEC_GROUP_KNOWN_FLAGS)
		bad |= CODEC_BAD(CODEC_GROUP_FLAGS);
	return bad;
}
