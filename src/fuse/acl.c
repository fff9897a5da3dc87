/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * acl.c: POSIX ACLs kept in step with file modes (see acl.h).
 *
 * An ACL travels as the kernel's extended-attribute encoding: a 4-byte
 * little-endian version (2), then 8-byte entries of tag (16 bits),
 * permission (16 bits) and id (32 bits), all little-endian.  The kernel
 * validates an ACL before it is set; it is parsed again here because the
 * daemon derives modes from it, and a stored one may come from an older
 * or damaged filesystem.
 *
 * Rules:
 *  1. The three base entries (USER_OBJ, GROUP_OBJ, OTHER) occur once each;
 *     MASK at most once, and it is required as soon as there is a named
 *     USER or GROUP entry.  Anything else is -EINVAL from acl_decode().
 *  2. The group class of the mode is the MASK entry when there is one and
 *     the GROUP_OBJ entry otherwise; the named entries never show in the
 *     mode.
 *  3. Mode and attribute are two engine calls, not one transaction: a crash
 *     between them can leave the mode and the ACL's owner, group-class and
 *     other entries disagreeing until the next chmod or ACL change.  A new
 *     node is created with its narrowed mode before it gets its ACL, so
 *     until then it grants no more than that mode.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "acl.h"

#define ACL_VERSION	2
#define ACL_HDR_SIZE	4
#define ACL_ENTRY_SIZE	8

enum acl_tag {
	TAG_USER_OBJ = 0x01,
	TAG_USER = 0x02,
	TAG_GROUP_OBJ = 0x04,
	TAG_GROUP = 0x08,
	TAG_MASK = 0x10,
	TAG_OTHER = 0x20,
};

struct acl_entry {
	uint16_t tag;
	uint16_t perm;
	uint32_t id;
};

struct acl {
	size_t n;
	struct acl_entry *e;
};

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

static int acl_decode(const void *buf, size_t size, struct acl *acl)
{
	const unsigned char *p = buf;
	unsigned seen = 0;
	bool named = false;
	size_t i;

	if (size < ACL_HDR_SIZE || (size - ACL_HDR_SIZE) % ACL_ENTRY_SIZE ||
	    get32(p) != ACL_VERSION)
		return -EINVAL;
	acl->n = (size - ACL_HDR_SIZE) / ACL_ENTRY_SIZE;
	acl->e = calloc(acl->n ? acl->n : 1, sizeof(*acl->e));
	if (!acl->e)
		return -ENOMEM;
	for (i = 0; i < acl->n; i++) {
		const unsigned char *q = p + ACL_HDR_SIZE + i * ACL_ENTRY_SIZE;
		struct acl_entry *e = &acl->e[i];

		e->tag = get16(q);
		e->perm = get16(q + 2);
		e->id = get32(q + 4);
		if (e->perm & ~7u)
			goto out_invalid;
		switch (e->tag) {
		case TAG_USER:
		case TAG_GROUP:
			named = true;
			break;
		case TAG_USER_OBJ:
		case TAG_GROUP_OBJ:
		case TAG_MASK:
		case TAG_OTHER:
			if (seen & e->tag)
				goto out_invalid;
			seen |= e->tag;
			break;
		default:
			goto out_invalid;
		}
	}
	if ((seen & (TAG_USER_OBJ | TAG_GROUP_OBJ | TAG_OTHER)) !=
	    (TAG_USER_OBJ | TAG_GROUP_OBJ | TAG_OTHER) ||
	    (named && !(seen & TAG_MASK)))
		goto out_invalid;
	return 0;

out_invalid:
	free(acl->e);
	acl->e = NULL;
	return -EINVAL;
}

/* The encoding of acl, in a buffer of *size bytes the caller frees. */
static void *acl_encode(const struct acl *acl, size_t *size)
{
	unsigned char *buf;
	size_t i;

	*size = ACL_HDR_SIZE + acl->n * ACL_ENTRY_SIZE;
	buf = malloc(*size);
	if (!buf)
		return NULL;
	put32(buf, ACL_VERSION);
	for (i = 0; i < acl->n; i++) {
		unsigned char *q = buf + ACL_HDR_SIZE + i * ACL_ENTRY_SIZE;

		put16(q, acl->e[i].tag);
		put16(q + 2, acl->e[i].perm);
		put32(q + 4, acl->e[i].id);
	}
	return buf;
}

static struct acl_entry *acl_find(const struct acl *acl, uint16_t tag)
{
	size_t i;

	for (i = 0; i < acl->n; i++)
		if (acl->e[i].tag == tag)
			return &acl->e[i];
	return NULL;
}

/* The entry that stands for the group class (rule 2). */
static struct acl_entry *acl_group_class(const struct acl *acl)
{
	struct acl_entry *mask = acl_find(acl, TAG_MASK);

	return mask ? mask : acl_find(acl, TAG_GROUP_OBJ);
}

static mode_t acl_perms(const struct acl *acl)
{
	return (mode_t)(acl_find(acl, TAG_USER_OBJ)->perm << 6 |
			acl_group_class(acl)->perm << 3 |
			acl_find(acl, TAG_OTHER)->perm);
}

/* Whether the ACL says more than a mode can (acl.h rule 1). */
static bool acl_extended(const struct acl *acl)
{
	return acl->n > 3;
}

