/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model: what every pass of the checker shares, below them all:
 * reporting, the block maps and the checker's own allocation, and raw and
 * cached I/O.
 *
 * The passes (check.c, check_inode.c, check_dir.c) build the model of the
 * filesystem (check_impl.h) and compare the disk with it; they call this
 * module, and it calls none of them, only the engine's library.
 *
 * Rules:
 *  1. One problem, one line (checker.h rule 2): fsck_problem() prints it
 *     and counts it found, and fixed when repairing with a fix to say;
 *     fsck_note() prints a remark that is no error; fsck_fail() keeps the
 *     first operational error and its message.
 *  2. With repair off nothing is written: fsck_pwrite() and fsck_commit()
 *     refuse (an internal error) rather than write (check.c rule 3).
 *  3. What the checker frees or allocates itself goes into f->own and
 *     f->own_ino (fsck_own(), fsck_own_ino(), fsck_alloc_run()), so that
 *     the bitmap pass does not report it a second time (check.c rule 5).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check_impl.h"

/* ---- reporting ---------------------------------------------------------- */

static void put_line(struct fsck *f, const char *tail, const char *fmt,
		     va_list ap)
{
	FILE *out = f->o->out;

	if (!out)
		return;
	fputs(f->prefix, out);
	vfprintf(out, fmt, ap);
	if (tail)
		fprintf(out, ": %s", tail);
	fputc('\n', out);
}

void fsck_problem(struct fsck *f, const char *fix, const char *fmt, ...)
{
	va_list ap;

	f->res->found++;
	if (f->repair && fix)
		f->res->fixed++;
	va_start(ap, fmt);
	put_line(f, f->repair ? (fix ? fix : "left as is") : NULL, fmt, ap);
	va_end(ap);
}

void fsck_note(struct fsck *f, const char *fmt, ...)
{
	va_list ap;

	f->res->notes++;
	va_start(ap, fmt);
	put_line(f, NULL, fmt, ap);
	va_end(ap);
}

int fsck_fail(struct fsck *f, int err, const char *fmt, ...)
{
	va_list ap;

	if (!f->err) {
		f->err = err;
		va_start(ap, fmt);
		vsnprintf(f->res->msg, sizeof(f->res->msg), fmt, ap);
		va_end(ap);
	}
	return err;
}

/* ---- bit maps ----------------------------------------------------------- */

int fsck_test(const uint8_t *map, uint64_t bit)
{
	return (map[bit / 8] >> (bit % 8)) & 1;
}

void fsck_set(uint8_t *map, uint64_t bit, int one)
{
	if (one)
		map[bit / 8] |= (uint8_t)(1u << (bit % 8));
	else
		map[bit / 8] &= (uint8_t)~(1u << (bit % 8));
}

/* The first bit in [from, to) equal to one; to if none.  Whole words that
 * cannot hold it are skipped, which keeps the scans of big, empty groups
 * cheap. */
static uint64_t map_find(const uint8_t *map, uint64_t from, uint64_t to,
			 int one)
{
	uint64_t w, skip = one ? 0 : UINT64_MAX;

	while (from < to) {
		if (!(from % 64) && to - from >= 64) {
			memcpy(&w, map + from / 8, sizeof(w));
			if (w == skip) {
				from += 64;
				continue;
			}
		}
		if (fsck_test(map, from) == one)
			return from;
		from++;
	}
	return to;
}

void fsck_set_range(uint8_t *map, uint64_t from, uint64_t to, int one)
{
	for (; from < to && from % 8; from++)
		fsck_set(map, from, one);
	if (to - from >= 8 && from < to) {
		memset(map + from / 8, one ? 0xff : 0, (to - from) / 8);
		from += (to - from) / 8 * 8;
	}
	for (; from < to; from++)
		fsck_set(map, from, one);
}

int fsck_in_data(const struct fsck *f, uint64_t pblk, uint64_t len)
{
	const struct super *sb = &f->sb;
	uint64_t g, off;

	if (len == 0 || pblk >= sb->blocks_count ||
	    len > sb->blocks_count - pblk)
		return 0;
	g = super_group_of(sb, pblk);
	if (g == sb->group_count)
		return 0;
	off = pblk - super_group_first(sb, g);
	return off >= super_group_meta(sb) &&
	       len <= super_group_len(sb, g) - off;
}

int fsck_any_used(const struct fsck *f, uint64_t pblk, uint64_t len)
{
	return map_find(f->used, pblk, pblk + len, 1) != pblk + len;
}

void fsck_mark(struct fsck *f, uint64_t pblk, uint64_t len, int used)
{
	fsck_set_range(f->used, pblk, pblk + len, used);
}

