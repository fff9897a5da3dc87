/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check_dir: directory entries, the tree of directories, lost+found.
 *
 * fsck_scan_dirs() walks every entry of every directory and counts, per
 * inode, the entries that name it and, per directory, its entries and
 * subdirectories, which fix the link counts (a directory: 2 + its
 * subdirectories, "." and ".." not being stored, format.h rule 5) and the
 * directory sizes.  Entries that cannot stay are listed as struct fentfix
 * and counted as gone at once, so that every later check sees the
 * directory as the repair will leave it.
 *
 * fsck_connect() then makes every directory reachable from the root and
 * every inode named somewhere, moving what is not into /lost+found (made
 * if missing) under the name "#<inode number>".
 *
 * check.c runs these passes and check_inode.c scans an orphan directory
 * with fsck_scan_dir(); this module calls model.c only (model.h).
 *
 * Rules:
 *  1. A directory is named by exactly one entry: the one in the directory
 *     its parent field names, if that one names it; otherwise the first
 *     met (in inode order of the directories, then key order).  The others
 *     are removed.  The root is named by none, and no directory names
 *     itself.
 *  2. An entry's key must be where a lookup looks for its name:
 *     diofs_dir_key(hash, n) with the name's hash (format.h).  An entry
 *     filed elsewhere is refiled; one whose name is then already there is
 *     removed.
 *  3. Unreachable directories are moved, not their contents: the top of
 *     each unreachable chain (a directory nothing names, or one directory
 *     of a cycle, whose entry is removed first) goes to lost+found and
 *     takes its subtree along.
 *  4. Inodes are never freed here: whatever no entry names is kept, in
 *     lost+found (check_inode.c rule 5).
 *  5. Entries are changed through the B+tree with the checker's own node
 *     allocator (model.c), so the bitmaps rebuilt afterwards match.
 *  6. A directory with entries to fix is rebuilt, not patched: the entries
 *     that stay are read, the old tree is freed (btree_destroy() never
 *     rearranges a leaf) and they go into a new tree under their right
 *     keys.  A leaf that passes its checks but is wrong inside, the kind
 *     of damage that made an entry malformed, is thus never compacted.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diofs/codec.h"
#include "check_dir.h"
#include "model.h"

#define LOST_FOUND	"lost+found"

