/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check: the checker's driver, and the passes over the superblock, the
 * group descriptors and the bitmaps.
 *
 * fsck_run() reads everything the filesystem holds into a model (see
 * model.h) and compares what the disk says with what the model counts.
 * The passes, in order:
 *
 *   check_super        both superblock copies, the error state
 *   check_groups       descriptors: locations, flags, itable_init
 *   mark_static        superblocks, descriptor table, journal and every
 *                      group's bitmaps and inode table: in use
 *   fsck_scan_inodes   every initialized inode-table block; every tree of
 *                      every inode (nodes: in use); extents collected
 *   fsck_orphans       the orphan list
 *   fsck_scan_dirs     every directory entry: targets, types, names
 *   fsck_orphans_decide  unlinked orphans: freed, or left for the mount
 *   fsck_claim_data    data extents: in use; a block claimed twice is
 *                      copied for the second claimant
 *   fsck_fix_extents, fsck_fix_xattrs, fsck_fix_entries, fsck_connect
 *                                                     (repairs)
 *   fsck_inode_counts, fsck_write_inodes
 *   check_bitmaps      bitmaps and descriptor counts against the model
 *   finish_super       superblock totals, orphan head, error state
 *
 * This module is the top of the checker (model.h gives the order): it
 * calls the passes of check_inode.c and check_dir.c and the helpers of
 * model.c, and none of them calls it.
 *
 * Rules:
 *  1. Uninitialized groups (format.h rule 3) are never read: their bitmaps
 *     are implied and their inode tables hold nothing, so a fresh 1 TiB
 *     filesystem is checked by reading its descriptor table and group 0.
 *  2. The model is the truth for the bitmaps and the descriptor counts:
 *     they are rebuilt from it, never the other way round.
 *  3. With repair off, no function writes: every write goes through
 *     fsck_commit(), fsck_pwrite() or super_write(), each called only with
 *     f->repair set.
 *  4. Every metadata block written has a stamped header: blocks changed
 *     through the cache are stamped by txn_commit(), and corrupt blocks
 *     are replaced through cache_new() rather than patched in place.
 *  5. One problem, one line: the blocks and inodes the checker itself
 *     frees or allocates (f->own, f->own_ino, own_dirs) were reported
 *     with the repair that caused them, so the bitmap pass fixes the
 *     differences they explain without reporting them again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diofs/codec.h"
#include "diofs/crc.h"
#include "diofs/journal.h"
#include "check_dir.h"
#include "check_inode.h"
#include "model.h"

/* Metadata cache size, and the largest raw read or write. */
#define FSCK_CACHE_BYTES	(32u << 20)
#define FSCK_CACHE_MIN		256u
#define FSCK_IO_CHUNK		(1u << 20)

/* ---- superblock ----------------------------------------------------------- */

/* Do two copies say the same (apart from where they live)? */
static int super_same(struct fsck *f, const struct super *a,
		      const struct super *b, int *same)
{
	uint8_t *x, *y;

	x = fsck_buf(f, f->bs);
	y = fsck_buf(f, f->bs);
	if (!x || !y) {
		free(x);
		free(y);
		return fsck_fail(f, -ENOMEM, "out of memory");
	}
	super_encode(a, x, 0);
	super_encode(b, y, 0);
	*same = !memcmp(x, y, f->bs);
	free(x);
	free(y);
	return 0;
}

static int check_super(struct fsck *f)
{
	char msg[200], why[200];
	struct super bk;
	int err, same = 0;

	err = super_read(f->bdev, &f->sb, msg, sizeof(msg));
	if (err)
		return fsck_fail(f, err, "%s", msg);
	f->bs = f->sb.block_size;
	if (f->sb.read_only)
		return fsck_fail(f, -EOPNOTSUPP,
				 "unsupported read-only features 0x%x: a newer diofs made or last changed this filesystem",
				 f->sb.ro_compat & ~DIOFS_FEAT_RO_COMPAT_KNOWN);
	if (f->o->skip_clean && !f->sb.from_backup && f->sb.state == 0) {
		/* A clean filesystem's totals are exact (refreshed at
		 * unmount). */
		f->res->skipped = 1;
		f->res->blocks_count = f->sb.blocks_count;
		f->res->blocks_used = f->sb.blocks_count - f->sb.free_blocks;
		f->res->inodes_count = f->sb.inodes_count;
		f->res->inodes_used = f->sb.inodes_count - f->sb.free_inodes;
		return 0;
	}
	if (f->sb.from_backup) {
		/* super_read() adds that it used the backup: the fix says so. */
		msg[strcspn(msg, ";")] = '\0';
		fsck_problem(f, "restored from the backup", "primary superblock: %s",
			     msg);
		f->sb_rewrite = 1;
	} else {
		err = super_read_at(f->bdev, f->bs, f->sb.backup_blkno, &bk, why,
				    sizeof(why));
		if (err == -ENOMEM || err == -EIO)
			return fsck_fail(f, err, "%s", why);
		if (err) {
			fsck_problem(f, "rewritten", "backup superblock: %s", why);
			f->sb_rewrite = 1;
		} else {
			bk.from_backup = 0;
			err = super_same(f, &f->sb, &bk, &same);
			if (err)
				return err;
			if (!same) {
				fsck_problem(f, "rewritten from the primary",
					     "backup superblock differs from the primary");
				f->sb_rewrite = 1;
			}
		}
	}
	if (f->sb.state & DIOFS_STATE_ERROR) {
		fsck_problem(f, "mark cleared",
			     "the filesystem is marked as having errors");
		f->clear_error = 1;
	}
	return 0;
}

