/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fsenv: a mounted filesystem on an in-memory test device, for the suites
 * that work through fs.h.  env_init() formats a fresh test device with
 * super_format() and mounts it with fs_mount_bdev() and a dio context of
 * its own; env_unmount(), env_mount() and env_remount() cycle the mount,
 * and env_done() closes it all.  With it come the geometries the cases
 * loop over and the small helpers every such suite needs.
 *
 * Rules:
 *  1. geoms[] holds fs blocks of 1 KiB, 4 KiB and 64 KiB on 512-byte and
 *     4 KiB device sectors; a loop test's _i indexes it, or a suite's own
 *     subset of it.
 *  2. Devices are filled with GARBAGE before formatting, so nothing the
 *     engine reads without writing it first can pass for zeros (pattern.h
 *     never produces that byte).
 *  3. env_init() names the case's geometry in where; every failure
 *     message starts with it.
 *  4. env_unmount() clears the device's write log: after a clean unmount
 *     nothing in it is needed, and memory stays bounded.
 *  5. A mount uses e->cache_blocks (0: the default), e->atime and
 *     e->nodiratime, so a case can change them between an unmount and the
 *     next mount.
 *  6. A suite that keeps more per-case state in the environment defines
 *     ENV_EXTRA as those members before including this file; env_init()
 *     zeroes them with the rest.
 *  7. rnd() is xorshift64 from a fixed nonzero seed, so a run repeats
 *     itself; a case that wants its own sequence sets rng_state first.
 */
#ifndef DIOFS_TEST_FSENV_H
#define DIOFS_TEST_FSENV_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "diofs/bdev.h"
#include "diofs/dio.h"
#include "diofs/fs.h"
#include "diofs/super.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GARBAGE 0xA5
#define CASE_TIMEOUT 60

struct geom {
	unsigned fs_bs;
	unsigned dev_bs;
};

static const struct geom geoms[] = {
	{ 1024, 512 },
	{ 4096, 512 },
	{ 4096, 4096 },
	{ 65536, 512 },
	{ 65536, 4096 },
};
#define NGEOMS ((int)(sizeof(geoms) / sizeof(geoms[0])))

static char where[96];

static inline void *xalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	ck_assert_ptr_nonnull(p);
	return p;
}

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static inline uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static inline uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

struct env {
	struct bdev *bdev;
	struct fs *fs;
	struct dio_ctx *ctx;
	uint32_t bs;		/* fs block size */
	uint64_t size;		/* device size */
	size_t cache_blocks;	/* rule 5 */
	enum fs_atime atime;	/* rule 5 too */
	bool nodiratime;
#ifdef ENV_EXTRA
	ENV_EXTRA		/* rule 6 */
#endif
};

static inline void env_mount(struct env *e)
{
	struct fs_mount_opts o = {
		.cache_blocks = e->cache_blocks,
		.atime = e->atime,
		.nodiratime = e->nodiratime,
	};
	const char *msg = NULL;
	int err;

	err = fs_mount_bdev(e->bdev, &o, &e->fs, &msg);
	ck_assert_msg(err == 0, "%s: mount: %d (%s)", where, err,
		      msg ? msg : "no message");
	ck_assert_int_eq(dio_ctx_create(e->bdev, NULL, &e->ctx), 0);
}

static inline void env_unmount(struct env *e)
{
	dio_ctx_destroy(e->ctx);
	e->ctx = NULL;
	ck_assert_int_eq(fs_unmount(e->fs), 0);
	e->fs = NULL;
	bdev_test_log_clear(e->bdev);	/* rule 4 */
}

static inline void env_remount(struct env *e)
{
	env_unmount(e);
	env_mount(e);
}

/* A size-byte device of geometry g, formatted with fo (NULL: the
 * defaults) at g's block size, and mounted. */
static inline void env_init(struct env *e, const struct geom *g,
			    uint64_t size, const struct format_opts *fo)
{
	struct bdev_test_opts bo = { .size = size, .block_size = g->dev_bs };
	struct format_opts opts = { 0 };
	char msg[256] = "";
	int err;

	memset(e, 0, sizeof(*e));
	snprintf(where, sizeof(where), "fs %u dev %u", g->fs_bs, g->dev_bs);
	if (fo)
		opts = *fo;
	opts.block_size = g->fs_bs;
	ck_assert_int_eq(bdev_test_create(&bo, &e->bdev), 0);
	memset(bdev_test_data(e->bdev), GARBAGE, size);	/* rule 2 */
	err = super_format(e->bdev, &opts, NULL, msg, sizeof(msg));
	ck_assert_msg(err == 0, "%s: format: %d %s", where, err, msg);
	bdev_test_log_clear(e->bdev);
	e->bs = g->fs_bs;
	e->size = size;
	env_mount(e);
}

static inline void env_done(struct env *e)
{
	if (e->fs)
		env_unmount(e);
	bdev_close(e->bdev);
}

static inline struct fs_attr attr_of(struct env *e, uint64_t ino)
{
	struct fs_attr a;

	ck_assert_int_eq(fs_getattr(e->fs, ino, &a), 0);
	return a;
}

static inline uint64_t free_blocks(struct env *e)
{
	struct statvfs st;

	ck_assert_int_eq(fs_statfs(e->fs, &st), 0);
	return st.f_bfree;
}

#endif
