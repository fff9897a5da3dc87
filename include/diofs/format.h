/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * format: diofs on-disk structures.  doc/FORMAT.md describes them byte by
 * byte.  All fields are little-endian and fixed width; convert at the
 * boundary with the helpers below, never write a host-endian struct.
 */
#ifndef DIOFS_FORMAT_H
#define DIOFS_FORMAT_H

#include <assert.h>
#include <endian.h>
#include <stdint.h>

typedef uint16_t le16;
typedef uint32_t le32;
typedef uint64_t le64;

/* Header at the start of every metadata block (32 bytes). */
struct diofs_blkhdr {
	le32 magic;		/* what kind of block this is */
	le32 crc;		/* crc32c of the whole block, this field taken as 0 */
	le64 blkno;		/* where the block belongs: catches misdirected writes */
	uint8_t uuid[16];	/* filesystem UUID: catches blocks of an earlier mkfs */
};
static_assert(sizeof(struct diofs_blkhdr) == 32, "blkhdr size");

#endif