/* ---- group descriptors -------------------------------------------------------- */

/*
 * Inode-table blocks of group g in use: one past the last block that
 * carries a valid header.  For a group whose descriptor is lost; a block
 * never written cannot pass (wrong UUID, block number or checksum).
 */
static int probe_itable(struct fsck *f, uint64_t g, uint32_t *init)
{
	uint64_t itable = super_group_first(&f->sb, g) + 2;
	uint32_t n = f->sb.itable_blocks, chunk = FSCK_IO_CHUNK / f->bs, k, i;
	uint8_t *buf;
	int err = 0;

	if (!chunk)
		chunk = 1;
	buf = fsck_buf(f, (size_t)chunk * f->bs);
	if (!buf)
		return fsck_fail(f, -ENOMEM, "out of memory");
	*init = 0;
	for (k = 0; k < n && !err; k += chunk) {
		uint32_t cnt = n - k < chunk ? n - k : chunk;

		err = fsck_pread(f, buf, itable + k, cnt);
		for (i = 0; !err && i < cnt; i++)
			if (!blkhdr_verify(buf + (size_t)i * f->bs, f->bs,
					   DIOFS_MAGIC_ITABLE, itable + k + i,
					   f->sb.uuid))
				*init = k + i + 1;
	}
	free(buf);
	return err;
}

/* The descriptor of group g as read: does it fit the geometry? */
static int check_desc(struct fsck *f, uint64_t g)
{
	const struct super *sb = &f->sb;
	struct fgroup *fg = &f->g[g];
	const struct codec_group *d = &fg->disk;
	unsigned bad = codec_group_check(d, g, sb);
	static const uint8_t zero[sizeof(d->reserved)];
	int err;

	fg->flags = d->flags;
	fg->itable_init = d->itable_init;
	/* The engine ignores the reserved bytes; fsck wants them zero. */
	if ((bad & CODEC_BAD(CODEC_GROUP_LAYOUT)) ||
	    memcmp(d->reserved, zero, sizeof(zero))) {
		fsck_problem(f, "fixed",
			     "group %" PRIu64 ": descriptor does not match the group's layout",
			     g);
		fg->desc_bad = 1;
	}
	if (bad & CODEC_BAD(CODEC_GROUP_FLAGS)) {
		fsck_problem(f, "cleared",
			     "group %" PRIu64 ": descriptor has unknown flags 0x%x",
			     g, fg->flags & ~CODEC_GROUP_KNOWN_FLAGS);
		fg->flags &= CODEC_GROUP_KNOWN_FLAGS;
		fg->desc_bad = 1;
	}
	/* Group 0 holds the root and the reserved inodes. */
	if (g == 0 && (fg->flags & DIOFS_BG_INODE_UNINIT)) {
		fsck_problem(f, "flag cleared",
			     "group 0 is marked as having no inodes");
		fg->flags &= ~DIOFS_BG_INODE_UNINIT;
		fg->desc_bad = 1;
	}
	if ((fg->flags & DIOFS_BG_INODE_UNINIT) && fg->itable_init) {
		fsck_problem(f, "flag cleared",
			     "group %" PRIu64 ": marked as having no inodes, but %u inode-table blocks are initialized",
			     g, fg->itable_init);
		fg->flags &= ~DIOFS_BG_INODE_UNINIT;
		fg->desc_bad = 1;
	}
	if (bad & CODEC_BAD(CODEC_GROUP_ITABLE_INIT)) {
		fsck_problem(f, "recounted",
			     "group %" PRIu64 ": %u initialized inode-table blocks, but the table has %u",
			     g, fg->itable_init, sb->itable_blocks);
		err = probe_itable(f, g, &fg->itable_init);
		if (err)
			return err;
		fg->desc_bad = 1;
	}
	return 0;
}

