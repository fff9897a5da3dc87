/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pattern: test data that says where it belongs.  pat(x, seed) is a byte
 * that depends on its offset x and a seed, never 0 and never 0xA5 (the
 * garbage the test devices are filled with), so a zero or a stale byte
 * read back in its place is always caught, and so is data from the wrong
 * offset or the wrong write.
 */
#ifndef DIOFS_TEST_PATTERN_H
#define DIOFS_TEST_PATTERN_H

#include <stddef.h>
#include <stdint.h>

static inline unsigned char pat(uint64_t x, unsigned seed)
{
	uint64_t v = (x + 1) * 0x9E3779B97F4A7C15ull;

	v ^= (uint64_t)(seed + 1) * 0xC2B2AE3D27D4EB4Full;
	v ^= v >> 31;
	v *= 0xBF58476D1CE4E5B9ull;
	v ^= v >> 29;
	return (unsigned char)(1 + (v >> 32) % 0xA4);	/* 1..0xA4 */
}

static inline void fill_pat(unsigned char *p, size_t len, uint64_t x0,
			    unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pat(x0 + i, seed);
}

#endif
