/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model: what every pass of the checker shares, below them all:
 * reporting, the block maps and the checker's own allocation, raw and
 * cached I/O, the inode records, B+trees whose nodes are charged to an
 * inode, and the growth of an inode table.
 *
 * The passes (check.c, check_inode.c, check_dir.c) build the model of the
 * filesystem (model.h) and compare the disk with it; they call this
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
 *  4. Records stay sorted by inode number: fsck_inode() is a binary
 *     search, and fsck_inode_add() inserts in place (and may move the
 *     array), so a record pointer held across an add is stale: look the
 *     inode up again.
 *  5. A tree node the checker allocates comes from the used map and one
 *     it frees goes back to it, both charged to the tree's inode as the
 *     engine's allocators charge them (blocks and the count).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "diofs/util.h"
#include "model.h"

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

void fsck_progress(struct fsck *f, int pass, uint64_t done, uint64_t total)
{
	uint64_t step;

	if (!f->o->progress)
		return;
	if (done > total)
		done = total;
	/* done * 1000 could overflow only past 2^54 blocks or inodes */
	step = total ? done / (total / 1000 + 1) : 0;
	if (pass == f->prog_pass && step == f->prog_step && done < total)
		return;
	f->prog_pass = pass;
	f->prog_step = step;
	f->o->progress(f->o->progress_arg, pass, done, total);
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

/* ---- I/O: raw, and through the cache ---------------------------------------- */

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

int fsck_txn_holding(struct fsck *f, struct mbuf *b, struct txn **t)
{
	int err = txn_begin(f->c, t);

	if (!err) {
		err = txn_add(*t, b);
		if (err)
			txn_abort(*t);
	}
	cache_release(f->c, b);
	return err ? fsck_fail(f, err, "out of memory") : 0;
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

/* ---- inode records -------------------------------------------------------- */

static size_t inode_pos(const struct fsck *f, uint64_t ino)
{
	size_t lo = 0, hi = f->nino;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->ino[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct finode *fsck_inode(struct fsck *f, uint64_t ino)
{
	size_t i = inode_pos(f, ino);

	return i < f->nino && f->ino[i].ino == ino ? &f->ino[i] : NULL;
}

struct finode *fsck_inode_add(struct fsck *f, uint64_t ino)
{
	size_t i;

	if (grow_array((void **)&f->ino, &f->cap_ino, f->nino + 1,
		       sizeof(*f->ino)))
		return NULL;
	i = inode_pos(f, ino);
	if (i < f->nino && f->ino[i].ino == ino)
		return &f->ino[i];
	memmove(&f->ino[i + 1], &f->ino[i], (f->nino - i) * sizeof(*f->ino));
	memset(&f->ino[i], 0, sizeof(*f->ino));
	f->ino[i].ino = ino;
	f->nino++;
	return &f->ino[i];
}

/* check_inode.c rule 5's orphans.  The root is never one: no entry names
 * it, and a root on the list is a damaged list, not a directory to free. */
int fsck_unlinked_orphan(const struct fsck *f, const struct finode *fi)
{
	return (fi->state & FI_ORPHAN) && fi->links == 0 && fi->nrefs == 0 &&
	       fi->ino != f->sb.root_ino;
}

int fsck_awaiting(const struct fsck *f, const struct finode *fi)
{
	return !f->repair && fsck_unlinked_orphan(f, fi);
}

/* ---- trees charged to an inode ---------------------------------------------- */

/*
 * A node the repair allocates (one) or frees (!one) is charged to the
 * inode as the engine's allocators charge it: to blocks as well as to the
 * count, so that a difference the disk had stays visible to
 * fsck_inode_counts().  The inode is written back whatever its root does:
 * a rebuilt tree may start in the old root's block and still hold another
 * number of nodes.
 */
static void tree_charge(struct ftree *tr, int one)
{
	struct finode *fi = fsck_inode(tr->f, tr->ino);

	if (!fi)
		return;
	if (one) {
		fi->nblocks++;
		fi->blocks++;
	} else {
		if (fi->nblocks)
			fi->nblocks--;
		if (fi->blocks)
			fi->blocks--;
	}
	fi->state |= FI_DIRTY;
}

static int tree_alloc(void *arg, struct txn *t, uint64_t goal,
		      uint64_t *blkno)
{
	struct ftree *tr = arg;
	int err;

	if (!goal)
		goal = super_inode_goal(&tr->f->sb, tr->ino);
	err = fsck_alloc_run(tr->f, goal, 1, blkno);
	if (err)
		return err;
	tree_charge(tr, 1);
	return 0;
}

static void tree_free(void *arg, struct txn *t, uint64_t blkno)
{
	struct ftree *tr = arg;

	fsck_mark(tr->f, blkno, 1, 0);
	fsck_own(tr->f, blkno, 1);
	tree_charge(tr, 0);
}

void fsck_tree_init(struct ftree *t, struct fsck *f, uint64_t ino,
		    uint32_t magic_leaf, uint32_t magic_node, uint64_t root)
{
	t->f = f;
	t->ino = ino;
	t->ops.alloc_block = tree_alloc;
	t->ops.free_block = tree_free;
	t->ops.arg = t;
	t->bt.cache = f->c;
	t->bt.ops = &t->ops;
	t->bt.magic_leaf = magic_leaf;
	t->bt.magic_node = magic_node;
	t->bt.root = root;
}

/* ---- inode tables ------------------------------------------------------------ */

int fsck_itable_grow(struct fsck *f, uint64_t g)
{
	struct fgroup *fg = &f->g[g];
	uint64_t blkno = super_group_first(&f->sb, g) + 2 + fg->itable_init;
	struct mbuf *b;
	struct txn *t;
	int err;

	if (fg->itable_init >= f->sb.itable_blocks)
		return -ENOSPC;
	if (f->repair) {
		err = cache_new(f->c, blkno, DIOFS_MAGIC_ITABLE, &b);
		if (err)
			return fsck_fail(f, err, "cannot set up block %" PRIu64 ": %s",
					 blkno, strerror(-err));
		err = fsck_txn_holding(f, b, &t);
		if (err)
			return err;
		err = fsck_commit(f, t);
		if (err)
			return err;
	}
	fg->itable_init++;
	fg->desc_bad = 1;
	return 0;
}
