/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * crc: crc32c checksums and the metadata block header (format.h).
 *
 * Rules:
 *  1. diofs_crc32c() is the standard crc32c (Castagnoli, reflected, initial
 *     and final value inverted): diofs_crc32c(0, "123456789", 9) is
 *     0xE3069283.  seed is an earlier result, so a checksum can be built
 *     piecewise: diofs_crc32c(diofs_crc32c(0, a, n), b, m) equals the
 *     checksum of a followed by b.  Start with seed 0.
 *  2. A metadata block's checksum covers the whole block with the header's
 *     crc field taken as zero.
 */
#ifndef DIOFS_CRC_H
#define DIOFS_CRC_H

#include <stddef.h>
#include <stdint.h>

uint32_t diofs_crc32c(uint32_t seed, const void *buf, size_t len);

/* Fill in the header of a block_size-byte metadata block and its checksum. */
void blkhdr_stamp(void *block, uint32_t block_size, uint32_t magic,
		  uint64_t blkno, const uint8_t uuid[16]);
/* 0 if block's header and checksum are intact and name magic, blkno and
 * uuid; -EUCLEAN otherwise. */
int blkhdr_verify(const void *block, uint32_t block_size, uint32_t magic,
		  uint64_t blkno, const uint8_t uuid[16]);

#endif
