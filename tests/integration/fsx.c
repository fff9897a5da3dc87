/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fsx.c: a randomized file exerciser for diofs mounts.
 *
 *   fsx [-n OPS] [-S SEED] [-l MAXLEN] [-o MAXOP] [-c CHECK] [-R REMOUNT]
 *       [-N] [-M] [-C] [-I] [-v] FILE [REMOUNT_CMD]
 *
 * fsx truncates FILE to zero, then applies OPS random operations to it and
 * to an in-memory model of what it must hold (its bytes and its size):
 * buffered writes and reads, writes and reads through a shared mapping
 * (of the buffered or, at odd pages, the O_DIRECT descriptor),
 * O_DIRECT writes and reads through a second descriptor at aligned and
 * unaligned offsets, lengths and buffer addresses, truncates up and down,
 * fallocate (plain, KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE with and without
 * KEEP_SIZE; with -C and -I also COLLAPSE_RANGE and INSERT_RANGE in
 * whole st_blksize blocks), copy_file_range inside the file, fsync and
 * fdatasync.  After
 * each operation it reads back the range the operation touched and checks
 * st_size; every CHECK operations it compares the whole file, once through
 * the page cache and once with O_DIRECT; after fsync it checks that the
 * filesystem's st_size and st_blocks agree with the model.  With
 * REMOUNT_CMD, every REMOUNT operations and at the end it closes the file,
 * runs REMOUNT_CMD with system(3), reopens the file and compares all of it.
 *
 * On the first disagreement fsx prints the seed, the operation number, what
 * disagreed (with a hex dump of the first differing bytes, and the
 * operation that last set the expected bytes) and the last operations, and
 * exits 1.  A clean run exits 0; bad arguments or a failure to set up exit
 * 2.  The same seed and options give the same operations and data.
 *
 * Rules:
 *  1. The model holds zeros at and beyond its size at all times, so that
 *     growing the file (truncate up, writes past EOF, fallocate) never
 *     needs a special case: the bytes a hole or a preallocated range must
 *     read as are already there.
 *  2. Operations, offsets, lengths and written data come only from the
 *     seed.  The one result the model takes from the filesystem is the
 *     count copy_file_range returns, which POSIX lets be short; fsx checks
 *     that it is short only at EOF.
 *  3. Buffered, mapped and O_DIRECT access follow each other with no fsync
 *     in between, because Linux keeps them coherent and applications rely
 *     on it: before a direct request on a FUSE file the kernel writes back
 *     the range's dirty pages (buffered writes too, under writeback
 *     caching), and after a direct write it drops the range's cached
 *     pages.  A stale read after a switch of access mode is a
 *     finding, not a reason to sync.  Most mapped writes are followed by
 *     msync(MS_SYNC), as POSIX asks; one in four is not, so the kernel's
 *     own writeback of mapped pages (before direct I/O, on close, on
 *     fsync) is exercised too.
 *  4. fsx is strict by default, for diofs: every operation must be
 *     supported, and an unaligned O_DIRECT request must succeed, because
 *     FUSE passes it to the daemon as it is.  -N ("not FUSE") is for trying
 *     fsx itself on a kernel filesystem: an operation the filesystem does
 *     not support (EOPNOTSUPP) is turned off after a note, and O_DIRECT
 *     requests stay 4096-aligned.
 *  5. A fault (SIGBUS, SIGSEGV) while touching a mapping is a finding:
 *     the handler jumps back and the report is printed as for a mismatch.
 *     -M leaves mappings out, for mounts with -o direct_io, where the
 *     kernel refuses shared mappings of FUSE files.
 *  6. Collapse and insert range are off unless -C and -I ask for them:
 *     Linux's FUSE client refuses both modes itself (EOPNOTSUPP) and never
 *     passes them to a daemon, so a diofs mount cannot run them.  They
 *     pick only what ext4 accepts (whole blocks, a collapse ending before
 *     EOF, an insert starting before it and keeping the file within -l),
 *     and an empty or one-block file skips them.  Without -C and -I a
 *     seed runs the operations it ran before they existed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/magic.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FSX_DIO_ALIGN	4096	/* the strictest O_DIRECT alignment we meet */
#define FSX_LOG_LEN	20	/* operations shown in a report */
#define FSX_DIFF_LINES	4	/* 16-byte lines of hex shown per mismatch */
#define FSX_SECTOR	512	/* the unit of st_blocks */

enum fsx_op {
	OP_WRITE,
	OP_READ,
	OP_MAPWRITE,
	OP_MAPREAD,
	OP_DWRITE,
	OP_DREAD,
	OP_TRUNCATE,
	OP_PUNCH,
	OP_ZERO,
	OP_FALLOC,
	OP_COPY,
	OP_FSYNC,
	OP_COLLAPSE,
	OP_INSERT,
	OP_NR,
	/* not drawn at random; they appear in the log */
	OP_CHECK = OP_NR,
	OP_REMOUNT,
	OP_NAMES,
};

static const char *const op_name[OP_NAMES] = {
	[OP_WRITE] = "WRITE",
	[OP_READ] = "READ",
	[OP_MAPWRITE] = "MAPWRITE",
	[OP_MAPREAD] = "MAPREAD",
	[OP_DWRITE] = "DIRECT_WRITE",
	[OP_DREAD] = "DIRECT_READ",
	[OP_TRUNCATE] = "TRUNCATE",
	[OP_PUNCH] = "PUNCH_HOLE",
	[OP_ZERO] = "ZERO_RANGE",
	[OP_FALLOC] = "FALLOCATE",
	[OP_COPY] = "COPY_RANGE",
	[OP_FSYNC] = "FSYNC",
	[OP_COLLAPSE] = "COLLAPSE_RANGE",
	[OP_INSERT] = "INSERT_RANGE",
	[OP_CHECK] = "CHECK_ALL",
	[OP_REMOUNT] = "REMOUNT",
};

/* Relative frequencies of the operations drawn at random. */
static const unsigned op_weight[OP_NR] = {
	[OP_WRITE] = 18,
	[OP_READ] = 10,
	[OP_MAPWRITE] = 6,
	[OP_MAPREAD] = 6,
	[OP_DWRITE] = 10,
	[OP_DREAD] = 10,
	[OP_TRUNCATE] = 6,
	[OP_PUNCH] = 5,
	[OP_ZERO] = 5,
	[OP_FALLOC] = 5,
	[OP_COPY] = 6,
	[OP_FSYNC] = 3,
	[OP_COLLAPSE] = 4,
	[OP_INSERT] = 4,
};

