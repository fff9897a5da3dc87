/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * acl: POSIX ACLs for the diofs daemon.
 *
 * With FUSE_CAP_POSIX_ACL the kernel reads ACLs from the
 * system.posix_acl_access and system.posix_acl_default attributes and
 * enforces them; keeping them consistent with the file mode is the
 * filesystem's job.  These functions do that on top of the engine's
 * attribute and setattr calls.
 *
 * Rules:
 *  1. A stored access ACL always has entries beyond owner, group and other
 *     (an ACL that a mode can say is stored as the mode alone), and the
 *     mode's permission bits always agree with it: owner = USER_OBJ,
 *     group = MASK (GROUP_OBJ without a mask), other = OTHER.
 *  2. A mode change rewrites those three entries of the stored ACL.
 *  3. A node created in a directory with a default ACL gets that ACL,
 *     narrowed by the mode the creator asked for, instead of the umask;
 *     a new directory also inherits the default ACL itself.
 */
#ifndef DIOFS_FUSE_ACL_H
#define DIOFS_FUSE_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "diofs/fs.h"

#define ACL_XATTR_ACCESS	"system.posix_acl_access"
#define ACL_XATTR_DEFAULT	"system.posix_acl_default"

/* Store (or, if a mode can say it, drop) an access ACL and set the mode. */
int acl_set_access(struct fs *fs, struct dio_ctx *ctx, uint64_t ino,
		   const void *value, size_t size, int flags);
/* Rule 2, after the mode of ino became mode. */
int acl_update_mode(struct fs *fs, uint64_t ino, mode_t mode);

/* What a new node inherits (rule 3). */
struct acl_inherit {
	void *access;		/* the new node's access ACL, or NULL */
	size_t access_len;
	void *dflt;		/* a new directory's default ACL, or NULL */
	size_t dflt_len;
};

/*
 * Before creating a node of *mode in parent: apply the parent's default
 * ACL, or the umask when it has none, to *mode, and fill *inh.
 */
int acl_inherit_prepare(struct fs *fs, uint64_t parent, mode_t *mode,
			mode_t umask, struct acl_inherit *inh);
/* After creating it as ino: give it what it inherits. */
int acl_inherit_apply(struct fs *fs, uint64_t ino,
		      const struct acl_inherit *inh);
void acl_inherit_free(struct acl_inherit *inh);

#endif