static int check_groups(struct fsck *f)
{
	const struct super *sb = &f->sb;
	uint64_t k, g, blkno, end;
	struct mbuf *b;
	uint32_t off;
	int err = 0;

	f->g = calloc(sb->group_count, sizeof(*f->g));
	if (!f->g)
		return fsck_fail(f, -ENOMEM, "out of memory");
	for (k = 0; k < sb->gdt_blocks && !err; k++) {
		g = k * sb->descs_per_block;
		if (g >= sb->group_count)
			break;
		end = g + sb->descs_per_block;
		if (end > sb->group_count)
			end = sb->group_count;
		blkno = sb->gdt_start + k;
		err = cache_read(f->c, blkno, DIOFS_MAGIC_GDT, &b);
		if (err == -EUCLEAN) {
			/* Nothing in the block can be trusted: the bitmaps
			 * are rewritten whole, the inode tables probed. */
			fsck_problem(f, "rebuilt",
				     "group descriptor block %" PRIu64 " (groups %" PRIu64 "-%" PRIu64 ") is corrupt",
				     blkno, g, end - 1);
			for (err = 0; g < end && !err; g++) {
				f->g[g].desc_bad = 1;
				f->g[g].lost = 1;
				err = probe_itable(f, g, &f->g[g].itable_init);
				if (!err && g == 0 && f->g[0].itable_init * sb->inodes_per_block <
				    sb->first_ino)
					f->g[0].itable_init = (uint32_t)
						((sb->first_ino + sb->inodes_per_block - 1) /
						 sb->inodes_per_block);
			}
			continue;
		}
		if (err)
			return fsck_fail(f, err, "cannot read group descriptor block %" PRIu64 ": %s",
					 blkno, strerror(-err));
		for (; g < end; g++) {
			super_desc_loc(sb, g, &blkno, &off);
			codec_group_decode((const struct diofs_group_desc *)
					   ((uint8_t *)b->data + off),
					   &f->g[g].disk);
		}
		cache_release(f->c, b);
		for (g = k * sb->descs_per_block; g < end && !err; g++)
			err = check_desc(f, g);
	}
	return err;
}

/* Rule 2's starting point: what is in use whatever the files say. */
static void mark_static(struct fsck *f)
{
	const struct super *sb = &f->sb;
	uint64_t g, first, end = sb->group_start;

	fsck_mark(f, 0, sb->group_start, 1);
	for (g = 0; g < sb->group_count; g++) {
		first = super_group_first(sb, g);
		fsck_mark(f, first, super_group_meta(sb), 1);
		end = first + super_group_len(sb, g);
	}
	fsck_mark(f, end, sb->blocks_count - end, 1);
}

/* ---- bitmaps and descriptor counts ------------------------------------------- */

/* Copy bits [from, from + n) of map to bits [0, n) of dst (dst zeroed
 * first, n rounded up to a byte). */
static void map_extract(uint8_t *dst, const uint8_t *map, uint64_t from,
			uint32_t n)
{
	uint32_t nbytes = (n + 7) / 8, i, s = from % 8;
	const uint8_t *src = map + from / 8;

	if (!s) {
		memcpy(dst, src, nbytes);
	} else {
		for (i = 0; i < nbytes; i++)
			dst[i] = (uint8_t)(src[i] >> s | src[i + 1] << (8 - s));
	}
	if (n % 8)
		dst[nbytes - 1] &= (uint8_t)((1u << (n % 8)) - 1);
}

static uint64_t popcount_bytes(const uint8_t *p, size_t n)
{
	uint64_t c = 0;
	size_t i;

	for (i = 0; i < n; i++)
		c += (uint64_t)__builtin_popcount(p[i]);
	return c;
}

/* Write a bitmap block: blkno gets the bytes of want after its header. */
static int write_bitmap(struct fsck *f, uint64_t blkno, uint32_t magic,
			const uint8_t *want)
{
	struct mbuf *b;
	struct txn *t;
	int err;

	err = cache_read(f->c, blkno, magic, &b);
	if (err == -EUCLEAN || err == -EINVAL)
		err = cache_new(f->c, blkno, magic, &b);
	if (err)
		return fsck_fail(f, err, "cannot read block %" PRIu64 ": %s",
				 blkno, strerror(-err));
	err = fsck_txn_holding(f, b, &t);
	if (err)
		return err;
	memcpy((uint8_t *)b->data + sizeof(struct diofs_blkhdr), want,
	       f->bs - sizeof(struct diofs_blkhdr));
	return fsck_commit(f, t);
}