/* Read attribute name of ino into a buffer the caller frees. */
static ssize_t xattr_get(struct fs *fs, uint64_t ino, const char *name,
			 void **out)
{
	ssize_t n, got;
	void *buf;

	for (;;) {
		n = fs_getxattr(fs, ino, name, NULL, 0);
		if (n < 0)
			return n;
		buf = malloc(n ? (size_t)n : 1);
		if (!buf)
			return -ENOMEM;
		got = fs_getxattr(fs, ino, name, buf, (size_t)n);
		if (got >= 0) {
			*out = buf;
			return got;
		}
		free(buf);
		if (got != -ERANGE)	/* it grew in between: ask again */
			return got;
	}
}

int acl_set_access(struct fs *fs, struct dio_ctx *ctx, uint64_t ino,
		   const void *value, size_t size, int flags)
{
	struct fs_setattr sa = { .mask = FS_SET_MODE };
	struct fs_attr a;
	struct acl acl;
	int rc;

	rc = acl_decode(value, size, &acl);
	if (rc < 0)
		return rc;
	rc = fs_getattr(fs, ino, &a);
	if (rc < 0)
		goto out;
	if (acl_extended(&acl)) {
		rc = fs_setxattr(fs, ino, ACL_XATTR_ACCESS, value, size, flags);
	} else {
		rc = fs_removexattr(fs, ino, ACL_XATTR_ACCESS);
		if (rc == -ENODATA)
			rc = 0;
	}
	if (rc < 0)
		goto out;
	sa.mode = (a.mode & ~(mode_t)0777) | acl_perms(&acl);
	if (sa.mode != a.mode)
		rc = fs_setattr(fs, ctx, ino, &sa, &a);
out:
	free(acl.e);
	return rc;
}

int acl_update_mode(struct fs *fs, uint64_t ino, mode_t mode)
{
	struct acl acl;
	void *buf, *out;
	ssize_t len;
	size_t size;
	int rc;

	len = xattr_get(fs, ino, ACL_XATTR_ACCESS, &buf);
	if (len == -ENODATA)
		return 0;
	if (len < 0)
		return (int)len;
	rc = acl_decode(buf, (size_t)len, &acl);
	free(buf);
	if (rc < 0)
		return rc;
	acl_find(&acl, TAG_USER_OBJ)->perm = (mode >> 6) & 7;
	acl_group_class(&acl)->perm = (mode >> 3) & 7;
	acl_find(&acl, TAG_OTHER)->perm = mode & 7;
	out = acl_encode(&acl, &size);
	free(acl.e);
	if (!out)
		return -ENOMEM;
	rc = fs_setxattr(fs, ino, ACL_XATTR_ACCESS, out, size, 0);
	free(out);
	return rc;
}

/*
 * Narrow an inherited ACL to the permissions the creator asked for: each
 * of the owner, group-class and other entries keeps only the bits of its
 * class in mode, and the mode keeps only what the entries grant.  Returns
 * the resulting permission bits.
 */
static mode_t acl_narrow(struct acl *acl, mode_t mode)
{
	struct acl_entry *owner = acl_find(acl, TAG_USER_OBJ);
	struct acl_entry *group = acl_group_class(acl);
	struct acl_entry *other = acl_find(acl, TAG_OTHER);

	owner->perm &= (mode >> 6) & 7;
	group->perm &= (mode >> 3) & 7;
	other->perm &= mode & 7;
	return acl_perms(acl);
}

int acl_inherit_prepare(struct fs *fs, uint64_t parent, mode_t *mode,
			mode_t umask, struct acl_inherit *inh)
{
	struct acl acl;
	ssize_t len;
	void *buf;
	int rc;

	memset(inh, 0, sizeof(*inh));
	len = xattr_get(fs, parent, ACL_XATTR_DEFAULT, &buf);
	if (len == -ENODATA) {
		*mode &= ~(umask & 0777);
		return 0;
	}
	if (len < 0)
		return (int)len;
	rc = acl_decode(buf, (size_t)len, &acl);
	if (rc < 0) {
		free(buf);
		return -EIO;	/* a stored default ACL is damaged */
	}
	*mode = (*mode & ~(mode_t)0777) | acl_narrow(&acl, *mode);
	if (acl_extended(&acl)) {
		inh->access = acl_encode(&acl, &inh->access_len);
		if (!inh->access)
			rc = -ENOMEM;
	}
	free(acl.e);
	if (rc == 0 && S_ISDIR(*mode)) {
		inh->dflt = buf;
		inh->dflt_len = (size_t)len;
		buf = NULL;
	}
	free(buf);
	if (rc < 0)
		acl_inherit_free(inh);
	return rc;
}

int acl_inherit_apply(struct fs *fs, uint64_t ino,
		      const struct acl_inherit *inh)
{
	int rc = 0;

	if (inh->access)
		rc = fs_setxattr(fs, ino, ACL_XATTR_ACCESS, inh->access,
				 inh->access_len, XATTR_CREATE);
	if (rc == 0 && inh->dflt)
		rc = fs_setxattr(fs, ino, ACL_XATTR_DEFAULT, inh->dflt,
				 inh->dflt_len, XATTR_CREATE);
	return rc;
}

void acl_inherit_free(struct acl_inherit *inh)
{
	free(inh->access);
	free(inh->dflt);
	memset(inh, 0, sizeof(*inh));
}