/* A name for a report: printable bytes as they are, others as \xNN. */
static const char *show(char *buf, size_t size, const char *name,
			size_t len)
{
	size_t i, o = 0;
	unsigned char c;

	for (i = 0; i < len && o + 5 < size; i++) {
		c = (unsigned char)name[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return buf;
}

/* ---- entries in a tree -------------------------------------------------------- */

struct dent {
	uint64_t key;
	int malformed;		/* the value did not decode: no name */
	struct codec_dirent v;
};

/* The entry with the least key >= key; -ENOENT past the last one. */
static int dent_next(struct btree *bt, uint64_t key, struct dent *e)
{
	uint8_t v[CODEC_DIRENT_MAX];
	size_t vlen = sizeof(v);
	int err;

	err = btree_lookup(bt, key, BTREE_GE, &e->key, v, &vlen);
	if (err)
		return err;
	e->malformed = codec_dirent_decode(v, vlen, &e->v) != 0;
	return 0;
}

/*
 * Walk name's collision group: 0 with *ino (and *key) if the name is
 * there, else -ENOENT with *free_n the lowest unused counter
 * (DIOFS_DIR_COLLISIONS if none).
 */
static int group_find(struct fsck *f, struct btree *bt, const char *name,
		      size_t len, uint64_t *ino, uint64_t *key,
		      unsigned *free_n)
{
	uint64_t h = diofs_name_hash(f->sb.hash_seed, name, len);
	uint64_t k = diofs_dir_key(h, 0);
	uint64_t last = diofs_dir_key(h, DIOFS_DIR_COLLISIONS - 1);
	uint8_t taken[DIOFS_DIR_COLLISIONS] = { 0 };
	struct dent e;
	unsigned n;
	int err;

	for (;;) {
		err = dent_next(bt, k, &e);
		if (err == -ENOENT || (!err && e.key > last))
			break;
		if (err)
			return fsck_fail(f, err, "cannot read a directory: %s",
					 strerror(-err));
		taken[e.key & 0xff] = 1;
		if (!e.malformed && e.v.name_len == len &&
		    !memcmp(e.v.name, name, len)) {
			if (ino)
				*ino = e.v.ino;
			if (key)
				*key = e.key;
			return 0;
		}
		if (e.key == last)
			break;
		k = e.key + 1;
	}
	for (n = 0; n < DIOFS_DIR_COLLISIONS && taken[n]; n++)
		;
	if (free_n)
		*free_n = n;
	return -ENOENT;
}

/* Add name -> ino to t (rule 5); *key gets its key.  -EEXIST if there. */
static int tree_add(struct fsck *f, struct ftree *t, struct txn *tx,
		    const char *name, size_t len, uint64_t ino,
		    uint8_t ftype, uint64_t *key)
{
	uint8_t val[CODEC_DIRENT_MAX];
	unsigned n;
	int err;

	err = group_find(f, &t->bt, name, len, NULL, NULL, &n);
	if (!err)
		return -EEXIST;
	if (err != -ENOENT)
		return err;
	if (n >= DIOFS_DIR_COLLISIONS)
		return -ENOSPC;
	*key = diofs_dir_key(diofs_name_hash(f->sb.hash_seed, name, len), n);
	return btree_insert(&t->bt, tx, *key, val,
			    codec_dirent_encode(val, name, len, ino, ftype));
}

/* Begin a change to directory dir's tree. */
static int dir_begin(struct fsck *f, struct finode *dir, struct ftree *t,
		     struct txn **tx)
{
	int err;

	fsck_tree_init(t, f, dir->ino, DIOFS_MAGIC_DIR_LEAF,
		       DIOFS_MAGIC_DIR_NODE, dir->ext_root);
	err = txn_begin(f->c, tx);
	return err ? fsck_fail(f, err, "out of memory") : 0;
}

/* End it: commit, or abort on err; the root may have moved.  dir is
 * looked up again, since a tree change never adds records but the
 * caller's pointer is all it has. */
static int dir_end(struct fsck *f, uint64_t dino, struct ftree *t,
		   struct txn *tx, int err)
{
	struct finode *dir;

	if (err) {
		txn_abort(tx);
		return fsck_fail(f, err, "cannot change directory %" PRIu64 ": %s",
				 dino, strerror(-err));
	}
	err = fsck_commit(f, tx);
	dir = fsck_inode(f, dino);
	if (!err && dir->ext_root != t->bt.root) {
		dir->ext_root = t->bt.root;
		dir->state |= FI_DIRTY;
	}
	return err;
}

/* ---- the scan --------------------------------------------------------------------- */

static int add_fix(struct fsck *f, int kind, const struct finode *dir,
		   const struct dent *e, uint8_t ftype)
{
	struct fentfix *x;

	if (f->nef == f->cap_ef) {
		size_t cap = f->cap_ef ? f->cap_ef * 2 : 16;
		struct fentfix *p = realloc(f->ef, cap * sizeof(*p));

		if (!p)
			return fsck_fail(f, -ENOMEM, "out of memory");
		f->ef = p;
		f->cap_ef = cap;
	}
	x = &f->ef[f->nef++];
	x->dir = dir->ino;
	x->key = e->key;
	x->kind = (uint8_t)kind;
	x->ftype = ftype;
	return 0;
}

/* The entry goes; the directory's size follows, as the engine's would. */
static int drop_entry(struct fsck *f, struct finode *dir, const struct dent *e)
{
	if (dir->size) {
		dir->size--;
		dir->state |= FI_DIRTY;
	}
	return add_fix(f, ENT_REMOVE, dir, e, 0);
}

/* Names seen in the current key group, for rule 2's duplicates. */
struct seen {
	uint64_t group;
	size_t n, cap;
	struct dent **v;
};

static int seen_dup(struct seen *s, const struct dent *e, int *dup)
{
	struct dent *copy;
	size_t i;

	*dup = 0;
	if (s->group != e->key >> 8) {
		for (i = 0; i < s->n; i++)
			free(s->v[i]);
		s->n = 0;
		s->group = e->key >> 8;
	}
	for (i = 0; i < s->n; i++)
		if (s->v[i]->v.name_len == e->v.name_len &&
		    !memcmp(s->v[i]->v.name, e->v.name, e->v.name_len))
			*dup = 1;
	if (*dup)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4;
		struct dent **p = realloc(s->v, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->v = p;
		s->cap = cap;
	}
	copy = malloc(sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	*copy = *e;
	s->v[s->n++] = copy;
	return 0;
}

static void seen_free(struct seen *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

/* Remove the entry that made directory t reachable so far (rule 1). */
static int unname_dir(struct fsck *f, struct finode *t, uint64_t parent,
		      const char *name)
{
	struct finode *old = fsck_inode(f, t->dotdot);
	struct dent gone = { .key = t->dotdot_key, .v.ino = t->ino };
	size_t i;

	fsck_problem(f, "removed",
		     "directory %" PRIu64 ": an entry names directory %" PRIu64 ", which its parent %" PRIu64 " names as \"%s\"",
		     old->ino, t->ino, parent, name);
	old->nentries--;
	old->nsubdirs--;
	t->nrefs--;
	t->dotdot = 0;
	/* A fix already planned for that entry becomes its removal. */
	for (i = 0; i < f->nef; i++) {
		if (f->ef[i].dir == old->ino && f->ef[i].key == gone.key) {
			f->ef[i].kind = ENT_REMOVE;
			if (old->size) {
				old->size--;
				old->state |= FI_DIRTY;
			}
			return 0;
		}
	}
	return drop_entry(f, old, &gone);
}

static int scan_entry(struct fsck *f, struct finode *dir, const struct dent *e,
		      struct seen *seen)
{
	uint64_t root = f->sb.root_ino, h;
	char name[4 * DIOFS_NAME_MAX + 1];
	struct finode *t;
	uint8_t want;
	int dup, err;

	if (e->malformed) {
		fsck_problem(f, "removed",
			     "directory %" PRIu64 ": the entry with key %#" PRIx64 " is malformed",
			     dir->ino, e->key);
		return drop_entry(f, dir, e);
	}
	show(name, sizeof(name), e->v.name, e->v.name_len);
	if (memchr(e->v.name, '/', e->v.name_len) ||
	    memchr(e->v.name, 0, e->v.name_len)) {
		fsck_problem(f, "removed",
			     "directory %" PRIu64 ": entry \"%s\" has an invalid name",
			     dir->ino, name);
		return drop_entry(f, dir, e);
	}
	err = seen_dup(seen, e, &dup);
	if (err)
		return fsck_fail(f, err, "out of memory");
	if (dup) {
		fsck_problem(f, "removed",
			     "directory %" PRIu64 ": a second entry named \"%s\"",
			     dir->ino, name);
		return drop_entry(f, dir, e);
	}
	t = fsck_inode(f, e->v.ino);
	if (!t || (t->state & FI_FREE)) {
		fsck_problem(f, "removed",
			     "directory %" PRIu64 ": entry \"%s\" names inode %" PRIu64 ", which is not in use",
			     dir->ino, name, e->v.ino);
		return drop_entry(f, dir, e);
	}
	if (e->v.ino == root || e->v.ino == dir->ino) {
		fsck_problem(f, "removed",
			     "directory %" PRIu64 ": entry \"%s\" names %s",
			     dir->ino, name,
			     e->v.ino == root ? "the root directory"
					      : "the directory itself");
		return drop_entry(f, dir, e);
	}
	if (S_ISDIR(t->mode) && t->dotdot) {
		if (t->parent != dir->ino || t->dotdot == t->parent) {
			fsck_problem(f, "removed",
				     "directory %" PRIu64 ": entry \"%s\" names directory %" PRIu64 ", which directory %" PRIu64 " names already",
				     dir->ino, name, e->v.ino, t->dotdot);
			return drop_entry(f, dir, e);
		}
		/* Rule 1: this is the entry the parent field agrees with;
		 * the one met first goes. */
		err = unname_dir(f, t, dir->ino, name);
		if (err)
			return err;
	}
	want = codec_ftype(t->mode);
	h = diofs_name_hash(f->sb.hash_seed, e->v.name, e->v.name_len);
	if (e->key >> 8 != diofs_dir_key(h, 0) >> 8) {
		fsck_problem(f, "refiled",
			     "directory %" PRIu64 ": entry \"%s\" is filed under the wrong key",
			     dir->ino, name);
		err = add_fix(f, ENT_REKEY, dir, e, want);
	} else if (e->v.ftype != want) {
		fsck_problem(f, "fixed",
			     "directory %" PRIu64 ": entry \"%s\" says file type %u, inode %" PRIu64 " has type %u",
			     dir->ino, name, e->v.ftype, e->v.ino, want);
		err = add_fix(f, ENT_FIXTYPE, dir, e, want);
	}
	if (err)
		return err;
	if (S_ISDIR(t->mode)) {
		t->dotdot = dir->ino;
		t->dotdot_key = e->key;
		dir->nsubdirs++;
	}
	t->nrefs++;
	dir->nentries++;
	return 0;
}

int fsck_scan_dir(struct fsck *f, struct finode *dir)
{
	struct seen seen = { .group = UINT64_MAX };
	struct ftree t;
	struct dent e;
	uint64_t key = 0;
	int err = 0;

	if (!dir->ext_root)
		return 0;
	fsck_tree_init(&t, f, dir->ino, DIOFS_MAGIC_DIR_LEAF,
		       DIOFS_MAGIC_DIR_NODE, dir->ext_root);
	for (;;) {
		err = dent_next(&t.bt, key, &e);
		if (err == -ENOENT) {
			err = 0;
			break;
		}
		if (err) {
			fsck_fail(f, err, "cannot read directory %" PRIu64 ": %s",
				  dir->ino, strerror(-err));
			break;
		}
		err = scan_entry(f, dir, &e, &seen);
		if (err || e.key == UINT64_MAX)
			break;
		key = e.key + 1;
	}
	seen_free(&seen);
	return err;
}

int fsck_scan_dirs(struct fsck *f)
{
	struct finode *fi;
	size_t i;
	int err = 0;

	fsck_progress(f, FSCK_PASS_DIRS, 0, f->nino);
	for (i = 0; i < f->nino && !err;
	     fsck_progress(f, FSCK_PASS_DIRS, ++i, f->nino)) {
		fi = &f->ino[i];
		if (!S_ISDIR(fi->mode) || (fi->state & FI_FREE))
			continue;
		/* An unlinked orphan directory waits for the orphan pass,
		 * which frees it or scans it. */
		if ((fi->state & FI_ORPHAN) && fi->links == 0)
			continue;
		err = fsck_scan_dir(f, fi);
	}
	return err;
}

/* ---- entry repairs ------------------------------------------------------------------ */

static int cmp_fix(const void *a, const void *b)
{
	const struct fentfix *x = a, *y = b;

	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

/* The fix planned for the entry at key among one directory's fixes. */
static const struct fentfix *find_fix(const struct fentfix *v, size_t n,
				      uint64_t key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo].key == key ? &v[lo] : NULL;
}

/* The entry for name turned out to be there twice (rule 2): it goes. */
static void drop_twice(struct fsck *f, uint64_t dino,
		       const struct codec_dirent *k)
{
	char name[4 * DIOFS_NAME_MAX + 1];
	struct finode *dir = fsck_inode(f, dino), *t = fsck_inode(f, k->ino);

	show(name, sizeof(name), k->name, k->name_len);
	fsck_problem(f, "entry removed",
		     "directory %" PRIu64 ": \"%s\" is also filed under its right key",
		     dino, name);
	dir->nentries--;
	if (dir->size) {
		dir->size--;
		dir->state |= FI_DIRTY;
	}
	t->nrefs--;
	if (S_ISDIR(t->mode) && t->dotdot == dino) {
		dir->nsubdirs--;
		t->dotdot = 0;
	}
}

/* Rule 6: directory dino's tree, rebuilt with fixes v[0..n) applied. */
static int rebuild_dir(struct fsck *f, uint64_t dino, const struct fentfix *v,
		       size_t n)
{
	struct finode *dir = fsck_inode(f, dino), *t;
	const struct fentfix *x;
	/* The entries that stay, on their way to the new tree. */
	struct codec_dirent *keep = NULL, *k;
	size_t nkeep = 0, cap = 0, i;
	uint64_t key = 0;
	struct ftree tr;
	struct txn *tx;
	struct dent e;
	int err;

	fsck_tree_init(&tr, f, dino, DIOFS_MAGIC_DIR_LEAF, DIOFS_MAGIC_DIR_NODE,
		       dir->ext_root);
	for (;;) {
		err = dent_next(&tr.bt, key, &e);
		if (err == -ENOENT) {
			err = 0;
			break;
		}
		if (err) {
			fsck_fail(f, err, "cannot read directory %" PRIu64 ": %s",
				  dino, strerror(-err));
			goto out;
		}
		x = find_fix(v, n, e.key);
		if (!x || x->kind != ENT_REMOVE) {
			if (nkeep == cap) {
				size_t c2 = cap ? cap * 2 : 64;

				k = realloc(keep, c2 * sizeof(*k));
				if (!k) {
					err = fsck_fail(f, -ENOMEM, "out of memory");
					goto out;
				}
				keep = k;
				cap = c2;
			}
			k = &keep[nkeep++];
			*k = e.v;
			if (x)
				k->ftype = x->ftype;
		}
		if (e.key == UINT64_MAX)
			break;
		key = e.key + 1;
	}

	err = dir_begin(f, dir, &tr, &tx);
	if (err)
		goto out;
	err = btree_destroy(&tr.bt, tx);
	for (i = 0; i < nkeep && !err; i++) {
		k = &keep[i];
		err = tree_add(f, &tr, tx, k->name, k->name_len, k->ino,
			       k->ftype, &key);
		if (err == -EEXIST) {
			drop_twice(f, dino, k);
			err = 0;
			continue;
		}
		t = fsck_inode(f, k->ino);
		if (!err && S_ISDIR(t->mode) && t->dotdot == dino)
			t->dotdot_key = key;
	}
	err = dir_end(f, dino, &tr, tx, err);
out:
	free(keep);
	return err;
}

int fsck_fix_entries(struct fsck *f)
{
	size_t i, j;
	int err = 0;

	if (!f->repair || !f->nef)
		return 0;
	qsort(f->ef, f->nef, sizeof(*f->ef), cmp_fix);
	for (i = 0; i < f->nef && !err; i = j) {
		for (j = i; j < f->nef && f->ef[j].dir == f->ef[i].dir; j++)
			;
		err = rebuild_dir(f, f->ef[i].dir, &f->ef[i], j - i);
	}
	return err;
}

/* ---- reachability and lost+found ------------------------------------------------------ */

/* Is fi something fsck_connect() must place? */
static int eligible(const struct fsck *f, const struct finode *fi)
{
	return !(fi->state & FI_FREE) && !fsck_awaiting(f, fi) &&
	       fi->ino != f->sb.root_ino;
}

/*
 * Follow fi's chain of parents.  Returns 1 and marks the chain reached if
 * it ends at a reached directory; otherwise 0 with *top the directory to
 * move (rule 3): the end of the chain, or where it loops.
 */
static int walk_up(struct fsck *f, uint64_t ino, uint64_t *top)
{
	uint64_t *path = NULL, cur = ino;
	size_t n = 0, cap = 0, i;
	struct finode *x;
	int reached = 0;

	for (;;) {
		x = fsck_inode(f, cur);
		if (!x || (x->state & FI_FREE) || !S_ISDIR(x->mode)) {
			/* The chain ends at what cannot hold it: the
			 * previous directory is the top. */
			cur = n ? path[n - 1] : ino;
			break;
		}
		if (x->state & FI_REACHED) {
			reached = 1;
			break;
		}
		/* A loop, or the top of the chain. */
		if ((x->state & FI_VISITING) || !x->dotdot)
			break;
		if (n == cap) {
			size_t c2 = cap ? cap * 2 : 16;
			uint64_t *p = realloc(path, c2 * sizeof(*p));

			if (!p) {
				reached = -ENOMEM;
				break;
			}
			path = p;
			cap = c2;
		}
		path[n++] = cur;
		x->state |= FI_VISITING;
		cur = x->dotdot;
	}
	for (i = 0; i < n; i++) {
		x = fsck_inode(f, path[i]);
		x->state &= ~FI_VISITING;
		if (reached == 1)
			x->state |= FI_REACHED;
	}
	free(path);
	*top = cur;
	return reached;
}

/* Find a free inode number in an initialized inode-table block, growing a
 * table if every block is full. */
static int free_inode(struct fsck *f, uint64_t *ino)
{
	const struct super *sb = &f->sb;
	uint64_t g, idx, start, limit, n;
	struct finode *fi;
	int err;

	for (g = 0; g < sb->group_count; g++) {
		if (f->g[g].flags & DIOFS_BG_INODE_UNINIT)
			continue;
		start = g == 0 ? sb->first_ino : 0;
		limit = (uint64_t)f->g[g].itable_init * sb->inodes_per_block;
		for (idx = start; idx < limit; idx++) {
			n = g * sb->inodes_per_group + idx;
			fi = fsck_inode(f, n);
			if (!fi) {
				*ino = n;
				return 0;
			}
		}
	}
	for (g = 0; g < sb->group_count; g++) {
		if (f->g[g].itable_init >= sb->itable_blocks)
			continue;
		if (f->g[g].flags & DIOFS_BG_INODE_UNINIT) {
			f->g[g].flags &= ~DIOFS_BG_INODE_UNINIT;
			f->g[g].ibm_new = 1;
		}
		idx = (uint64_t)f->g[g].itable_init * sb->inodes_per_block;
		err = fsck_itable_grow(f, g);
		if (err)
			return err;
		if (g == 0 && idx < sb->first_ino)
			idx = sb->first_ino;
		*ino = g * sb->inodes_per_group + idx;
		return 0;
	}
	return -ENOSPC;
}

/* /lost+found's inode, made if missing; 0 if there is none to use. */
static int lost_found(struct fsck *f, uint64_t *out)
{
	const uint64_t root = f->sb.root_ino;
	struct finode *r = fsck_inode(f, root), *lf;
	uint64_t ino = 0, key;
	struct ftree tr;
	struct txn *tx;
	int err;

	*out = 0;
	fsck_tree_init(&tr, f, root, DIOFS_MAGIC_DIR_LEAF,
		       DIOFS_MAGIC_DIR_NODE, r->ext_root);
	err = r->ext_root ? group_find(f, &tr.bt, LOST_FOUND,
				       strlen(LOST_FOUND), &ino, NULL, NULL)
			  : -ENOENT;
	if (!err) {
		lf = fsck_inode(f, ino);
		if (lf && !(lf->state & FI_FREE) && S_ISDIR(lf->mode) &&
		    lf->dotdot == root) {
			*out = ino;
			return 0;
		}
		fsck_problem(f, NULL, "/" LOST_FOUND " is not a directory: nothing can be moved there");
		return 0;
	}
	if (err != -ENOENT || !f->repair)
		return err == -ENOENT ? 0 : err;

	err = free_inode(f, &ino);
	if (err == -ENOSPC) {
		fsck_problem(f, NULL, "no free inode for /" LOST_FOUND);
		return 0;
	}
	if (err)
		return err;
	lf = fsck_inode_add(f, ino);
	if (!lf)
		return fsck_fail(f, -ENOMEM, "out of memory");
	lf->mode = S_IFDIR | 0700;
	lf->links = 2;
	lf->parent = root;
	lf->state = FI_NEW | FI_DIRTY | FI_REACHED;
	err = fsck_own_ino(f, ino, 1);
	if (err)
		return err;
	r = fsck_inode(f, root);
	err = dir_begin(f, r, &tr, &tx);
	if (err)
		return err;
	err = tree_add(f, &tr, tx, LOST_FOUND, strlen(LOST_FOUND), ino,
		       DIOFS_FT_DIR, &key);
	err = dir_end(f, root, &tr, tx, err);
	if (err)
		return err;
	r = fsck_inode(f, root);
	lf = fsck_inode(f, ino);
	/* As mkdir would leave the root. */
	r->nentries++;
	r->nsubdirs++;
	r->size++;
	r->links++;
	r->state |= FI_DIRTY;
	lf->dotdot = root;
	lf->dotdot_key = key;
	lf->nrefs = 1;
	fsck_note(f, "created /" LOST_FOUND " (inode %" PRIu64 ")", ino);
	*out = ino;
	return 0;
}

/* Move inode ino into lost+found (0: there is none). */
static int relink(struct fsck *f, uint64_t ino, uint64_t lf)
{
	struct finode *x = fsck_inode(f, ino), *old, *l;
	char fix[80], name[32];
	struct ftree tr;
	struct txn *tx;
	uint64_t key = 0, from = x->dotdot;
	int dir = S_ISDIR(x->mode), err = 0, len, tries;

	len = snprintf(name, sizeof(name), "#%" PRIu64, ino);
	if (f->repair && lf) {
		/* A name of that form may be taken by a file of the user's. */
		l = fsck_inode(f, lf);
		fsck_tree_init(&tr, f, lf, DIOFS_MAGIC_DIR_LEAF,
			       DIOFS_MAGIC_DIR_NODE, l->ext_root);
		for (tries = 1; l->ext_root && tries < 100; tries++) {
			err = group_find(f, &tr.bt, name, (size_t)len, NULL,
					 NULL, NULL);
			if (err)
				break;
			len = snprintf(name, sizeof(name), "#%" PRIu64 ".%d",
				       ino, tries);
		}
		if (err && err != -ENOENT)
			return err;
	}
	snprintf(fix, sizeof(fix), "moved to /" LOST_FOUND "/%s", name);
	if (dir)
		fsck_problem(f, lf ? fix : NULL,
			     "directory %" PRIu64 " cannot be reached from the root",
			     ino);
	else
		fsck_problem(f, lf ? fix : NULL,
			     "inode %" PRIu64 " is not named in any directory", ino);
	x->state |= FI_RELINKED | FI_REACHED;
	if (!f->repair || !lf)
		return 0;

	old = from ? fsck_inode(f, from) : NULL;
	if (dir && old && !(old->state & FI_FREE) && S_ISDIR(old->mode)) {
		/* Rule 3: a directory of a cycle leaves its old place. */
		err = dir_begin(f, old, &tr, &tx);
		if (err)
			return err;
		err = btree_delete(&tr.bt, tx, x->dotdot_key);
		err = dir_end(f, from, &tr, tx, err);
		if (err)
			return err;
		old = fsck_inode(f, from);
		old->nentries--;
		old->nsubdirs--;
		if (old->size)
			old->size--;
		if (old->links)
			old->links--;
		old->state |= FI_DIRTY;
		x = fsck_inode(f, ino);
		x->nrefs--;
	}
	l = fsck_inode(f, lf);
	err = dir_begin(f, l, &tr, &tx);
	if (err)
		return err;
	err = tree_add(f, &tr, tx, name, (size_t)len, ino, codec_ftype(x->mode),
		       &key);
	err = dir_end(f, lf, &tr, tx, err);
	if (err)
		return err;
	l = fsck_inode(f, lf);
	x = fsck_inode(f, ino);
	l->nentries++;
	l->size++;
	l->state |= FI_DIRTY;
	/* As a rename into lost+found would leave both. */
	if (dir) {
		l->nsubdirs++;
		l->links++;
		x->dotdot = lf;
		x->dotdot_key = key;
		x->parent = lf;
		x->state |= FI_DIRTY;
	}
	x->nrefs++;
	return 0;
}

int fsck_connect(struct fsck *f)
{
	struct finode *root = fsck_inode(f, f->sb.root_ino), *fi;
	uint64_t lf = 0, top, ino;
	size_t i;
	int need = 0, err, r;

	root->state |= FI_REACHED;
	/* Which directories hang off the root, and does anything not? */
	for (i = 0; i < f->nino; i++) {
		fi = &f->ino[i];
		if (!eligible(f, fi))
			continue;
		if (!S_ISDIR(fi->mode)) {
			need |= fi->nrefs == 0;
			continue;
		}
		r = walk_up(f, fi->ino, &top);
		if (r < 0)
			return fsck_fail(f, r, "out of memory");
		need |= r == 0;
	}
	if (!need)
		return 0;
	err = lost_found(f, &lf);
	if (err)
		return err;

	/* Records do not move from here on: lost+found, if made, is in. */
	for (i = 0; i < f->nino; i++) {
		fi = &f->ino[i];
		if (!eligible(f, fi) || !S_ISDIR(fi->mode) ||
		    (fi->state & FI_REACHED))
			continue;
		ino = fi->ino;
		r = walk_up(f, ino, &top);
		if (r < 0)
			return fsck_fail(f, r, "out of memory");
		if (r)
			continue;
		err = relink(f, top, lf);
		if (err)
			return err;
		/* The moved directory is reached now: so is the chain. */
		r = walk_up(f, ino, &top);
		if (r < 0)
			return fsck_fail(f, r, "out of memory");
	}
	for (i = 0; i < f->nino; i++) {
		fi = &f->ino[i];
		if (eligible(f, fi) && !S_ISDIR(fi->mode) && fi->nrefs == 0) {
			err = relink(f, fi->ino, lf);
			if (err)
				return err;
		}
	}
	return 0;
}
