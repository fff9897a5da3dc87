/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check_inode: the passes over inodes (check_inode.c), which the driver
 * (check.c) runs in the order its comment gives.
 */
#ifndef DIOFS_FSCK_CHECK_INODE_H
#define DIOFS_FSCK_CHECK_INODE_H

#include "model.h"

/* Every initialized inode-table block, every tree of every inode; data
 * extents collected as claims. */
int fsck_scan_inodes(struct fsck *f);
int fsck_orphans(struct fsck *f);
/* Orphans with no links and no names: freed (repair) or noted. */
int fsck_orphans_decide(struct fsck *f);
int fsck_claim_data(struct fsck *f);
int fsck_fix_extents(struct fsck *f);
/* Remove the attributes whose values were found damaged (repair only). */
int fsck_fix_xattrs(struct fsck *f);
/* Set every inode's counted fields and write back what changed. */
int fsck_inode_counts(struct fsck *f);
int fsck_write_inodes(struct fsck *f);

#endif
