/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dir: directory entries, kept in one B+tree per directory.
 *
 * A directory maps names to inode numbers through a B+tree (btree.h) whose
 * keys are diofs_dir_key(diofs_name_hash(seed, name), n) and whose values
 * are struct diofs_dirent followed by the name (format.h), converted by
 * codec.h.  Names whose hashes agree in the 54 bits the key keeps share a
 * "collision group": the 256 keys dir_key(h, 0..255).  Every operation on
 * one name looks only at that name's group, so a lookup costs one
 * root-to-leaf descent plus one more per colliding name, whatever the size
 * of the directory.  The tree order is the readdir order, and a key is the
 * entry's readdir cookie.
 *
 * Rules:
 *  1. The tree's root lives in the directory inode's ext_root field: a
 *     directory has no data extents, so the field is free (doc/FORMAT.md,
 *     "Directories").  nr_extents of a directory is always 0.
 *  2. Within a collision group, entries may leave gaps (a removed name
 *     frees its n without renumbering the others, so that cookies stay
 *     stable).  A walk of a group therefore continues to its last key and
 *     never stops at the first gap; a new name takes the lowest free n.
 *  3. The directory's size is its number of entries ("." and ".." are not
 *     stored, format.h rule 5), and its blocks count includes every tree
 *     node: the btree_ops wrapper below counts them as they come and go.
 *  4. dir_lookup() and dir_iterate() take meta_lock shared themselves
 *     (fs_meta_rdlock(), so they also work inside a transaction: inode.h
 *     rule 9); dir_iterate() calls fill with it held, so fill must not
 *     call back into the engine (fs.h's readdir callers collect first and
 *     look up afterwards).  The changing
 *     functions run inside the caller's transaction, after it has joined
 *     dp (inode_join()), and update the in-memory inode (ext_root, size,
 *     blocks); writing it back with inode_write() is the caller's
 *     (inode.h rules 3 and 7).
 *  5. -EEXIST and -ENOENT are found before anything changes; any other
 *     error may leave the transaction half done, and the caller aborts it.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "diofs/codec.h"
#include "diofs/inode.h"

/* The btree_ops argument: node blocks are charged to the directory. */
struct dir_tree {
	struct btree bt;
	struct btree_ops ops;
	struct inode *dp;
};

static int dir_node_alloc(void *arg, struct txn *t, uint64_t goal,
			  uint64_t *blkno)
{
	struct dir_tree *dt = arg;
	struct fs *fs = dt->dp->fs;
	int err;

	/* A first leaf has no neighbour to be near: keep it by its inode. */
	if (!goal)
		goal = super_inode_goal(&fs->sb, dt->dp->ino);
	err = alloc_btree_alloc(fs->alloc, t, goal, blkno);
	if (!err)
		dt->dp->blocks++;
	return err;
}

static void dir_node_free(void *arg, struct txn *t, uint64_t blkno)
{
	struct dir_tree *dt = arg;

	alloc_btree_free(dt->dp->fs->alloc, t, blkno);
	dt->dp->blocks--;
}

static void dir_tree_init(struct dir_tree *dt, struct inode *dp)
{
	dt->dp = dp;
	dt->ops.alloc_block = dir_node_alloc;
	dt->ops.free_block = dir_node_free;
	dt->ops.arg = dt;
	dt->bt.cache = dp->fs->cache;
	dt->bt.ops = &dt->ops;
	dt->bt.magic_leaf = DIOFS_MAGIC_DIR_LEAF;
	dt->bt.magic_node = DIOFS_MAGIC_DIR_NODE;
	dt->bt.root = dp->ext_root;
}

/* Rule 3: readers load the size atomically (inode_attr()), without
 * meta_lock's help in every case. */
static void dir_set_size(struct inode *dp, uint64_t size)
{
	__atomic_store_n(&dp->dfile.size, size, __ATOMIC_RELAXED);
}

/* Rule 1: the root may have moved. */
static void dir_tree_done(struct dir_tree *dt)
{
	dt->dp->ext_root = dt->bt.root;
}

/* One entry as read from the tree. */
struct dir_ent {
	uint64_t key;
	struct codec_dirent v;
};

/* Read the entry with the least key >= key; -ENOENT past the last one. */
static int dir_next(struct btree *bt, uint64_t key, struct dir_ent *e)
{
	uint8_t v[CODEC_DIRENT_MAX];
	size_t vlen = sizeof(v);
	int err;

	err = btree_lookup(bt, key, BTREE_GE, &e->key, v, &vlen);
	if (err)
		return err;
	/* Keys 0 .. 255 are the readdir offsets of "." and "..". */
	if ((e->key & ~0xffull) == 0)
		return -EUCLEAN;
	return codec_dirent_decode(v, vlen, &e->v);
}

/*
 * Walk name's collision group (rule 2).  On a match, *e is the entry and
 * the result is 0; otherwise -ENOENT, with *free_n the lowest unused
 * counter of the group (DIOFS_DIR_COLLISIONS if there is none).
 */
