/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * checker: the diofs filesystem checker, as a library.
 *
 * fsck_run() checks the filesystem on an open bdev and, when asked, repairs
 * it.  fsck.diofs is a thin program around it; the unit tests call it on
 * the in-memory test device after injecting damage.
 *
 * Rules:
 *  1. With repair off nothing is written, whatever is found: the device may
 *     be opened read-only.
 *  2. Every problem is one line on opts->out.  With repair on, the line
 *     ends with ": " and what was changed; a problem that cannot be
 *     repaired ends with ": left as is" and is counted in left.
 *  3. After repairing, the whole check runs once more without repairing;
 *     what it still finds is what left counts (its lines are prefixed
 *     "after repair: ").
 *  4. Returns 0 when the check ran to the end, whatever it found, and a
 *     negative errno when it could not (not a diofs filesystem, I/O error,
 *     no memory); res->msg then says why in one line.
 *  5. opts->progress, when set, hears how far the long passes are, with
 *     e2fsck's pass numbers: FSCK_PASS_INODES, FSCK_PASS_DIRS and
 *     FSCK_PASS_GROUPS.  Within a pass done grows from 0 to total, and
 *     the last call of a pass has done == total; calls are few (at most
 *     about a thousand a pass), so the callback may write each one out.
 *     After a repair the check runs again (rule 3) and the passes start
 *     over.  Nothing the callback is told goes to opts->out.
 */
#ifndef DIOFS_FSCK_CHECKER_H
#define DIOFS_FSCK_CHECKER_H

#include <stdint.h>
#include <stdio.h>

#include "diofs/bdev.h"

/* Rule 5: the passes that report progress, numbered as e2fsck's. */
#define FSCK_PASS_INODES	1	/* inode tables and trees */
#define FSCK_PASS_DIRS		2	/* directory entries */
#define FSCK_PASS_GROUPS	5	/* bitmaps and group counts */

struct fsck_opts {
	int repair;		/* 0: report only (-n); 1: repair (-y, -p) */
	int skip_clean;		/* return at once if cleanly unmounted (-p) */
	FILE *out;		/* problems and fixes; NULL: silent */
	/* rule 5; NULL: none */
	void (*progress)(void *arg, int pass, uint64_t done, uint64_t total);
	void *progress_arg;
};

struct fsck_result {
	uint64_t found;		/* problems found */
	uint64_t fixed;		/* problems repaired */
	uint64_t left;		/* problems still there (rule 3) */
	uint64_t notes;		/* remarks that are not errors (orphans) */
	int skipped;		/* skip_clean and the filesystem was clean */
	uint64_t inodes_used, inodes_count;
	uint64_t blocks_used, blocks_count;
	char msg[256];		/* rule 4 */
};

int fsck_run(struct bdev *bdev, const struct fsck_opts *opts,
	     struct fsck_result *res);

#endif
