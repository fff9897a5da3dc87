/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * source: the device named by a UUID=... or LABEL=... source.
 *
 * mount(8) finds such sources through libblkid, which knows no diofs yet
 * (contrib/libblkid-diofs); the daemon finds them itself, by reading the
 * superblock of every block device the kernel lists.
 *
 * Rules:
 *  1. Only "UUID=" and "LABEL=" (upper case, as blkid spells them) make a
 *     tag; any other source is a path.
 *  2. The result is one device, or an error with a one-line reason: none
 *     matches (-ENOENT), several do (-ENOTUNIQ), the UUID is malformed
 *     (-EINVAL).
 */
#ifndef DIOFS_FUSE_SOURCE_H
#define DIOFS_FUSE_SOURCE_H

#include <stdbool.h>

/* Whether spec is a tag (rule 1). */
bool source_is_tag(const char *spec);
/* The device spec names, malloc'ed, in *dev; on failure *why says why. */
int source_resolve(const char *spec, char **dev, const char **why);

#endif