/* Flags of a log entry. */
#define LOG_KEEP_SIZE	0x01	/* fallocate with FALLOC_FL_KEEP_SIZE */
#define LOG_DATASYNC	0x02	/* fdatasync rather than fsync */
#define LOG_DIRECT_FD	0x04	/* the O_DIRECT descriptor was used */
#define LOG_UNALIGNED	0x08	/* O_DIRECT with unaligned offset or length */
#define LOG_SKIPPED	0x10	/* nothing to do (empty file) */
#define LOG_EXTENDED	0x20	/* a mapped write truncated the file up first */
#define LOG_NO_MSYNC	0x40	/* a mapped write left to kernel writeback */

struct fsx_log {
	long n;			/* operation number, from 1 */
	enum fsx_op op;
	unsigned flags;
	off_t off, len;		/* the range the operation asked for */
	off_t off2;		/* COPY_RANGE destination; TRUNCATE new size */
	unsigned memoff;	/* buffer misalignment of O_DIRECT requests */
	off_t size0, size1;	/* model size before and after */
	long long ret;		/* bytes transferred, where that means much */
};

struct fsx {
	/* options */
	long nops;
	uint64_t seed;
	off_t maxlen;
	off_t maxop;
	long check_every;
	long remount_every;
	bool lenient;
	bool no_mmap;
	bool collapse, insert;	/* -C, -I (rule 6) */
	bool verbose;
	const char *path;
	const char *remount;

	uint64_t rng;
	long pagesize;
	int fd;			/* buffered and mapped access */
	int dfd;		/* O_DIRECT access */
	off_t blksize;		/* st_blksize: the unit of collapse and insert */

	/* the model (rule 1) */
	unsigned char *good;
	uint32_t *who;		/* per byte: the operation that last set it */
	off_t size;
	off_t alloc_hi;		/* end of the furthest range ever allocated */

	unsigned char *wbuf, *rbuf;	/* FSX_DIO_ALIGN-aligned scratch */
	size_t bufsize;

	long opno;
	struct fsx_log log[FSX_LOG_LEN];
	long nlog;
	off_t prev_off, prev_len;
	bool disabled[OP_NR];
	long done[OP_NR];
	long full_checks, remounts;
};

static struct fsx fsx;

static sigjmp_buf fault_jmp;
static volatile sig_atomic_t fault_armed;

/* splitmix64: small, fast, and the same everywhere for a given seed. */
static uint64_t mix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(void)
{
	return mix64(&fsx.rng);
}

static off_t rnd_below(off_t n)
{
	return n > 0 ? (off_t)(rnd() % (uint64_t)n) : 0;
}

/*
 * The data of operation n depends on the seed and n only, so a change in
 * how many random numbers an earlier operation drew leaves it alone.
 */
static void fill_data(unsigned char *p, size_t len)
{
	uint64_t st = fsx.seed ^ ((uint64_t)fsx.opno * 0xd1b54a32d192ed03ULL);
	size_t i;

	for (i = 0; i < len; i += 8) {
		uint64_t v = mix64(&st);
		size_t k = len - i < 8 ? len - i : 8;

		memcpy(p + i, &v, k);
	}
}

static off_t round_down(off_t v, off_t a)
{
	return v / a * a;
}

static off_t round_up(off_t v, off_t a)
{
	return (v + a - 1) / a * a;
}

static off_t min_off(off_t a, off_t b)
{
	return a < b ? a : b;
}

static off_t max_off(off_t a, off_t b)
{
	return a > b ? a : b;
}

/* ---- reports ----------------------------------------------------------- */

/* The flags that change what a seed does, for the lines that name a run. */
static const char *mode_flags(void)
{
	static char buf[16];

	snprintf(buf, sizeof(buf), "%s%s%s%s", fsx.lenient ? " -N" : "",
		 fsx.no_mmap ? " -M" : "", fsx.collapse ? " -C" : "",
		 fsx.insert ? " -I" : "");
	return buf;
}

static void print_log_entry(FILE *f, const struct fsx_log *e)
{
	fprintf(f, "%7ld %-12s", e->n, op_name[e->op]);
	switch (e->op) {
	case OP_TRUNCATE:
		fprintf(f, " to 0x%jx", (intmax_t)e->off2);
		break;
	case OP_FSYNC:
		fprintf(f, " %s%s", e->flags & LOG_DATASYNC ? "fdatasync" : "fsync",
			e->flags & LOG_DIRECT_FD ? " (O_DIRECT fd)" : "");
		break;
	case OP_CHECK:
	case OP_REMOUNT:
		break;
	default:
		fprintf(f, " 0x%06jx..0x%06jx (0x%jx bytes)", (intmax_t)e->off,
			(intmax_t)(e->off + e->len - 1), (intmax_t)e->len);
		break;
	}
	if (e->op == OP_COPY)
		fprintf(f, " to 0x%06jx", (intmax_t)e->off2);
	if (e->flags & LOG_KEEP_SIZE)
		fprintf(f, " keep_size");
	if (e->flags & LOG_UNALIGNED)
		fprintf(f, " unaligned");
	if (e->memoff)
		fprintf(f, " buf+%u", e->memoff);
	if (e->flags & LOG_EXTENDED)
		fprintf(f, " (truncated up first)");
	if (e->flags & LOG_NO_MSYNC)
		fprintf(f, " no msync");
	if (e->flags & LOG_SKIPPED)
		fprintf(f, " skipped");
	if (e->ret >= 0 && (e->op == OP_READ || e->op == OP_DREAD ||
			    e->op == OP_COPY))
		fprintf(f, " -> %lld", e->ret);
	if (e->size1 != e->size0)
		fprintf(f, " size 0x%jx -> 0x%jx", (intmax_t)e->size0,
			(intmax_t)e->size1);
	fputc('\n', f);
}

static void report_head(const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "fsx: FAILURE at op %ld of %ld (seed %" PRIu64
		", -l %jd -o %jd%s): ", fsx.opno, fsx.nops, fsx.seed,
		(intmax_t)fsx.maxlen, (intmax_t)fsx.maxop, mode_flags());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static __attribute__((noreturn)) void report_tail(void)
{
	long i, first = fsx.nlog > FSX_LOG_LEN ? fsx.nlog - FSX_LOG_LEN : 0;

	fprintf(stderr, "fsx: model size 0x%jx (%jd)\n", (intmax_t)fsx.size,
		(intmax_t)fsx.size);
	fprintf(stderr, "fsx: the last %ld operations, the failing one last:\n",
		fsx.nlog - first);
	for (i = first; i < fsx.nlog; i++)
		print_log_entry(stderr, &fsx.log[i % FSX_LOG_LEN]);
	fprintf(stderr, "fsx: replay with: fsx -n %ld -S %" PRIu64
		" -l %jd -o %jd -c %ld -R %ld%s FILE [REMOUNT_CMD]\n", fsx.nops,
		fsx.seed, (intmax_t)fsx.maxlen, (intmax_t)fsx.maxop,
		fsx.check_every, fsx.remount_every, mode_flags());
	exit(1);
}

