/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fstab: the nofail of the fstab line mount(8) is mounting.
 *
 * For the "diofs#SOURCE DIR fuse" form mount(8) runs mount.fuse, which
 * drops nofail (with noauto and _netdev) from the options before it runs
 * diofs through sh, so diofs never sees it.  A diofs whose device is
 * missing asks instead: was it started by mount(8) (the parent, or the
 * parent's parent: sh may stand between)?  Then it reads the fstab that
 * mount(8) reads (its --fstab or -T FILE, else LIBMOUNT_FSTAB from its
 * environment, else the default) and looks for the line that mounts
 * SOURCE, written as diofs#SOURCE or SOURCE, on the mountpoint.
 *
 * Rules:
 *  1. Only an ancestor whose executable is named mount counts; any doubt
 *     (no such ancestor, an fstab that cannot be read, no matching line)
 *     answers false, and the missing device is an error as before.
 */
#ifndef DIOFS_FUSE_FSTAB_H
#define DIOFS_FUSE_FSTAB_H

#include <stdbool.h>

bool fstab_line_has_nofail(const char *source, const char *mountpoint);

#endif