/* One bitmap compared with the model (rule 2). */
struct bm_cmp {
	uint64_t lost;		/* in use, marked free, not the checker's doing */
	uint64_t stale;		/* free, marked in use, not the checker's doing */
	int64_t delta;		/* change in free count the checker's own
				 * frees and allocations explain */
	int unreadable;		/* the disk copy is corrupt */
	int differs;		/* the disk copy must be rewritten */
};

static void cmp_bits(const uint8_t *have, const uint8_t *want,
		     const uint8_t *own, size_t n, struct bm_cmp *r)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned o = own[i], h = have[i], w = want[i];

		r->lost += (uint64_t)__builtin_popcount(w & ~h & ~o & 0xffu);
		r->stale += (uint64_t)__builtin_popcount(h & ~w & ~o & 0xffu);
		r->delta += __builtin_popcount(o & ~w & 0xffu) -
			    __builtin_popcount(o & ~h & 0xffu);
	}
	r->differs = memcmp(have, want, n) != 0;
}

/*
 * The on-disk bitmap at blkno into have; 0 with r->unreadable set when it
 * is corrupt (reported as what).
 */
static int read_bitmap(struct fsck *f, uint64_t g, uint64_t blkno,
		       uint32_t magic, const char *what, uint8_t *have,
		       struct bm_cmp *r)
{
	struct mbuf *b;
	int err;

	err = cache_read(f->c, blkno, magic, &b);
	if (err == -EUCLEAN) {
		fsck_problem(f, "rebuilt",
			     "group %" PRIu64 ": %s bitmap (block %" PRIu64 ") is corrupt",
			     g, what, blkno);
		r->unreadable = 1;
		return 0;
	}
	if (err)
		return fsck_fail(f, err, "cannot read block %" PRIu64 ": %s",
				 blkno, strerror(-err));
	memcpy(have, (uint8_t *)b->data + sizeof(struct diofs_blkhdr),
	       f->bs - sizeof(struct diofs_blkhdr));
	cache_release(f->c, b);
	return 0;
}

/* Scratch buffers of one bitmap's size. */
struct bm_bufs {
	uint8_t *want, *have, *own;
};

/*
 * Rule 1: fill bb->have with the bitmap on disk, or with the one implied
 * by an uninitialized group (bits [0, head) and [tail, end) in use, the
 * rest free), then compare it with bb->want into *r.
 */
static int load_bitmap(struct fsck *f, uint64_t g, int implied,
		       uint32_t head, uint32_t tail, uint64_t blkno,
		       uint32_t magic, const char *what, struct bm_bufs *bb,
		       struct bm_cmp *r)
{
	uint32_t bits = DIOFS_BITMAP_BITS(f->bs), n = f->bs - 32;
	int err;

	if (implied) {
		memset(bb->have, 0, n);
		fsck_set_range(bb->have, 0, head, 1);
		fsck_set_range(bb->have, tail, bits, 1);
	} else if (f->g[g].lost) {
		r->unreadable = 1;
	} else {
		err = read_bitmap(f, g, blkno, magic, what, bb->have, r);
		if (err)
			return err;
	}
	if (!r->unreadable)
		cmp_bits(bb->have, bb->want, bb->own, n, r);
	return 0;
}

/*
 * Group g's block bitmap against the model.  *nfree gets the group's free
 * blocks, *r the comparison.
 */
static int check_block_bitmap(struct fsck *f, uint64_t g, struct bm_bufs *bb,
			      uint32_t *nfree, struct bm_cmp *r)
{
	const struct super *sb = &f->sb;
	uint64_t first = super_group_first(sb, g);
	uint32_t len = (uint32_t)super_group_len(sb, g);
	uint32_t meta = super_group_meta(sb);
	uint32_t bits = DIOFS_BITMAP_BITS(f->bs), n = f->bs - 32;
	struct fgroup *fg = &f->g[g];
	int implied, err;

	memset(r, 0, sizeof(*r));
	memset(bb->want, 0, n);
	map_extract(bb->want, f->used, first, len);
	*nfree = len - (uint32_t)popcount_bytes(bb->want, (len + 7) / 8);
	fsck_set_range(bb->want, len, bits, 1);
	memset(bb->own, 0, n);
	if (f->own)
		map_extract(bb->own, f->own, first, len);

	/* Rule 1: an uninitialized group's bitmap is implied, not read;
	 * so is one that only the checker's own allocation initialized. */
	implied = (fg->flags & DIOFS_BG_BLOCK_UNINIT) || fg->bbm_new;
	err = load_bitmap(f, g, implied, meta, len, first, DIOFS_MAGIC_BBITMAP,
			  "block", bb, r);
	if (err)
		return err;
	if (r->lost || r->stale) {
		if (implied)
			fsck_problem(f, "bitmap written",
				     "group %" PRIu64 " is marked unused but has %" PRIu64 " data blocks in use",
				     g, r->lost);
		else
			fsck_problem(f, "rebuilt",
				     "group %" PRIu64 ": block bitmap marks %" PRIu64 " blocks in use as free and %" PRIu64 " free blocks as in use",
				     g, r->lost, r->stale);
	}
	if (!r->unreadable && !r->differs && !fg->bbm_new)
		return 0;
	if (fg->flags & DIOFS_BG_BLOCK_UNINIT) {
		fg->flags &= ~DIOFS_BG_BLOCK_UNINIT;
		fg->desc_bad = 1;
	}
	return f->repair ? write_bitmap(f, first, DIOFS_MAGIC_BBITMAP, bb->want)
			 : 0;
}