static __attribute__((noreturn, format(printf, 1, 2)))
void finding(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_head(fmt, ap);
	va_end(ap);
	report_tail();
}

static __attribute__((noreturn, format(printf, 1, 2)))
void setup_failed(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fsx: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static const char *who_name(uint32_t n)
{
	static char s[64];
	long i;

	if (n == 0)
		return "never written (initial zeros)";
	for (i = fsx.nlog - 1; i >= 0 && i >= fsx.nlog - FSX_LOG_LEN; i--) {
		const struct fsx_log *e = &fsx.log[i % FSX_LOG_LEN];

		if (e->n == (long)n && e->op < OP_NR) {
			snprintf(s, sizeof(s), "op %u (%s)", n, op_name[e->op]);
			return s;
		}
	}
	snprintf(s, sizeof(s), "op %u", n);
	return s;
}

static void hex_line(const char *tag, const unsigned char *p, off_t n,
		     const unsigned char *other)
{
	off_t i;

	fprintf(stderr, "  %s", tag);
	for (i = 0; i < n; i++)
		fprintf(stderr, " %02x", p[i]);
	fputc('\n', stderr);
	if (!other)
		return;
	fprintf(stderr, "  %*s", (int)strlen(tag), "");
	for (i = 0; i < n; i++)
		fprintf(stderr, "%s", p[i] != other[i] ? " ^^" : "   ");
	fputc('\n', stderr);
}

/*
 * Report that `got`, read from file offset `off`, differs from the model:
 * where, how much, which operation set the expected bytes, and the bytes.
 */
static __attribute__((noreturn, format(printf, 4, 5)))
void mismatch(off_t off, const unsigned char *got, off_t len,
	      const char *fmt, ...)
{
	const unsigned char *want = fsx.good + off;
	off_t first = -1, last = -1, ndiff = 0, i, line;
	va_list ap;

	for (i = 0; i < len; i++) {
		if (got[i] == want[i])
			continue;
		if (first < 0)
			first = i;
		last = i;
		ndiff++;
	}
	va_start(ap, fmt);
	report_head(fmt, ap);
	va_end(ap);
	fprintf(stderr, "fsx: %jd bytes differ between 0x%jx and 0x%jx;"
		" the checked range was 0x%jx..0x%jx\n", (intmax_t)ndiff,
		(intmax_t)(off + first), (intmax_t)(off + last),
		(intmax_t)off, (intmax_t)(off + len - 1));
	fprintf(stderr, "fsx: expected byte at 0x%jx set by %s",
		(intmax_t)(off + first), who_name(fsx.who[off + first]));
	fprintf(stderr, "; at 0x%jx by %s\n", (intmax_t)(off + last),
		who_name(fsx.who[off + last]));
	line = round_down(off + first, 16) - off;
	if (line < 0)
		line = 0;
	for (i = 0; i < FSX_DIFF_LINES && line < len; i++, line += 16) {
		off_t n = min_off(16 - (off + line) % 16, len - line);
		char tag[40];

		snprintf(tag, sizeof(tag), "0x%08jx expected:",
			 (intmax_t)(off + line));
		hex_line(tag, want + line, n, NULL);
		hex_line("           actual:", got + line, n, want + line);
	}
	report_tail();
}

static void on_fault(int sig)
{
	if (fault_armed)
		siglongjmp(fault_jmp, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- the model ---------------------------------------------------------- */

static void model_set_size(off_t size)
{
	off_t i;

	if (size < fsx.size) {
		memset(fsx.good + size, 0, fsx.size - size);
		for (i = size; i < fsx.size; i++)
			fsx.who[i] = fsx.opno;
	}
	fsx.size = size;
}

static void model_grow(off_t end)
{
	if (end > fsx.size)
		fsx.size = end;
	if (end > fsx.alloc_hi)
		fsx.alloc_hi = end;
}

static void model_write(off_t off, const unsigned char *p, off_t len)
{
	off_t i;

	memcpy(fsx.good + off, p, len);
	for (i = off; i < off + len; i++)
		fsx.who[i] = fsx.opno;
	model_grow(off + len);
}

static void model_zero(off_t off, off_t len)
{
	off_t i;

	memset(fsx.good + off, 0, len);
	for (i = off; i < off + len; i++)
		fsx.who[i] = fsx.opno;
}

/* Rule 6: the bytes from off+len move down to off (collapse) or those
 * from off up to off+len, leaving zeros (insert); the size follows. */
static void model_shift(bool collapse, off_t off, off_t len)
{
	off_t from = collapse ? off + len : off;
	off_t to = collapse ? off : off + len, n = fsx.size - from;

	memmove(fsx.good + to, fsx.good + from, n);
	memmove(fsx.who + to, fsx.who + from, n * sizeof(*fsx.who));
	if (collapse) {
		fsx.size -= len;
		model_zero(fsx.size, len);
		if (fsx.alloc_hi > off)
			fsx.alloc_hi = max_off(off, fsx.alloc_hi - len);
	} else {
		model_zero(off, len);
		fsx.size += len;
		if (fsx.alloc_hi > off)
			fsx.alloc_hi += len;
	}
}

/* ---- I/O helpers --------------------------------------------------------- */

static off_t pread_full(int fd, unsigned char *p, off_t len, off_t off)
{
	off_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, p + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

static off_t pwrite_full(int fd, const unsigned char *p, off_t len, off_t off)
{
	off_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, p + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += n;
	}
	return done;
}

/* What a read of [off, off+len) must return with the model's size. */
static off_t expected_count(off_t off, off_t len)
{
	return off >= fsx.size ? 0 : min_off(len, fsx.size - off);
}

static void compare(off_t off, const unsigned char *got, off_t len,
		    const char *what)
{
	if (memcmp(fsx.good + off, got, len))
		mismatch(off, got, len, "%s: data differs", what);
}

/* Read [off, off+len) back through the page cache and compare. */
static void verify_range(off_t off, off_t len, const char *what)
{
	off_t n, want = expected_count(off, len);

	n = pread_full(fsx.fd, fsx.rbuf, len, off);
	if (n < 0)
		finding("%s: pread 0x%jx+0x%jx: %s", what, (intmax_t)off,
			(intmax_t)len, strerror((int)-n));
	if (n != want)
		finding("%s: pread 0x%jx+0x%jx returned %jd bytes, expected %jd",
			what, (intmax_t)off, (intmax_t)len, (intmax_t)n,
			(intmax_t)want);
	compare(off, fsx.rbuf, n, what);
}

static void check_size(const char *what)
{
	struct stat st;

	if (fstat(fsx.fd, &st))
		finding("%s: fstat: %s", what, strerror(errno));
	if (st.st_size != fsx.size)
		finding("%s: st_size is 0x%jx (%jd), expected 0x%jx (%jd)", what,
			(intmax_t)st.st_size, (intmax_t)st.st_size,
			(intmax_t)fsx.size, (intmax_t)fsx.size);
}

/*
 * After fsync or a remount, ask the filesystem itself (AT_STATX_FORCE_SYNC
 * makes FUSE refresh its cached attributes) for the size and the blocks.
 * Every 512-byte sector that holds a non-zero byte needs storage, so it is
 * a lower bound; the upper bound allows every range ever allocated, rounded
 * to 64 KiB, plus an eighth for the filesystem's own mapping blocks.
 */
static void check_blocks(const char *what)
{
	struct statx stx;
	off_t need = 0, limit, s;
	static const unsigned char zero[FSX_SECTOR];

	if (statx(fsx.fd, "", AT_EMPTY_PATH | AT_STATX_FORCE_SYNC,
		  STATX_SIZE | STATX_BLOCKS, &stx))
		finding("%s: statx: %s", what, strerror(errno));
	if ((off_t)stx.stx_size != fsx.size)
		finding("%s: the filesystem reports size 0x%jx, expected 0x%jx",
			what, (intmax_t)stx.stx_size, (intmax_t)fsx.size);
	for (s = 0; s < fsx.size; s += FSX_SECTOR) {
		off_t n = min_off(FSX_SECTOR, fsx.size - s);

		if (memcmp(fsx.good + s, zero, n))
			need += FSX_SECTOR;
	}
	limit = round_up(max_off(fsx.alloc_hi, fsx.size), 65536);
	limit += max_off(65536, limit / 8);
	if ((off_t)stx.stx_blocks * FSX_SECTOR < need)
		finding("%s: st_blocks %llu (%jd bytes) cannot hold the %jd bytes"
			" of non-zero sectors the file has", what,
			(unsigned long long)stx.stx_blocks,
			(intmax_t)stx.stx_blocks * FSX_SECTOR, (intmax_t)need);
	if ((off_t)stx.stx_blocks * FSX_SECTOR > limit)
		finding("%s: st_blocks %llu (%jd bytes) is more than the %jd bytes"
			" ever allocated to the file allow", what,
			(unsigned long long)stx.stx_blocks,
			(intmax_t)stx.stx_blocks * FSX_SECTOR, (intmax_t)limit);
}

/* ---- the log ---------------------------------------------------------- */

static struct fsx_log *log_op(enum fsx_op op, off_t off, off_t len)
{
	struct fsx_log *e = &fsx.log[fsx.nlog++ % FSX_LOG_LEN];

	memset(e, 0, sizeof(*e));
	e->n = fsx.opno;
	e->op = op;
	e->off = off;
	e->len = len;
	e->size0 = e->size1 = fsx.size;
	e->ret = -1;
	return e;
}

static void log_done(struct fsx_log *e)
{
	e->size1 = fsx.size;
	if (fsx.verbose)
		print_log_entry(stdout, e);
}

/* ---- choosing ranges -------------------------------------------------- */

/*
 * A range inside [0, limit), limit > 0: a third of the time the previous
 * operation's range (so that different access paths meet on the same
 * bytes), sometimes one near EOF, otherwise anywhere; lengths are short or
 * up to -o.  align > 1 rounds the start down and the length up.
 */
static void pick_range(off_t limit, off_t align, off_t *offp, off_t *lenp)
{
	off_t off, len;
	unsigned how = rnd_below(6);

	if (how < 2 && fsx.prev_len > 0 && fsx.prev_off < limit) {
		off = fsx.prev_off;
		len = fsx.prev_len;
	} else {
		if (how == 2)
			off = max_off(fsx.size - 4096 + rnd_below(8192), 0);
		else
			off = rnd_below(limit);
		/* near EOF but past the limit: near the limit instead */
		if (off >= limit)
			off = limit - 1 - rnd_below(min_off(limit, 4096));
		len = 1 + (rnd_below(4) ? rnd_below(fsx.maxop) : rnd_below(64));
	}
	if (align > 1) {
		off = round_down(off, align);
		len = round_up(len, align);
	}
	if (off + len > limit)
		len = limit - off;
	*offp = off;
	*lenp = len;
}

/* The alignment of a buffered or fallocate request: byte, sector or page. */
static off_t pick_align(void)
{
	switch (rnd_below(6)) {
	case 0:
	case 1:
		return 4096;
	case 2:
		return 512;
	default:
		return 1;
	}
}

static void remember(off_t off, off_t len)
{
	fsx.prev_off = off;
	fsx.prev_len = len;
}

/* An operation -N turns off when the filesystem does not support it. */
static bool unsupported(enum fsx_op op, int err, const char *what)
{
	if (!fsx.lenient || (err != EOPNOTSUPP && err != ENOSYS &&
			     err != EXDEV))
		return false;
	if (!fsx.disabled[op])
		printf("fsx: %s is not supported here (%s); turned off\n", what,
		       strerror(err));
	fsx.disabled[op] = true;
	return true;
}

/* ---- operations ------------------------------------------------------- */

static void op_write(void)
{
	off_t off, len, n;
	struct fsx_log *e;

	pick_range(fsx.maxlen, pick_align(), &off, &len);
	e = log_op(OP_WRITE, off, len);
	fill_data(fsx.wbuf, len);
	n = pwrite_full(fsx.fd, fsx.wbuf, len, off);
	if (n < 0)
		finding("pwrite 0x%jx+0x%jx: %s", (intmax_t)off, (intmax_t)len,
			strerror((int)-n));
	model_write(off, fsx.wbuf, len);
	log_done(e);
	verify_range(off, len, "read back after WRITE");
	remember(off, len);
}

static void op_read(void)
{
	off_t off, len, n, want;
	struct fsx_log *e;

	if (fsx.size == 0) {
		e = log_op(OP_READ, 0, 0);
		e->flags |= LOG_SKIPPED;
		log_done(e);
		return;
	}
	/* one read in eight may cross EOF */
	pick_range(rnd_below(8) ? fsx.size : fsx.maxlen, pick_align(), &off,
		   &len);
	e = log_op(OP_READ, off, len);
	n = pread_full(fsx.fd, fsx.rbuf, len, off);
	e->ret = n;
	log_done(e);
	if (n < 0)
		finding("pread 0x%jx+0x%jx: %s", (intmax_t)off, (intmax_t)len,
			strerror((int)-n));
	want = expected_count(off, len);
	if (n != want)
		finding("pread 0x%jx+0x%jx returned %jd bytes, expected %jd",
			(intmax_t)off, (intmax_t)len, (intmax_t)n, (intmax_t)want);
	compare(off, fsx.rbuf, n, "READ");
	remember(off, len);
}

/*
 * Map [off, off+len) of the file, page-aligned around it: through the
 * O_DIRECT descriptor when the first page's number is odd, as programs
 * that map what they opened with O_DIRECT do, else the buffered one.
 */
static unsigned char *map_range(off_t off, off_t len, int prot, off_t *pgp,
				size_t *maplenp)
{
	off_t pg = round_down(off, fsx.pagesize);
	size_t maplen = round_up(off + len, fsx.pagesize) - pg;
	int fd = (pg / fsx.pagesize) & 1 ? fsx.dfd : fsx.fd;
	void *p;

	p = mmap(NULL, maplen, prot, MAP_SHARED, fd, pg);
	if (p == MAP_FAILED)
		finding("mmap 0x%jx+0x%zx: %s", (intmax_t)pg, maplen,
			strerror(errno));
	*pgp = pg;
	*maplenp = maplen;
	return p;
}

static void op_mapwrite(void)
{
	off_t off, len, pg;
	size_t maplen;
	unsigned char *p;
	struct fsx_log *e;
	int sig;

	pick_range(fsx.maxlen, pick_align(), &off, &len);
	e = log_op(OP_MAPWRITE, off, len);
	/* a mapping cannot grow a file: grow it first, as applications do */
	if (off + len > fsx.size) {
		e->flags |= LOG_EXTENDED;
		if (ftruncate(fsx.fd, off + len))
			finding("ftruncate to 0x%jx before MAPWRITE: %s",
				(intmax_t)(off + len), strerror(errno));
		model_grow(off + len);
	}
	if (rnd_below(4) == 0)
		e->flags |= LOG_NO_MSYNC;
	fill_data(fsx.wbuf, len);
	p = map_range(off, len, PROT_READ | PROT_WRITE, &pg, &maplen);
	sig = sigsetjmp(fault_jmp, 1);
	if (sig) {
		fault_armed = 0;
		finding("signal %d (%s) writing to the mapping of 0x%jx+0x%jx",
			sig, strsignal(sig), (intmax_t)off, (intmax_t)len);
	}
	fault_armed = 1;
	memcpy(p + (off - pg), fsx.wbuf, len);
	fault_armed = 0;
	if (!(e->flags & LOG_NO_MSYNC) && msync(p, maplen, MS_SYNC))
		finding("msync 0x%jx+0x%zx: %s", (intmax_t)pg, maplen,
			strerror(errno));
	if (munmap(p, maplen))
		finding("munmap: %s", strerror(errno));
	model_write(off, fsx.wbuf, len);
	log_done(e);
	verify_range(off, len, "read back after MAPWRITE");
	remember(off, len);
}

/*
 * Read through a mapping.  The part of the last page beyond EOF must read
 * as zeros: stale bytes there are data leaking from past the file's end.
 */
static void op_mapread(void)
{
	off_t off, len, pg, end, i;
	size_t maplen;
	unsigned char *p;
	struct fsx_log *e;
	int sig;

	if (fsx.size == 0) {
		e = log_op(OP_MAPREAD, 0, 0);
		e->flags |= LOG_SKIPPED;
		log_done(e);
		return;
	}
	pick_range(fsx.size, pick_align(), &off, &len);
	e = log_op(OP_MAPREAD, off, len);
	log_done(e);
	p = map_range(off, len, PROT_READ, &pg, &maplen);
	end = min_off(pg + (off_t)maplen, round_up(fsx.size, fsx.pagesize));
	sig = sigsetjmp(fault_jmp, 1);
	if (sig) {
		fault_armed = 0;
		finding("signal %d (%s) reading the mapping of 0x%jx+0x%jx",
			sig, strsignal(sig), (intmax_t)pg, (intmax_t)maplen);
	}
	fault_armed = 1;
	memcpy(fsx.rbuf, p, end - pg);
	fault_armed = 0;
	if (munmap(p, maplen))
		finding("munmap: %s", strerror(errno));
	compare(off, fsx.rbuf + (off - pg), len, "MAPREAD");
	for (i = fsx.size; i < end; i++) {
		if (fsx.rbuf[i - pg])
			finding("MAPREAD: byte 0x%02x at 0x%jx, past EOF 0x%jx in"
				" the last page, is not zero",
				fsx.rbuf[i - pg], (intmax_t)i,
				(intmax_t)fsx.size);
	}
	remember(off, len);
}

/*
 * O_DIRECT ranges: half of them unaligned in offset, length and buffer
 * address, unless -N keeps them 4096-aligned (rule 4).
 */
static bool pick_direct(off_t limit, off_t *offp, off_t *lenp,
			unsigned *memoffp)
{
	bool unaligned = !fsx.lenient && rnd_below(2);

	pick_range(limit, unaligned ? 1 : FSX_DIO_ALIGN, offp, lenp);
	*memoffp = unaligned ? (unsigned)rnd_below(FSX_DIO_ALIGN) : 0;
	return unaligned && (*offp % FSX_DIO_ALIGN || *lenp % FSX_DIO_ALIGN ||
			     *memoffp);
}

static const char *einval_note(int err, bool unaligned)
{
	if (err == EINVAL && unaligned)
		return " (an unaligned O_DIRECT request on FUSE goes to the"
		       " daemon as it is, and must not be refused)";
	return "";
}

static void op_dwrite(void)
{
	off_t off, len;
	unsigned memoff;
	bool unaligned;
	ssize_t n;
	struct fsx_log *e;

	unaligned = pick_direct(fsx.maxlen, &off, &len, &memoff);
	e = log_op(OP_DWRITE, off, len);
	e->memoff = memoff;
	if (unaligned)
		e->flags |= LOG_UNALIGNED;
	fill_data(fsx.wbuf + memoff, len);
	do
		n = pwrite(fsx.dfd, fsx.wbuf + memoff, len, off);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int err = errno;

		finding("O_DIRECT pwrite 0x%jx+0x%jx from buf+%u: %s%s",
			(intmax_t)off, (intmax_t)len, memoff, strerror(err),
			einval_note(err, unaligned));
	}
	if (n != len)
		finding("O_DIRECT pwrite 0x%jx+0x%jx wrote %zd bytes",
			(intmax_t)off, (intmax_t)len, n);
	model_write(off, fsx.wbuf + memoff, len);
	log_done(e);
	verify_range(off, len, "buffered read back after DIRECT_WRITE");
	remember(off, len);
}

static void op_dread(void)
{
	off_t off, len, want;
	unsigned memoff;
	bool unaligned;
	ssize_t n;
	struct fsx_log *e;

	if (fsx.size == 0) {
		e = log_op(OP_DREAD, 0, 0);
		e->flags |= LOG_SKIPPED;
		log_done(e);
		return;
	}
	/* one in eight may cross EOF, where the read must come back short */
	unaligned = pick_direct(rnd_below(8) ? round_up(fsx.size, FSX_DIO_ALIGN)
				: fsx.maxlen, &off, &len, &memoff);
	e = log_op(OP_DREAD, off, len);
	e->memoff = memoff;
	if (unaligned)
		e->flags |= LOG_UNALIGNED;
	memset(fsx.rbuf + memoff, 0xa5, len);
	do
		n = pread(fsx.dfd, fsx.rbuf + memoff, len, off);
	while (n < 0 && errno == EINTR);
	e->ret = n;
	log_done(e);
	if (n < 0) {
		int err = errno;

		finding("O_DIRECT pread 0x%jx+0x%jx into buf+%u: %s%s",
			(intmax_t)off, (intmax_t)len, memoff, strerror(err),
			einval_note(err, unaligned));
	}
	want = expected_count(off, len);
	if (n != want)
		finding("O_DIRECT pread 0x%jx+0x%jx returned %zd bytes,"
			" expected %jd", (intmax_t)off, (intmax_t)len, n,
			(intmax_t)want);
	compare(off, fsx.rbuf + memoff, n, "DIRECT_READ");
	remember(off, len);
}

static void op_truncate(void)
{
	off_t size, old = fsx.size, lo;
	struct fsx_log *e;

	switch (rnd_below(4)) {
	case 0:
		size = old - 4096 + rnd_below(8192);
		break;
	case 1:
		size = round_down(rnd_below(fsx.maxlen + 1), 4096);
		break;
	default:
		size = rnd_below(fsx.maxlen + 1);
		break;
	}
	size = min_off(max_off(size, 0), fsx.maxlen);
	e = log_op(OP_TRUNCATE, 0, 0);
	e->off2 = size;
	if (ftruncate(fsx.fd, size))
		finding("ftruncate 0x%jx: %s", (intmax_t)size, strerror(errno));
	model_set_size(size);
	log_done(e);
	/* the bytes around both the old and the new EOF */
	lo = max_off(min_off(old, size) - 4096, 0);
	verify_range(lo, max_off(old, size) + 4096 - lo,
		     "read back after TRUNCATE");
}

static void op_fallocate(enum fsx_op op)
{
	off_t off, len;
	int mode;
	struct fsx_log *e;

	pick_range(fsx.maxlen, pick_align(), &off, &len);
	switch (op) {
	case OP_PUNCH:
		mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		break;
	case OP_ZERO:
		mode = FALLOC_FL_ZERO_RANGE;
		break;
	default:
		mode = 0;
		break;
	}
	if (op != OP_PUNCH && rnd_below(2))
		mode |= FALLOC_FL_KEEP_SIZE;
	e = log_op(op, off, len);
	if (op != OP_PUNCH && (mode & FALLOC_FL_KEEP_SIZE))
		e->flags |= LOG_KEEP_SIZE;
	if (fallocate(fsx.fd, mode, off, len)) {
		int err = errno;

		if (unsupported(op, err, op_name[op])) {
			e->flags |= LOG_SKIPPED;
			return;
		}
		finding("fallocate mode 0x%x 0x%jx+0x%jx: %s", mode,
			(intmax_t)off, (intmax_t)len, strerror(err));
	}
	if (op != OP_FALLOC)
		model_zero(off, len);
	if (op != OP_PUNCH) {
		fsx.alloc_hi = max_off(fsx.alloc_hi, off + len);
		if (!(mode & FALLOC_FL_KEEP_SIZE))
			model_grow(off + len);
	}
	log_done(e);
	verify_range(off, len, "read back after fallocate");
	remember(off, len);
}

/* Rule 6: collapse or insert whole blocks, where ext4 allows it. */
static void op_shift(enum fsx_op op)
{
	bool collapse = op == OP_COLLAPSE;
	int mode = collapse ? FALLOC_FL_COLLAPSE_RANGE : FALLOC_FL_INSERT_RANGE;
	off_t bs = fsx.blksize, blocks, most, off, len;
	struct fsx_log *e;

	if (collapse) {
		/* whole blocks that end before EOF */
		blocks = (fsx.size - 1) / bs;
		off = rnd_below(blocks) * bs;
		most = blocks - off / bs;
	} else {
		/* off before EOF; the file stays within -l */
		off = rnd_below((fsx.size + bs - 1) / bs) * bs;
		most = (fsx.maxlen - fsx.size) / bs;
	}
	most = min_off(most, max_off(fsx.maxop / bs, 1));
	len = (1 + rnd_below(most)) * bs;
	e = log_op(op, off, len);
	if (fsx.size < 1 || most < 1) {
		e->flags |= LOG_SKIPPED;
		log_done(e);
		return;
	}
	if (fallocate(fsx.fd, mode, off, len)) {
		int err = errno;

		if (unsupported(op, err, op_name[op])) {
			e->flags |= LOG_SKIPPED;
			return;
		}
		finding("fallocate mode 0x%x 0x%jx+0x%jx: %s", mode,
			(intmax_t)off, (intmax_t)len, strerror(err));
	}
	model_shift(collapse, off, len);
	log_done(e);
	verify_range(off, fsx.size - off, "read back after a shift");
	remember(off, len);
}

/*
 * copy_file_range inside the file, between ranges that do not overlap (the
 * kernel refuses overlapping ones).  A short count is allowed only at EOF;
 * the model copies what the call says it copied.
 */
static void op_copy(void)
{
	off_t src, dst, len, below, above, done = 0;
	struct fsx_log *e;

	if (fsx.size == 0) {
		e = log_op(OP_COPY, 0, 0);
		e->flags |= LOG_SKIPPED;
		log_done(e);
		return;
	}
	pick_range(fsx.size, pick_align(), &src, &len);
	/* dst from [0, src - len] or [src + len, maxlen - len] */
	for (;;) {
		below = max_off(src - len + 1, 0);
		above = max_off(fsx.maxlen - len - (src + len) + 1, 0);
		if (below + above)
			break;
		len = max_off(len / 2, 1);
	}
	dst = rnd_below(below + above);
	if (dst >= below)
		dst += src + len - below;
	/* page-aligned destinations half the time, where that still fits */
	if (rnd_below(2) && (round_down(dst, 4096) + len <= src ||
			     round_down(dst, 4096) >= src + len))
		dst = round_down(dst, 4096);
	e = log_op(OP_COPY, src, len);
	e->off2 = dst;
	while (done < len) {
		loff_t in = src + done, out = dst + done;
		off_t avail = expected_count(src + done, len - done);
		ssize_t n = copy_file_range(fsx.fd, &in, fsx.fd, &out,
					    len - done, 0);

		if (n < 0) {
			int err = errno;

			if (unsupported(OP_COPY, err, "copy_file_range")) {
				e->flags |= LOG_SKIPPED;
				return;
			}
			e->ret = done;
			finding("copy_file_range 0x%jx -> 0x%jx, 0x%jx bytes: %s",
				(intmax_t)(src + done), (intmax_t)(dst + done),
				(intmax_t)(len - done), strerror(err));
		}
		if (n > avail || (n == 0 && avail > 0)) {
			e->ret = done + n;
			finding("copy_file_range 0x%jx -> 0x%jx, 0x%jx bytes,"
				" copied %zd with %jd bytes before EOF",
				(intmax_t)(src + done), (intmax_t)(dst + done),
				(intmax_t)(len - done), n, (intmax_t)avail);
		}
		if (n == 0)
			break;
		memcpy(fsx.wbuf, fsx.good + src + done, n);
		model_write(dst + done, fsx.wbuf, n);
		done += n;
	}
	e->ret = done;
	log_done(e);
	if (done)
		verify_range(dst, done, "read back after COPY_RANGE");
	remember(dst, max_off(done, 1));
}

static void op_fsync(void)
{
	struct fsx_log *e = log_op(OP_FSYNC, 0, 0);
	int fd = fsx.fd, rc;

	if (rnd_below(2))
		e->flags |= LOG_DATASYNC;
	if (rnd_below(4) == 0) {
		e->flags |= LOG_DIRECT_FD;
		fd = fsx.dfd;
	}
	log_done(e);
	rc = e->flags & LOG_DATASYNC ? fdatasync(fd) : fsync(fd);
	if (rc)
		finding("%s: %s", e->flags & LOG_DATASYNC ? "fdatasync" : "fsync",
			strerror(errno));
	check_blocks("after fsync");
}

/* ---- whole-file checks and remounts -------------------------------- */

static void open_file(int flags)
{
	fsx.fd = open(fsx.path, O_RDWR | flags, 0644);
	if (fsx.fd < 0) {
		if (flags & O_CREAT)
			setup_failed("%s: %s", fsx.path, strerror(errno));
		finding("reopening %s: %s", fsx.path, strerror(errno));
	}
	fsx.dfd = open(fsx.path, O_RDWR | O_DIRECT);
	if (fsx.dfd < 0)
		finding("opening %s with O_DIRECT: %s", fsx.path, strerror(errno));
	if (!fsx.blksize) {
		struct stat st;

		if (fstat(fsx.fd, &st) || st.st_blksize <= 0 ||
		    fsx.maxlen % st.st_blksize)
			setup_failed("%s: no block size that divides -l",
				     fsx.path);
		fsx.blksize = st.st_blksize;
	}
}

/*
 * The whole file, with O_DIRECT (what the filesystem holds) and through
 * the page cache; every other time the cache is emptied first, so the
 * buffered read also goes to the filesystem, by the page.
 */
static void check_all(const char *what)
{
	off_t n, len = round_up(fsx.size, FSX_DIO_ALIGN);
	struct fsx_log *e = log_op(OP_CHECK, 0, fsx.size);

	log_done(e);
	check_size(what);
	if (len) {
		n = pread(fsx.dfd, fsx.rbuf, len, 0);
		if (n < 0)
			finding("%s: O_DIRECT read of the whole file: %s", what,
				strerror(errno));
		if (n != fsx.size)
			finding("%s: O_DIRECT read of the whole file returned %jd"
				" bytes, expected %jd", what, (intmax_t)n,
				(intmax_t)fsx.size);
		compare(0, fsx.rbuf, n, what);
	}
	if (fsx.full_checks++ % 2) {
		int err = posix_fadvise(fsx.fd, 0, 0, POSIX_FADV_DONTNEED);

		if (err)
			finding("%s: posix_fadvise DONTNEED: %s", what,
				strerror(err));
	}
	verify_range(0, fsx.maxlen, what);
}

static void remount(void)
{
	struct fsx_log *e = log_op(OP_REMOUNT, 0, 0);
	int status;

	log_done(e);
	if (close(fsx.dfd) || close(fsx.fd))
		finding("close before remount: %s", strerror(errno));
	fflush(stdout);
	status = system(fsx.remount);
	if (status == -1)
		finding("running the remount command: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		finding("the remount command `%s' failed (wait status 0x%x)",
			fsx.remount, status);
	open_file(0);
	fsx.remounts++;
	check_all("whole file after remount");
	check_blocks("after remount");
}

/* ---- main ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
"usage: fsx [-n OPS] [-S SEED] [-l MAXLEN] [-o MAXOP] [-c CHECK] [-R REMOUNT]\n"
"           [-N] [-M] [-C] [-I] [-v] FILE [REMOUNT_CMD]\n"
"  -n OPS      operations to run (default 10000)\n"
"  -S SEED     seed of the operations and data (default: from the clock)\n"
"  -l MAXLEN   largest file size, a multiple of 4096 (default 262144)\n"
"  -o MAXOP    largest single operation (default 65536, at most MAXLEN)\n"
"  -c CHECK    compare the whole file every CHECK operations (default 100)\n"
"  -R REMOUNT  run REMOUNT_CMD every REMOUNT operations (default 1000)\n"
"  -N          not a FUSE file: skip unsupported operations, keep O_DIRECT\n"
"              aligned\n"
"  -M          no shared mappings (for diofs mounted with -o direct_io)\n"
"  -C          also collapse ranges (FALLOC_FL_COLLAPSE_RANGE)\n"
"  -I          also insert ranges (FALLOC_FL_INSERT_RANGE)\n"
"  -v          print every operation\n"
"REMOUNT_CMD is run with system(3) while FILE is closed; it must unmount and\n"
"mount the filesystem again.  It is also run once at the end.\n");
}

static long long parse_num(const char *s, long long lo, long long hi,
			   const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "fsx: bad %s: %s\n", what, s);
		usage(stderr);
		exit(2);
	}
	return v;
}

static void parse_args(int argc, char **argv)
{
	int c;
	bool seeded = false;

	fsx.nops = 10000;
	fsx.maxlen = 256 * 1024;
	fsx.maxop = 64 * 1024;
	fsx.check_every = 100;
	fsx.remount_every = 1000;
	while ((c = getopt(argc, argv, "n:S:l:o:c:R:NMCIvh")) != -1) {
		switch (c) {
		case 'n':
			fsx.nops = parse_num(optarg, 0, LONG_MAX, "-n");
			break;
		case 'S':
			fsx.seed = parse_num(optarg, 0, LLONG_MAX, "-S");
			seeded = true;
			break;
		case 'l':
			fsx.maxlen = parse_num(optarg, 4 * FSX_DIO_ALIGN,
					       1LL << 30, "-l");
			break;
		case 'o':
			fsx.maxop = parse_num(optarg, 1, 1LL << 30, "-o");
			break;
		case 'c':
			fsx.check_every = parse_num(optarg, 1, LONG_MAX, "-c");
			break;
		case 'R':
			fsx.remount_every = parse_num(optarg, 1, LONG_MAX, "-R");
			break;
		case 'N':
			fsx.lenient = true;
			break;
		case 'M':
			fsx.no_mmap = true;
			break;
		case 'C':
			fsx.collapse = true;
			break;
		case 'I':
			fsx.insert = true;
			break;
		case 'v':
			fsx.verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind >= argc || argc - optind > 2) {
		usage(stderr);
		exit(2);
	}
	if (fsx.maxlen % FSX_DIO_ALIGN)
		setup_failed("-l %jd is not a multiple of %d",
			     (intmax_t)fsx.maxlen, FSX_DIO_ALIGN);
	fsx.maxop = min_off(fsx.maxop, fsx.maxlen);
	fsx.path = argv[optind];
	fsx.remount = argc - optind == 2 ? argv[optind + 1] : NULL;
	if (!seeded)
		fsx.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	fsx.rng = fsx.seed;
	fsx.disabled[OP_MAPWRITE] = fsx.disabled[OP_MAPREAD] = fsx.no_mmap;
	fsx.disabled[OP_COLLAPSE] = !fsx.collapse;
	fsx.disabled[OP_INSERT] = !fsx.insert;
}

static enum fsx_op pick_op(void)
{
	unsigned total = 0, r, i;

	for (i = 0; i < OP_NR; i++)
		total += fsx.disabled[i] ? 0 : op_weight[i];
	r = rnd_below(total);
	for (i = 0; i < OP_NR; i++) {
		if (fsx.disabled[i])
			continue;
		if (r < op_weight[i])
			break;
		r -= op_weight[i];
	}
	return i;
}

static void run_op(enum fsx_op op)
{
	switch (op) {
	case OP_WRITE:
		op_write();
		break;
	case OP_READ:
		op_read();
		break;
	case OP_MAPWRITE:
		op_mapwrite();
		break;
	case OP_MAPREAD:
		op_mapread();
		break;
	case OP_DWRITE:
		op_dwrite();
		break;
	case OP_DREAD:
		op_dread();
		break;
	case OP_TRUNCATE:
		op_truncate();
		break;
	case OP_PUNCH:
	case OP_ZERO:
	case OP_FALLOC:
		op_fallocate(op);
		break;
	case OP_COPY:
		op_copy();
		break;
	case OP_COLLAPSE:
	case OP_INSERT:
		op_shift(op);
		break;
	default:
		op_fsync();
		break;
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	struct statfs sfs;
	long i;

	parse_args(argc, argv);
	fsx.pagesize = sysconf(_SC_PAGESIZE);
	/* room for a whole-file read and for O_DIRECT buffer misalignment */
	fsx.bufsize = fsx.maxlen + 2 * FSX_DIO_ALIGN;
	fsx.good = calloc(fsx.maxlen, 1);
	fsx.who = calloc(fsx.maxlen, sizeof(*fsx.who));
	if (!fsx.good || !fsx.who ||
	    posix_memalign((void **)&fsx.wbuf, FSX_DIO_ALIGN, fsx.bufsize) ||
	    posix_memalign((void **)&fsx.rbuf, FSX_DIO_ALIGN, fsx.bufsize))
		setup_failed("out of memory for -l %jd", (intmax_t)fsx.maxlen);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);

	printf("fsx: %s: %ld operations, seed %" PRIu64 ", -l %jd -o %jd%s%s\n",
	       fsx.path, fsx.nops, fsx.seed, (intmax_t)fsx.maxlen,
	       (intmax_t)fsx.maxop, mode_flags(),
	       fsx.remount ? ", remounting" : "");
	open_file(O_CREAT | O_TRUNC);
	if (!fsx.lenient && fstatfs(fsx.fd, &sfs) == 0 &&
	    sfs.f_type != FUSE_SUPER_MAGIC)
		printf("fsx: %s is not on a FUSE filesystem: without -N, expect"
		       " unaligned O_DIRECT to be refused\n", fsx.path);
	for (i = 1; i <= fsx.nops; i++) {
		enum fsx_op op = pick_op();

		fsx.opno = i;
		run_op(op);
		/* an operation -N just turned off did not run */
		if (!fsx.disabled[op])
			fsx.done[op]++;
		check_size(op_name[op]);
		if (i % fsx.check_every == 0)
			check_all("whole file");
		if (fsx.remount && i % fsx.remount_every == 0 && i < fsx.nops)
			remount();
	}
	if (fsx.remount) {
		remount();
	} else {
		check_all("whole file at the end");
		if (fsync(fsx.fd))
			finding("fsync at the end: %s", strerror(errno));
		check_blocks("at the end");
	}
	printf("fsx: all %ld operations passed (%ld whole-file checks, %ld"
	       " remounts):", fsx.nops, fsx.full_checks, fsx.remounts);
	for (i = 0; i < OP_NR; i++)
		printf(" %s %ld", op_name[i], fsx.done[i]);
	printf("\n");
	close(fsx.dfd);
	close(fsx.fd);
	return 0;
}