int fsck_own(struct fsck *f, uint64_t pblk, uint64_t len)
{
	uint64_t n = f->sb.blocks_count;

	if (pblk >= n || !len)
		return 0;
	if (len > n - pblk)
		len = n - pblk;
	if (!f->own) {
		/* Spare bytes as for the used map. */
		f->own = calloc(n / 8 + 8, 1);
		if (!f->own)
			return fsck_fail(f, -ENOMEM, "out of memory");
	}
	fsck_set_range(f->own, pblk, pblk + len, 1);
	return 0;
}

int fsck_own_ino(struct fsck *f, uint64_t ino, int dirs)
{
	if (ino >= f->sb.inodes_count)
		return 0;
	if (f->nown_ino == f->cap_own_ino) {
		size_t cap = f->cap_own_ino ? f->cap_own_ino * 2 : 16;
		uint64_t *p = realloc(f->own_ino, cap * sizeof(*p));

		if (!p)
			return fsck_fail(f, -ENOMEM, "out of memory");
		f->own_ino = p;
		f->cap_own_ino = cap;
	}
	f->own_ino[f->nown_ino++] = ino;
	f->g[ino / f->sb.inodes_per_group].own_dirs += dirs;
	return 0;
}

int fsck_alloc_run(struct fsck *f, uint64_t goal, uint64_t len,
		   uint64_t *start)
{
	const struct super *sb = &f->sb;
	uint64_t g0 = super_group_of(sb, goal), i, g, first, s, e, end;

	if (g0 == sb->group_count)
		g0 = 0;
	/* One round of the groups from goal's, then goal's group from its
	 * start, for what lies before goal. */
	for (i = 0; i <= sb->group_count; i++) {
		g = (g0 + i) % sb->group_count;
		first = super_group_first(sb, g);
		s = first + super_group_meta(sb);
		end = first + super_group_len(sb, g);
		if (i == 0 && goal > s && goal < end)
			s = goal;
		while (s + len <= end) {
			s = map_find(f->used, s, end, 0);
			if (s + len > end)
				break;
			e = map_find(f->used, s, s + len, 1);
			if (e < s + len) {
				s = e;
				continue;
			}
			if (fsck_own(f, s, len))
				return f->err;
			fsck_mark(f, s, len, 1);
			*start = s;
			/* The group's bitmap is written from the map. */
			if (f->g[g].flags & DIOFS_BG_BLOCK_UNINIT) {
				f->g[g].flags &= ~DIOFS_BG_BLOCK_UNINIT;
				f->g[g].bbm_new = 1;
				f->g[g].desc_bad = 1;
			}
			return 0;
		}
	}
	return -ENOSPC;
}

/* ---- raw I/O ------------------------------------------------------------ */

void *fsck_buf(struct fsck *f, size_t len)
{
	size_t align = bdev_mem_align(f->bdev);
	void *p;

	if (align < sizeof(void *))
		align = sizeof(void *);
	if (posix_memalign(&p, align, len))
		return NULL;
	return p;
}

int fsck_pread(struct fsck *f, void *buf, uint64_t blkno, size_t nblocks)
{
	size_t len = nblocks * f->bs;
	ssize_t n = bdev_pread(f->q, buf, len, blkno * f->bs);

	if (n < 0)
		return fsck_fail(f, (int)n, "cannot read block %" PRIu64 ": %s",
				 blkno, strerror((int)-n));
	if ((size_t)n != len)
		return fsck_fail(f, -EIO, "short read at block %" PRIu64, blkno);
	return 0;
}

int fsck_pwrite(struct fsck *f, const void *buf, uint64_t blkno,
		size_t nblocks)
{
	size_t len = nblocks * f->bs;
	ssize_t n;

	if (!f->repair)
		return fsck_fail(f, -EROFS, "internal error: write while only checking");
	n = bdev_pwrite(f->q, buf, len, blkno * f->bs);
	if (n < 0)
		return fsck_fail(f, (int)n, "cannot write block %" PRIu64 ": %s",
				 blkno, strerror((int)-n));
	if ((size_t)n != len)
		return fsck_fail(f, -EIO, "short write at block %" PRIu64, blkno);
	return 0;
}

int fsck_commit(struct fsck *f, struct txn *t)
{
	int err;

	if (!f->repair) {
		txn_abort(t);
		return fsck_fail(f, -EROFS, "internal error: write while only checking");
	}
	err = txn_commit(t);
	if (err)
		return fsck_fail(f, err, "cannot write metadata: %s",
				 strerror(-err));
	return 0;
}
