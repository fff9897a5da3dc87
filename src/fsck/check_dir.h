/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check_dir: the passes over directories (check_dir.c), which the driver
 * (check.c) runs, and the scan of one directory, which the orphan pass
 * (check_inode.c) runs for an orphan directory that stays.
 */
#ifndef DIOFS_FSCK_CHECK_DIR_H
#define DIOFS_FSCK_CHECK_DIR_H

#include "model.h"

/* Walk the entries of one directory into the model. */
int fsck_scan_dir(struct fsck *f, struct finode *dir);
int fsck_scan_dirs(struct fsck *f);
int fsck_fix_entries(struct fsck *f);
int fsck_connect(struct fsck *f);

#endif