static int dir_find(struct btree *bt, const uint8_t seed[16],
		    const char *name, size_t len, struct dir_ent *e,
		    unsigned *free_n)
{
	uint64_t h = diofs_name_hash(seed, name, len);
	uint64_t key = diofs_dir_key(h, 0);
	uint64_t last = diofs_dir_key(h, DIOFS_DIR_COLLISIONS - 1);
	unsigned next_n = 0;
	bool gap = false;
	int err;

	for (;;) {
		err = dir_next(bt, key, e);
		if (err == -ENOENT || (!err && e->key > last))
			break;
		if (err)
			return err;
		if (!gap && (unsigned)(e->key & 0xff) != next_n)
			gap = true;
		if (!gap)
			next_n++;
		if (e->v.name_len == len && !memcmp(e->v.name, name, len))
			return 0;
		if (e->key == last)
			break;
		key = e->key + 1;
	}
	if (free_n)
		*free_n = next_n;
	return -ENOENT;
}

static int dir_check_name(size_t len)
{
	if (len == 0)
		return -EINVAL;
	if (len > DIOFS_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int dir_lookup(struct inode *dp, const char *name, size_t len, uint64_t *ino,
	       uint8_t *ftype)
{
	struct dir_tree dt;
	struct dir_ent e;
	bool taken;
	int err;

	err = dir_check_name(len);
	if (err)
		return err;
	taken = fs_meta_rdlock(dp->fs);
	dir_tree_init(&dt, dp);
	err = dir_find(&dt.bt, dp->fs->sb.hash_seed, name, len, &e, NULL);
	fs_meta_unlock(dp->fs, taken);
	if (err)
		return err;
	if (ino)
		*ino = e.v.ino;
	if (ftype)
		*ftype = e.v.ftype;
	return 0;
}

int dir_add(struct txn *t, struct inode *dp, const char *name, size_t len,
	    uint64_t ino, uint8_t ftype)
{
	const uint8_t *seed = dp->fs->sb.hash_seed;
	uint8_t val[CODEC_DIRENT_MAX];
	struct dir_tree dt;
	struct dir_ent e;
	unsigned n;
	size_t vlen;
	int err;

	err = dir_check_name(len);
	if (err)
		return err;
	dir_tree_init(&dt, dp);
	err = dir_find(&dt.bt, seed, name, len, &e, &n);
	if (!err)
		return -EEXIST;
	if (err != -ENOENT)
		return err;
	/* 256 names with one 54-bit hash: only a broken seed gets here. */
	if (n >= DIOFS_DIR_COLLISIONS)
		return -ENOSPC;
	vlen = codec_dirent_encode(val, name, len, ino, ftype);
	err = btree_insert(&dt.bt, t, diofs_dir_key(diofs_name_hash(seed, name,
								    len), n),
			   val, vlen);
	dir_tree_done(&dt);
	if (!err)
		dir_set_size(dp, dp->dfile.size + 1);
	return err;
}

int dir_remove(struct txn *t, struct inode *dp, const char *name, size_t len)
{
	struct dir_tree dt;
	struct dir_ent e;
	int err;

	err = dir_check_name(len);
	if (err)
		return err;
	dir_tree_init(&dt, dp);
	err = dir_find(&dt.bt, dp->fs->sb.hash_seed, name, len, &e, NULL);
	if (err)
		return err;
	err = btree_delete(&dt.bt, t, e.key);
	dir_tree_done(&dt);
	if (!err)
		dir_set_size(dp, dp->dfile.size - 1);
	return err;
}

int dir_replace(struct txn *t, struct inode *dp, const char *name, size_t len,
		uint64_t ino, uint8_t ftype)
{
	uint8_t val[CODEC_DIRENT_MAX];
	struct dir_tree dt;
	struct dir_ent e;
	size_t vlen;
	int err;

	err = dir_check_name(len);
	if (err)
		return err;
	dir_tree_init(&dt, dp);
	err = dir_find(&dt.bt, dp->fs->sb.hash_seed, name, len, &e, NULL);
	if (err)
		return err;
	vlen = codec_dirent_encode(val, name, len, ino, ftype);
	err = btree_update(&dt.bt, t, e.key, val, vlen);
	dir_tree_done(&dt);
	return err;
}

int dir_iterate(struct inode *dp, uint64_t cookie,
		int (*fill)(void *arg, const char *name, size_t len,
			    uint64_t ino, uint8_t ftype, uint64_t next_cookie),
		void *arg)
{
	struct dir_tree dt;
	struct dir_ent e;
	bool taken;
	int err;

	taken = fs_meta_rdlock(dp->fs);
	dir_tree_init(&dt, dp);
	/*
	 * The cookie of an entry is its key and the next one starts just
	 * past it, so a walk resumes correctly whatever was added or removed
	 * in between; keys never reach 2^63, so key + 1 cannot wrap.
	 */
	for (;;) {
		err = dir_next(&dt.bt, cookie, &e);
		if (err) {
			if (err == -ENOENT)
				err = 0;
			break;
		}
		if (fill(arg, e.v.name, e.v.name_len, e.v.ino, e.v.ftype,
			 e.key + 1))
			break;
		cookie = e.key + 1;
	}
	fs_meta_unlock(dp->fs, taken);
	return err;
}

int dir_destroy(struct txn *t, struct inode *dp)
{
	struct dir_tree dt;
	int err;

	dir_tree_init(&dt, dp);
	err = btree_destroy(&dt.bt, t);
	dir_tree_done(&dt);
	if (!err)
		dir_set_size(dp, 0);
	return err;
}
