/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * crc: crc32c through ISA-L, and the stamp and check of the header that
 * starts every metadata block.
 *
 * Rules:
 *  1. ISA-L's crc32_iscsi() neither inverts its initial value nor its
 *     result; the standard crc32c does both.  diofs_crc32c() inverts on the
 *     way in and out, so its results are standard and chain (crc.h rule 1).
 *  2. crc32_iscsi() takes an int length; longer buffers go in pieces.
 *  3. The checksum covers the block with the crc field as zero, computed
 *     piecewise so that verifying never writes to the block.
 */
#include <errno.h>
#include <string.h>
#include <isa-l/crc.h>

#include "diofs/crc.h"
#include "diofs/format.h"

/* Fits crc32_iscsi()'s int length with room to spare. */
#define CRC_CHUNK	(1u << 30)

uint32_t diofs_crc32c(uint32_t seed, const void *buf, size_t len)
{
	unsigned char *p = (unsigned char *)buf;	/* ISA-L is not const-clean */
	uint32_t crc = ~seed;

	while (len > 0) {
		size_t n = len < CRC_CHUNK ? len : CRC_CHUNK;

		crc = crc32_iscsi(p, (int)n, crc);
		p += n;
		len -= n;
	}
	return ~crc;
}

static uint32_t blkhdr_crc(const void *block, uint32_t block_size)
{
	static const uint8_t zero[sizeof(le32)];
	const uint8_t *p = block;
	size_t crc_off = offsetof(struct diofs_blkhdr, crc);
	size_t rest = crc_off + sizeof(le32);
	uint32_t crc;

	crc = diofs_crc32c(0, p, crc_off);
	crc = diofs_crc32c(crc, zero, sizeof(zero));
	return diofs_crc32c(crc, p + rest, block_size - rest);
}

void blkhdr_stamp(void *block, uint32_t block_size, uint32_t magic,
		  uint64_t blkno, const uint8_t uuid[16])
{
	struct diofs_blkhdr *h = block;

	h->magic = htole32(magic);
	h->blkno = htole64(blkno);
	memcpy(h->uuid, uuid, sizeof(h->uuid));
	h->crc = htole32(blkhdr_crc(block, block_size));
}

int blkhdr_verify(const void *block, uint32_t block_size, uint32_t magic,
		  uint64_t blkno, const uint8_t uuid[16])
{
	const struct diofs_blkhdr *h = block;

	if (le32toh(h->magic) != magic || le64toh(h->blkno) != blkno ||
	    memcmp(h->uuid, uuid, sizeof(h->uuid)) != 0)
		return -EUCLEAN;
	if (le32toh(h->crc) != blkhdr_crc(block, block_size))
		return -EUCLEAN;
	return 0;
}