static int cmp_ino(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Group g's inode bitmap from the inode records; *idx and *oidx walk the
 * records and the checker's own inodes (both sorted) group by group.
 */
static int check_inode_bitmap(struct fsck *f, uint64_t g, size_t *idx,
			      size_t *oidx, struct bm_bufs *bb, uint32_t *nfree,
			      uint32_t *ndirs, struct bm_cmp *r)
{
	const struct super *sb = &f->sb;
	uint32_t ipg = sb->inodes_per_group, bits = DIOFS_BITMAP_BITS(f->bs);
	uint64_t base = g * ipg, blkno = super_group_first(sb, g) + 1;
	uint32_t reserved = g == 0 ? (uint32_t)sb->first_ino : 0;
	uint32_t n = f->bs - 32;
	struct fgroup *fg = &f->g[g];
	int implied, err;

	memset(r, 0, sizeof(*r));
	memset(bb->want, 0, n);
	fsck_set_range(bb->want, 0, reserved, 1);
	*ndirs = 0;
	for (; *idx < f->nino && f->ino[*idx].ino < base + ipg; (*idx)++) {
		const struct finode *fi = &f->ino[*idx];

		if (fi->state & FI_FREE)
			continue;
		fsck_set(bb->want, fi->ino - base, 1);
		if (S_ISDIR(fi->mode))
			(*ndirs)++;
	}
	*nfree = ipg - (uint32_t)popcount_bytes(bb->want, (ipg + 7) / 8);
	fsck_set_range(bb->want, ipg, bits, 1);
	memset(bb->own, 0, n);
	for (; *oidx < f->nown_ino && f->own_ino[*oidx] < base + ipg; (*oidx)++)
		fsck_set(bb->own, f->own_ino[*oidx] - base, 1);

	implied = (fg->flags & DIOFS_BG_INODE_UNINIT) || fg->ibm_new;
	err = load_bitmap(f, g, implied, reserved, ipg, blkno,
			  DIOFS_MAGIC_IBITMAP, "inode", bb, r);
	if (err)
		return err;
	if (r->lost || r->stale)
		fsck_problem(f, "rebuilt",
			     "group %" PRIu64 ": inode bitmap marks %" PRIu64 " inodes in use as free and %" PRIu64 " free inodes as in use",
			     g, r->lost, r->stale);
	if (!r->unreadable && !r->differs && !fg->ibm_new)
		return 0;
	if (fg->flags & DIOFS_BG_INODE_UNINIT) {
		/* No inode of such a group is scanned, so only the
		 * checker's own lost+found can be counted in it. */
		fg->flags &= ~DIOFS_BG_INODE_UNINIT;
		fg->desc_bad = 1;
	}
	return f->repair ? write_bitmap(f, blkno, DIOFS_MAGIC_IBITMAP, bb->want)
			 : 0;
}

/* Rewrite the descriptors of table block k that changed. */
static int write_descs(struct fsck *f, uint64_t k,
		       const struct codec_group *want, const uint8_t *changed)
{
	const struct super *sb = &f->sb;
	uint64_t g0 = k * sb->descs_per_block, g, blkno = sb->gdt_start + k;
	uint64_t g1 = g0 + sb->descs_per_block;
	struct mbuf *b;
	struct txn *t;
	uint32_t off;
	int err, fresh = 0;

	if (g1 > sb->group_count)
		g1 = sb->group_count;
	err = cache_read(f->c, blkno, DIOFS_MAGIC_GDT, &b);
	if (err == -EUCLEAN) {
		err = cache_new(f->c, blkno, DIOFS_MAGIC_GDT, &b);
		fresh = 1;
	}
	if (err)
		return fsck_fail(f, err, "cannot read block %" PRIu64 ": %s",
				 blkno, strerror(-err));
	err = fsck_txn_holding(f, b, &t);
	if (err)
		return err;
	for (g = g0; g < g1; g++) {
		if (!fresh && !changed[g - g0])
			continue;
		super_desc_loc(sb, g, &blkno, &off);
		codec_group_encode(&want[g - g0], (struct diofs_group_desc *)
				   ((uint8_t *)b->data + off));
	}
	return fsck_commit(f, t);
}

static void expected_desc(const struct fsck *f, uint64_t g, uint32_t nfree_b,
			  uint32_t nfree_i, uint32_t ndirs,
			  struct codec_group *d)
{
	uint64_t first = super_group_first(&f->sb, g);

	memset(d, 0, sizeof(*d));
	d->block_bitmap = first;
	d->inode_bitmap = first + 1;
	d->inode_table = first + 2;
	d->free_blocks = nfree_b;
	d->free_inodes = nfree_i;
	d->dirs = ndirs;
	d->itable_init = f->g[g].itable_init;
	d->flags = f->g[g].flags;
}

/* Do two descriptors differ on disk? */
static int desc_differs(const struct codec_group *a,
			const struct codec_group *b)
{
	struct diofs_group_desc x, y;

	codec_group_encode(a, &x);
	codec_group_encode(b, &y);
	return memcmp(&x, &y, sizeof(x)) != 0;
}

/*
 * A count on disk is wrong when what the checker's own changes explain
 * does not bridge it to the model's, and the bitmap has not been reported
 * already (its differences change the count as well).
 */
static int count_wrong(uint32_t disk, const struct bm_cmp *r, uint32_t model)
{
	return !r->unreadable && !r->lost && !r->stale &&
	       (int64_t)disk + r->delta != (int64_t)model;
}

/* Totals of the descriptors as they were on disk; lost: some unknown. */
struct disk_totals {
	uint64_t free_blocks, free_inodes;
	int lost;
};

static int check_group_counts(struct fsck *f, uint64_t g, struct bm_bufs *bb,
			      size_t *idx, size_t *oidx,
			      struct codec_group *want, int *changed)
{
	const struct codec_group *d = &f->g[g].disk;
	struct bm_cmp rb, ri;
	uint32_t nb, ni, nd;
	int err;

	err = check_block_bitmap(f, g, bb, &nb, &rb);
	if (!err)
		err = check_inode_bitmap(f, g, idx, oidx, bb, &ni, &nd, &ri);
	if (err)
		return err;
	expected_desc(f, g, nb, ni, nd, want);
	*changed = f->g[g].desc_bad || desc_differs(d, want);
	if (!f->g[g].lost &&
	    (count_wrong(d->free_blocks, &rb, nb) ||
	     count_wrong(d->free_inodes, &ri, ni) ||
	     (int64_t)d->dirs + f->g[g].own_dirs != (int64_t)nd))
		fsck_problem(f, "fixed",
			     "group %" PRIu64 ": descriptor counts %u free blocks, %u free inodes, %u directories; found %u, %u, %u",
			     g, d->free_blocks, d->free_inodes, d->dirs, nb, ni,
			     nd);
	return 0;
}

static int check_bitmaps(struct fsck *f, uint64_t *free_blocks,
			 uint64_t *free_inodes, struct disk_totals *disk)
{
	const struct super *sb = &f->sb;
	uint64_t k, g, g0, g1;
	struct codec_group *want;
	struct bm_bufs bb;
	uint8_t *changed;
	size_t idx = 0, oidx = 0;
	int err = 0, any, ch = 0;

	bb.want = fsck_buf(f, f->bs);
	bb.have = fsck_buf(f, f->bs);
	bb.own = fsck_buf(f, f->bs);
	want = calloc(sb->descs_per_block, sizeof(*want));
	changed = calloc(sb->descs_per_block, 1);
	if (!bb.want || !bb.have || !bb.own || !want || !changed) {
		err = fsck_fail(f, -ENOMEM, "out of memory");
		goto out;
	}
	if (f->nown_ino)
		qsort(f->own_ino, f->nown_ino, sizeof(*f->own_ino), cmp_ino);
	*free_blocks = *free_inodes = 0;
	memset(disk, 0, sizeof(*disk));
	fsck_progress(f, FSCK_PASS_GROUPS, 0, sb->group_count);
	for (k = 0; k < sb->gdt_blocks && !err; k++) {
		g0 = k * sb->descs_per_block;
		if (g0 >= sb->group_count)
			break;
		g1 = g0 + sb->descs_per_block;
		if (g1 > sb->group_count)
			g1 = sb->group_count;
		any = 0;
		for (g = g0; g < g1 && !err; g++) {
			err = check_group_counts(f, g, &bb, &idx, &oidx,
						 &want[g - g0], &ch);
			if (err)
				break;
			changed[g - g0] = (uint8_t)ch;
			any |= ch;
			*free_blocks += want[g - g0].free_blocks;
			*free_inodes += want[g - g0].free_inodes;
			disk->free_blocks += f->g[g].disk.free_blocks;
			disk->free_inodes += f->g[g].disk.free_inodes;
			disk->lost |= f->g[g].lost;
			fsck_progress(f, FSCK_PASS_GROUPS, g + 1,
				      sb->group_count);
		}
		if (!err && any && f->repair)
			err = write_descs(f, k, want, changed);
	}
out:
	free(changed);
	free(want);
	free(bb.own);
	free(bb.have);
	free(bb.want);
	return err;
}

/* ---- the superblock at the end ------------------------------------------------ */

static int finish_super(struct fsck *f, uint64_t free_blocks,
			uint64_t free_inodes, const struct disk_totals *disk)
{
	struct super *sb = &f->sb;
	int write = f->sb_rewrite || f->clear_error;
	int err;

	if (sb->free_blocks != free_blocks || sb->free_inodes != free_inodes) {
		/*
		 * The totals are refreshed at unmount only, so stale ones
		 * are expected while the filesystem is marked mounted; and
		 * where the descriptors were wrong, they were reported.
		 */
		if (!(sb->state & DIOFS_STATE_DIRTY) && !disk->lost &&
		    (sb->free_blocks != disk->free_blocks ||
		     sb->free_inodes != disk->free_inodes))
			fsck_problem(f, "fixed",
				     "superblock counts %" PRIu64 " free blocks and %" PRIu64 " free inodes; the groups say %" PRIu64 " and %" PRIu64,
				     sb->free_blocks, sb->free_inodes,
				     disk->free_blocks, disk->free_inodes);
		write = 1;
	}
	f->res->blocks_count = sb->blocks_count;
	f->res->blocks_used = sb->blocks_count - free_blocks;
	f->res->inodes_count = sb->inodes_count;
	f->res->inodes_used = sb->inodes_count - free_inodes;
	if (!f->repair || !write)
		return 0;
	sb->free_blocks = free_blocks;
	sb->free_inodes = free_inodes;
	if (f->clear_error)
		sb->state &= ~DIOFS_STATE_ERROR;
	sb->from_backup = 0;
	err = super_write(f->bdev, sb);
	if (err)
		return fsck_fail(f, err, "cannot write the superblock: %s",
				 strerror(-err));
	return 0;
}

/* ---- the driver -------------------------------------------------------------- */

static void fsck_free(struct fsck *f)
{
	free(f->own_ino);
	free(f->own);
	free(f->ef);
	free(f->xr);
	free(f->xf);
	free(f->cl);
	free(f->ino);
	free(f->used);
	free(f->g);
	cache_destroy(f->c);
	if (f->q)
		bdev_queue_close(f->q);
}

static int run_once(struct bdev *bdev, const struct fsck_opts *o, int repair,
		    const char *prefix, struct fsck_result *res)
{
	struct fsck f = { 0 };
	uint64_t fb = 0, fi = 0;
	struct disk_totals disk;
	size_t cache_blocks;
	int err;

	f.o = o;
	f.res = res;
	f.prefix = prefix;
	f.bdev = bdev;
	f.repair = repair;
	err = bdev_queue_open(bdev, 1, &f.q);
	if (err) {
		fsck_fail(&f, err, "cannot set up I/O: %s", strerror(-err));
		goto out;
	}
	err = check_super(&f);
	if (err || res->skipped)
		goto out;
	cache_blocks = FSCK_CACHE_BYTES / f.bs;
	if (cache_blocks < FSCK_CACHE_MIN)
		cache_blocks = FSCK_CACHE_MIN;
	err = cache_create(bdev, f.bs, f.sb.uuid, cache_blocks, &f.c);
	if (err) {
		fsck_fail(&f, err, "cannot set up the metadata cache: %s",
			  strerror(-err));
		goto out;
	}
	/* Eight spare bytes: map_extract() may read one byte past a range. */
	f.used = calloc(f.sb.blocks_count / 8 + 8, 1);
	if (!f.used) {
		err = fsck_fail(&f, -ENOMEM, "out of memory for a map of %" PRIu64 " blocks",
				f.sb.blocks_count);
		goto out;
	}
	err = check_groups(&f);
	if (err)
		goto out;
	mark_static(&f);
	err = fsck_scan_inodes(&f);
	if (!err)
		err = fsck_orphans(&f);
	if (!err)
		err = fsck_scan_dirs(&f);
	if (!err)
		err = fsck_orphans_decide(&f);
	if (!err)
		err = fsck_claim_data(&f);
	if (!err)
		err = fsck_fix_extents(&f);
	if (!err)
		err = fsck_fix_xattrs(&f);
	if (!err)
		err = fsck_fix_entries(&f);
	if (!err)
		err = fsck_connect(&f);
	if (!err)
		err = fsck_inode_counts(&f);
	if (!err)
		err = fsck_write_inodes(&f);
	if (!err)
		err = check_bitmaps(&f, &fb, &fi, &disk);
	if (!err)
		err = finish_super(&f, fb, fi, &disk);
	if (!err && repair) {
		err = bdev_flush(bdev);
		if (err)
			fsck_fail(&f, err, "cannot flush the device: %s",
				  strerror(-err));
	}
out:
	if (err && !f.err)
		fsck_fail(&f, err, "%s", strerror(-err));
	fsck_free(&f);
	return f.err;
}

/*
 * A journal superblock too damaged to find the log by, on a filesystem
 * that needs recovery: what the journal holds is lost.  Repair makes the
 * journal empty and clears RECOVER, and the check goes on with what is in
 * place.
 */
static int discard_journal(struct bdev *bdev, const struct fsck_opts *opts,
			   struct fsck_result *res, struct super *sb)
{
	struct fsck f = {
		.o = opts, .res = res, .prefix = "", .repair = opts->repair,
	};
	int err;

	fsck_problem(&f, "journal emptied, its transactions are lost",
		     "journal: its superblock is damaged, so the transactions it holds cannot be replayed");
	if (!opts->repair)
		return 0;
	err = journal_format(bdev, sb);
	sb->incompat &= ~DIOFS_FEAT_INCOMPAT_RECOVER;
	if (!err)
		err = super_write(bdev, sb);
	if (err)
		snprintf(res->msg, sizeof(res->msg),
			 "cannot empty the journal: %s", strerror(-err));
	return err;
}

/*
 * A filesystem that needs recovery is checked as it will be after replay:
 * with repair the journal is replayed for real and RECOVER cleared; without,
 * it is replayed in memory, over the device, for as long as *j is open.
 */
static int replay_journal(struct bdev *bdev, const struct fsck_opts *opts,
			  struct fsck_result *res, struct journal **j)
{
	struct journal_replay info;
	struct super sb;
	char msg[200] = "";
	int err;

	*j = NULL;
	err = super_read(bdev, &sb, msg, sizeof(msg));
	if (err || !(sb.incompat & DIOFS_FEAT_INCOMPAT_RECOVER))
		return 0;	/* check_super() reports what is wrong */
	err = journal_open(bdev, &sb, j, msg, sizeof(msg));
	if (err == -EUCLEAN)
		return discard_journal(bdev, opts, res, &sb);
	if (!err)
		err = journal_recover(*j, opts->repair, &info, msg, sizeof(msg));
	if (!err && opts->repair) {
		err = super_read(bdev, &sb, msg, sizeof(msg));
		sb.incompat &= ~DIOFS_FEAT_INCOMPAT_RECOVER;
		if (!err)
			err = super_write(bdev, &sb);
		if (err && !msg[0])
			snprintf(msg, sizeof(msg), "cannot write the superblock");
	}
	if (err) {
		snprintf(res->msg, sizeof(res->msg), "%s", msg);
		journal_close(*j);
		*j = NULL;
		return err;
	}
	if (opts->out)
		fprintf(opts->out,
			"journal: %" PRIu64 " committed transaction%s replayed%s%s\n",
			info.transactions, info.transactions == 1 ? "" : "s",
			opts->repair ? "" : " in memory only (-n)",
			info.torn ? "; an incomplete last one discarded" : "");
	return 0;
}

int fsck_run(struct bdev *bdev, const struct fsck_opts *opts,
	     struct fsck_result *res)
{
	struct fsck_result again;
	struct journal *j;
	int err;

	memset(res, 0, sizeof(*res));
	err = replay_journal(bdev, opts, res, &j);
	if (err)
		return err;
	err = run_once(bdev, opts, opts->repair, "", res);
	journal_close(j);
	if (err || res->skipped)
		return err;
	res->left = res->found - res->fixed;
	if (!opts->repair || !res->fixed)
		return 0;

	/* Rule 3: what a fresh look still finds is what is left. */
	memset(&again, 0, sizeof(again));
	err = run_once(bdev, opts, 0, "after repair: ", &again);
	if (err) {
		memcpy(res->msg, again.msg, sizeof(res->msg));
		return err;
	}
	res->left = again.found;
	res->inodes_used = again.inodes_used;
	res->blocks_used = again.blocks_used;
	return 0;
}
