/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dio-bench: the direct-I/O worker alone against a block device, next to fio.
 *
 * It drives the worker on a file that is the device itself (file block n is
 * device block n, one mapped extent, 4 KiB fs blocks) with the four data
 * workloads of the benchmark protocol: 1 MiB sequential write and read at
 * queue depth 8, 4 KiB random read and write at queue depth 32.  After each
 * engine run fio runs the same workload on the raw device at the same queue
 * depth, so both see the same device in the same state.  The figures are
 * medians of several runs; the last line gives engine/raw per workload.
 *
 * Rules:
 *  1. The device is overwritten, so it is never a default: it must be named,
 *     it must be a block device, it must not be mounted or used as swap,
 *     and one holding a filesystem or partition table that libblkid
 *     recognises is refused unless --force.  The device stays open with
 *     O_EXCL (bdev_open) for the whole run, so nobody can mount it meanwhile.
 *  2. By default the queue depth is reached the way fio reaches it: one
 *     thread with one dio_ctx of the workload's queue depth keeps that many
 *     transfers in flight with dio_submit() and collects them with
 *     dio_reap().  Each slot has its own buffer and iovec, which belong to
 *     its transfer until done has run; done only records the result, since
 *     it must not call into the ctx, and the loop counts it and resubmits
 *     the slot once dio_reap() has returned.  --threads instead reaches it
 *     the way the daemon does: one thread and dio_ctx per request in flight,
 *     each doing one synchronous dio_rw() at a time.
 *  3. Buffers are aligned, so the worker's zero-copy path is what the ratios
 *     measure.  The buffer-at-+1 lines exercise the staging path, in the
 *     same engine mode, and are information only.
 *  4. The region is written once before anything is measured: on a sparse
 *     image, reads of never-written space and first writes cost differently
 *     from later ones, and must not favour whichever side runs second.  The
 *     prefill is not measured, so it always takes the asynchronous mode.
 *  5. The engine and fio alternate run by run, so drift in the device (host
 *     caches, thermal, other load) spreads over both.
 *  6. Every transfer moves all of its bytes or the run fails: a short or
 *     failed one stops submission, and the run ends with its error once
 *     everything still in flight has completed.
 *  7. "cpu" is the CPU time of the submitting threads only (the one thread,
 *     or all of them with --threads), set against fio's job thread, which
 *     --thread keeps in fio's own process.
 */
#include <blkid/blkid.h>
#include <errno.h>
#include <getopt.h>
#include <libmount/libmount.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "diofs/bdev.h"
#include "diofs/dio.h"

#define MIB			(1024.0 * 1024.0)
#define BENCH_BLKBITS		12	/* 4 KiB fs blocks */
#define BENCH_DEFAULT_CAP	(4ULL << 30)
#define BENCH_SEQ_BS		(1U << 20)
#define BENCH_RAND_BS		4096U
#define BENCH_SEQ_DEPTH		8U
#define BENCH_RAND_DEPTH	32U
/* The region holds a sequential queue's worth of requests, so that the
 * sequential transfers in flight together never overlap. */
#define BENCH_REGION_ALIGN	((uint64_t)BENCH_SEQ_BS * BENCH_SEQ_DEPTH)

struct workload {
	const char *name;
	enum dio_dir dir;
	bool random;
	unsigned bs;		/* bytes per request */
	unsigned depth;		/* requests in flight */
	const char *fio_rw;
};

static const struct workload workloads[] = {
	{ "seqwrite",  DIO_WRITE, false, BENCH_SEQ_BS,  BENCH_SEQ_DEPTH,  "write" },
	{ "seqread",   DIO_READ,  false, BENCH_SEQ_BS,  BENCH_SEQ_DEPTH,  "read" },
	{ "randread",  DIO_READ,  true,  BENCH_RAND_BS, BENCH_RAND_DEPTH, "randread" },
	{ "randwrite", DIO_WRITE, true,  BENCH_RAND_BS, BENCH_RAND_DEPTH, "randwrite" },
};
#define NWORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

/* How the engine reaches the queue depth (rule 2). */
enum engine_mode {
	ENGINE_ASYNC,		/* one thread: dio_submit() and dio_reap() */
	ENGINE_THREADS,		/* --threads: one dio_rw() thread per request */
};

struct bench {
	const char *path;
	unsigned runtime;	/* seconds per run */
	unsigned repeat;
	bool force;
	enum engine_mode mode;
	uint64_t size_opt;	/* --size, 0: not given */
	struct bdev *bdev;
	uint64_t dev_size;
	uint64_t region;	/* bytes at the start of the device in use */
	struct dio_file file;
};

/* One figure of one run. */
struct sample {
	double bytes_per_s;
	double iops;
	double cpu_us;		/* CPU time (user + system) per request */
};

/* One engine run: what its submitting thread or threads share. */
struct engine_run {
	struct bench *b;
	const struct workload *wl;
	unsigned misalign;	/* buffer offset from 4 KiB alignment */
	uint64_t limit;		/* sequential requests to do; 0: until stop */
	atomic_uint_fast64_t seq_next;	/* next sequential request index */
	/* What the run did, from its first submission to its last completion. */
	uint64_t bytes;
	double cpu;		/* seconds of CPU of the submitting threads */
	double seconds;
	/* --threads: the start gate.  Workers set up, count in, and wait for
	 * go; stop ends the run. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ready;
	bool go;
	atomic_bool stop;
};

/* One request in flight of the asynchronous mode. */
struct slot {
	enum { SLOT_FREE, SLOT_BUSY, SLOT_DONE } state;
	ssize_t result;		/* the transfer's, once SLOT_DONE */
	struct iovec iov;	/* the transfer's until done has run */
	void *mem;
};

/* One thread of --threads. */
struct worker {
	struct engine_run *run;
	pthread_t tid;
	uint64_t rng;
	uint64_t bytes;
	double cpu;		/* seconds of CPU between the gate and the end */
	int err;
};

/* ---- the identity file -------------------------------------------------- */

static int ident_get_block(struct dio_file *f, uint64_t lblk, uint64_t max,
			   int create, struct dio_map *map)
{
	const struct bench *b = f->priv;
	uint64_t nblocks = b->dev_size >> BENCH_BLKBITS;

	if (lblk >= nblocks)
		return -ENOSPC;
	*map = (struct dio_map){
		.type = DIO_MAP_MAPPED,
		.lblk = lblk,
		.len = nblocks - lblk < max ? nblocks - lblk : max,
		.pblk = lblk,
	};
	return 0;
}

/* Every block is mapped from the start: nothing is ever unwritten. */
static int ident_convert(struct dio_file *f, uint64_t lblk, uint64_t len)
{
	return -EINVAL;
}

/* The file may grow up to the device, never past it. */
static int ident_set_size(struct dio_file *f, uint64_t size)
{
	const struct bench *b = f->priv;

	return size <= b->dev_size ? 0 : -EFBIG;
}

static const struct dio_file_ops ident_ops = {
	.get_block = ident_get_block,
	.convert = ident_convert,
	.set_size = ident_set_size,
};

/* ---- safety checks (rule 1) --------------------------------------------- */

/* Is rdev mounted or an active swap area?  Returns 1, 0 or -errno. */
static int dev_in_use(dev_t rdev, const char **what)
{
	struct libmnt_table *tb;
	struct libmnt_iter *it;
	struct libmnt_fs *fs;
	int ret = -ENOMEM;

	it = mnt_new_iter(MNT_ITER_FORWARD);
	if (!it)
		return -ENOMEM;

	tb = mnt_new_table_from_file("/proc/self/mountinfo");
	if (!tb)
		goto out_iter;
	ret = 0;
	while (!ret && mnt_table_next_fs(tb, it, &fs) == 0)
		if (mnt_fs_get_devno(fs) == rdev) {
			*what = "mounted";
			ret = 1;
		}
	mnt_unref_table(tb);
	if (ret)
		goto out_iter;

	/* Swap areas have no mountinfo entry: match /proc/swaps by rdev. */
	tb = mnt_new_table();
	if (!tb) {
		ret = -ENOMEM;
		goto out_iter;
	}
	mnt_reset_iter(it, MNT_ITER_FORWARD);
	if (mnt_table_parse_swaps(tb, NULL) == 0) {
		while (!ret && mnt_table_next_fs(tb, it, &fs) == 0) {
			const char *src = mnt_fs_get_source(fs);
			struct stat st;

			if (src && !stat(src, &st) && S_ISBLK(st.st_mode) &&
			    st.st_rdev == rdev) {
				*what = "in use as swap";
				ret = 1;
			}
		}
	}
	mnt_unref_table(tb);
out_iter:
	mnt_free_iter(it);
	return ret;
}

/*
 * What libblkid recognises on the device ("ext4", "gpt", ...) into buf.
 * Returns 1 if something, 0 if nothing, -1 if the probe failed.
 */
static int dev_contents(const char *path, char *buf, size_t len)
{
	blkid_probe pr = blkid_new_probe_from_filename(path);
	const char *val;
	int ret;

	if (!pr)
		return -1;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);

	ret = blkid_do_safeprobe(pr);
	if (ret == 0) {
		if (!blkid_probe_lookup_value(pr, "TYPE", &val, NULL))
			snprintf(buf, len, "a filesystem (%s)", val);
		else if (!blkid_probe_lookup_value(pr, "PTTYPE", &val, NULL))
			snprintf(buf, len, "a partition table (%s)", val);
		else
			snprintf(buf, len, "a recognisable signature");
		ret = 1;
	} else if (ret == -2) {
		snprintf(buf, len, "more than one signature");
		ret = 1;
	} else if (ret == 1) {
		ret = 0;
	} else {
		ret = -1;
	}
	blkid_free_probe(pr);
	return ret;
}

static int check_device(const struct bench *b)
{
	const char *what = NULL;
	char found[128];
	struct stat st;
	int ret;

	if (stat(b->path, &st)) {
		fprintf(stderr, "dio-bench: %s: %s\n", b->path, strerror(errno));
		return -1;
	}
	if (!S_ISBLK(st.st_mode)) {
		fprintf(stderr, "dio-bench: %s is not a block device\n",
			b->path);
		return -1;
	}
	ret = dev_in_use(st.st_rdev, &what);
	if (ret < 0) {
		fprintf(stderr, "dio-bench: cannot read the mount table: %s\n",
			strerror(-ret));
		return -1;
	}
	if (ret) {
		/* --force does not cover this: the data would be destroyed
		 * under a live filesystem or swap area. */
		fprintf(stderr, "dio-bench: %s is %s; refusing to overwrite it\n",
			b->path, what);
		return -1;
	}
	ret = dev_contents(b->path, found, sizeof(found));
	if (ret < 0) {
		fprintf(stderr, "dio-bench: %s: cannot probe its contents\n",
			b->path);
		return -1;
	}
	if (ret && !b->force) {
		fprintf(stderr,
			"dio-bench: %s holds %s; it would be overwritten "
			"(use --force to do it anyway)\n", b->path, found);
		return -1;
	}
	return 0;
}

/* ---- engine runs -------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* A seed for the i-th stream of a run; xorshift needs one other than 0. */
static uint64_t rng_seed(unsigned i)
{
	return (0x9e3779b97f4a7c15ULL * (i + 1) ^ (uint64_t)(now() * 1e9)) | 1;
}

/*
 * One request's buffer: bs bytes at misalign past 4 KiB alignment, filled
 * with data that no layer could compress or skip.  Returns 0 or -ENOMEM.
 */
static int buf_alloc(const struct engine_run *run, uint64_t seed, void **mem,
		     struct iovec *iov)
{
	size_t len = (size_t)run->wl->bs + 4096;

	if (posix_memalign(mem, 4096, len)) {
		*mem = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t v = xorshift64(&seed);

		memcpy((char *)*mem + i, &v, 8);
	}
	iov->iov_base = (char *)*mem + run->misalign;
	iov->iov_len = run->wl->bs;
	return 0;
}

/* The next request's offset; false when a limited run is done. */
static bool next_offset(struct engine_run *run, uint64_t *rng, uint64_t *off)
{
	uint64_t region = run->b->region, bs = run->wl->bs;
	uint64_t i;

	if (run->wl->random) {
		*off = xorshift64(rng) % (region / bs) * bs;
		return true;
	}
	i = atomic_fetch_add_explicit(&run->seq_next, 1, memory_order_relaxed);
	*off = i * bs % region;
	return !run->limit || i < run->limit;
}

/* dio.h rule 1: done must not call into the ctx, so it only records; the
 * submitting loop counts the result and reuses the slot. */
static void slot_done(void *priv, ssize_t result)
{
	struct slot *s = priv;

	s->result = result;
	s->state = SLOT_DONE;
}

/*
 * Rule 2, the default: this thread keeps wl->depth transfers in flight on
 * one dio_ctx for seconds (0: until run->limit requests), then lets those
 * in flight finish.  Returns 0 or -errno.
 */
static int engine_async(struct engine_run *run, double seconds)
{
	const struct workload *wl = run->wl;
	struct dio_params params = { .queue_depth = wl->depth };
	struct dio_ctx *ctx;
	struct slot *slots;
	uint64_t rng = rng_seed(0);
	double t0, cpu0;
	bool stopping = false;
	unsigned i;
	int err;

	slots = calloc(wl->depth, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	/* Set up before the clocks start, so that setup is not measured. */
	for (i = 0; i < wl->depth; i++) {
		err = buf_alloc(run, rng_seed(i + 1), &slots[i].mem,
				&slots[i].iov);
		if (err)
			goto out_slots;
	}
	err = dio_ctx_create(run->b->bdev, &params, &ctx);
	if (err)
		goto out_slots;

	cpu0 = cpu_seconds(RUSAGE_THREAD);
	t0 = now();
	for (;;) {
		int n;

		for (i = 0; i < wl->depth; i++) {
			struct slot *s = &slots[i];
			uint64_t off;

			if (s->state == SLOT_BUSY)
				continue;
			if (s->state == SLOT_DONE) {
				s->state = SLOT_FREE;
				if (s->result == (ssize_t)wl->bs) {
					run->bytes += s->result;
				} else {
					/* Rule 6. */
					if (!err)
						err = s->result < 0 ?
						      (int)s->result : -EIO;
					stopping = true;
				}
			}
			if (stopping || !next_offset(run, &rng, &off)) {
				stopping = true;
				continue;
			}
			s->state = SLOT_BUSY;
			dio_submit(ctx, &run->b->file, wl->dir, off, &s->iov, 1,
				   slot_done, s);
		}
		if (!dio_ctx_pending(ctx))
			break;
		n = dio_reap(ctx, 1);
		if (n < 0) {
			if (!err)
				err = n;
			break;
		}
		if (seconds && now() - t0 >= seconds)
			stopping = true;
	}
	run->seconds = now() - t0;
	run->cpu = cpu_seconds(RUSAGE_THREAD) - cpu0;
	/* After a failed reap, this completes what is still in flight (and
	 * runs its done) before the buffers go. */
	dio_ctx_destroy(ctx);
out_slots:
	for (i = 0; i < wl->depth; i++)
		free(slots[i].mem);
	free(slots);
	return err;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct engine_run *run = w->run;
	/* The worker's default queue depth, as each daemon thread has. */
	struct dio_params params = { 0 };
	struct dio_ctx *ctx = NULL;
	void *mem = NULL;
	struct iovec iov;

	/* Set up before the gate, so that setup is not measured; a failed
	 * thread still counts in, so that nobody waits for it. */
	w->err = dio_ctx_create(run->b->bdev, &params, &ctx);
	if (!w->err)
		w->err = buf_alloc(run, w->rng, &mem, &iov);

	pthread_mutex_lock(&run->lock);
	run->ready++;
	pthread_cond_broadcast(&run->cond);
	while (!run->go)
		pthread_cond_wait(&run->cond, &run->lock);
	pthread_mutex_unlock(&run->lock);

	w->cpu = cpu_seconds(RUSAGE_THREAD);
	while (!w->err && !atomic_load_explicit(&run->stop,
						memory_order_relaxed)) {
		uint64_t off;
		ssize_t n;

		if (!next_offset(run, &w->rng, &off))
			break;
		n = dio_rw(ctx, &run->b->file, run->wl->dir, off, &iov, 1);
		if (n != (ssize_t)run->wl->bs) {
			/* Rule 6. */
			w->err = n < 0 ? (int)n : -EIO;
			atomic_store(&run->stop, true);
			break;
		}
		w->bytes += n;
	}
	w->cpu = cpu_seconds(RUSAGE_THREAD) - w->cpu;
	free(mem);
	dio_ctx_destroy(ctx);
	return NULL;
}

static void sleep_for(double seconds)
{
	struct timespec ts = {
		.tv_sec = (time_t)seconds,
		.tv_nsec = (long)((seconds - (time_t)seconds) * 1e9),
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

/*
 * Rule 2, --threads: one thread and dio_ctx per request in flight for
 * seconds (0: until run->limit requests).  Returns 0 or -errno.
 */
static int engine_threads(struct engine_run *run, double seconds)
{
	unsigned nthreads = run->wl->depth, started;
	struct worker *w;
	double t0;
	int err = 0;

	w = calloc(nthreads, sizeof(*w));
	if (!w)
		return -ENOMEM;

	for (started = 0; started < nthreads; started++) {
		w[started].run = run;
		w[started].rng = rng_seed(started);
		err = -pthread_create(&w[started].tid, NULL, worker_main,
				      &w[started]);
		if (err)
			break;
	}
	pthread_mutex_lock(&run->lock);
	while (run->ready < started)
		pthread_cond_wait(&run->cond, &run->lock);
	for (unsigned i = 0; i < started; i++)
		if (w[i].err && !err)
			err = w[i].err;
	if (err)
		atomic_store(&run->stop, true);
	run->go = true;
	pthread_cond_broadcast(&run->cond);
	pthread_mutex_unlock(&run->lock);

	t0 = now();
	if (!err && seconds) {
		sleep_for(seconds);
		atomic_store(&run->stop, true);
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		run->bytes += w[i].bytes;
		run->cpu += w[i].cpu;
		if (w[i].err && !err)
			err = w[i].err;
	}
	run->seconds = now() - t0;
	free(w);
	return err;
}

/*
 * Run wl on the engine in mode for seconds, or (seconds 0) for one
 * sequential pass over the region: the prefill.  Returns 0 or -errno.
 */
static int engine_run(struct bench *b, const struct workload *wl,
		      enum engine_mode mode, unsigned misalign, double seconds,
		      struct sample *out)
{
	struct engine_run run = {
		.b = b, .wl = wl, .misalign = misalign,
		.limit = seconds ? 0 : b->region / wl->bs,
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.cond = PTHREAD_COND_INITIALIZER,
	};
	uint64_t requests;
	int err;

	atomic_init(&run.seq_next, 0);
	atomic_init(&run.stop, false);
	err = mode == ENGINE_THREADS ? engine_threads(&run, seconds) :
				       engine_async(&run, seconds);
	if (err)
		return err;
	requests = run.bytes / wl->bs;
	out->bytes_per_s = run.bytes / run.seconds;
	out->iops = requests / run.seconds;
	out->cpu_us = requests ? run.cpu * 1e6 / requests : 0;
	return 0;
}

/* ---- fio on the raw device ---------------------------------------------- */

/* Read all of fd into a NUL-terminated string. */
static char *slurp(int fd)
{
	size_t len = 0, cap = 65536;
	char *s = malloc(cap);

	while (s) {
		ssize_t n;

		if (len + 1 == cap) {
			char *t = realloc(s, cap *= 2);

			if (!t) {
				free(s);
				return NULL;
			}
			s = t;
		}
		n = read(fd, s + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	if (s)
		s[len] = '\0';
	return s;
}

/* After "key" <ws> : <ws> in s, or NULL: just enough JSON for fio's. */
static const char *json_after_key(const char *s, const char *key)
{
	size_t klen = strlen(key);

	while ((s = strchr(s, '"'))) {
		const char *p = s + 1;

		if (!strncmp(p, key, klen) && p[klen] == '"') {
			p += klen + 1;
			p += strspn(p, " \t\r\n");
			if (*p == ':')
				return p + 1 + strspn(p + 1, " \t\r\n");
		}
		s = p;
	}
	return NULL;
}

static int json_number(const char *s, const char *key, double *out)
{
	const char *p = json_after_key(s, key);
	char *end;

	if (!p)
		return -1;
	*out = strtod(p, &end);
	return end == p ? -1 : 0;
}

/*
 * The first job's figures for its direction:
 *   "jobs" : [ { ..., "error" : 0, ..., "read" : { "io_bytes", "io_kbytes",
 *   "bw_bytes", "bw", "iops", ... }, ..., "job_runtime" (ms), "usr_cpu",
 *   "sys_cpu" (percent of job_runtime), ... } ]
 * With --thread, the CPU figures are the job thread's own, as the engine's
 * are its worker threads' own.
 */
static int fio_parse(const char *json, const char *dir, unsigned bs,
		     struct sample *out)
{
	const char *job = json_after_key(json, "jobs");
	const char *p;
	double err, io_bytes, runtime_ms, usr, sys;

	if (!job || json_number(job, "error", &err) || err != 0)
		return -1;
	p = json_after_key(job, dir);
	if (!p || *p != '{')
		return -1;
	if (json_number(p, "io_bytes", &io_bytes) ||
	    json_number(p, "bw_bytes", &out->bytes_per_s) ||
	    json_number(p, "iops", &out->iops) ||
	    json_number(job, "job_runtime", &runtime_ms) ||
	    json_number(job, "usr_cpu", &usr) ||
	    json_number(job, "sys_cpu", &sys))
		return -1;
	out->cpu_us = io_bytes >= bs ? (usr + sys) / 100 * runtime_ms * 1e3 /
				       (io_bytes / bs) : 0;
	return 0;
}

static int fio_run(const struct bench *b, const struct workload *wl,
		   struct sample *out)
{
	char filename[4200], iodepth[32], rw[32], bs[32], size[48], runtime[32];
	char *argv[] = {
		/* --thread: one process, so that the parent-death signal
		 * stops all of it. */
		"fio", "--name=raw", "--thread", filename, "--direct=1",
		"--ioengine=libaio", iodepth, rw, bs, size, "--offset=0",
		"--time_based", runtime, "--norandommap", "--randrepeat=0",
		"--output-format=json", NULL,
	};
	pid_t parent = getpid(), pid;
	int pipefd[2], status;
	char *json;
	int ret = -1;

	/* fio treats ':' in a filename as a separator of several files. */
	if (strchr(b->path, ':')) {
		fprintf(stderr, "dio-bench: fio cannot take a path with ':'\n");
		return -1;
	}
	snprintf(filename, sizeof(filename), "--filename=%s", b->path);
	snprintf(iodepth, sizeof(iodepth), "--iodepth=%u", wl->depth);
	snprintf(rw, sizeof(rw), "--rw=%s", wl->fio_rw);
	snprintf(bs, sizeof(bs), "--bs=%u", wl->bs);
	snprintf(size, sizeof(size), "--size=%llu",
		 (unsigned long long)b->region);
	snprintf(runtime, sizeof(runtime), "--runtime=%u", b->runtime);

	if (pipe(pipefd)) {
		perror("dio-bench: pipe");
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("dio-bench: fork");
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		/* fio must not go on writing the device if we are gone. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		dup2(pipefd[1], STDOUT_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		execvp("fio", argv);
		fprintf(stderr, "dio-bench: cannot run fio: %s\n",
			strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	json = slurp(pipefd[0]);
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "dio-bench: fio failed (%s %d)\n",
			WIFEXITED(status) ? "exit status" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) :
					    WTERMSIG(status));
	} else if (!json || fio_parse(json, wl->dir == DIO_READ ?
				      "read" : "write", wl->bs, out)) {
		fprintf(stderr, "dio-bench: cannot read fio's JSON output\n");
	} else {
		ret = 0;
	}
	free(json);
	return ret;
}

/* Is there an fio to run?  Checked first, not after minutes of work. */
static bool fio_in_path(void)
{
	const char *path = getenv("PATH");
	char *dirs, *dir, *save = NULL;
	bool found = false;

	dirs = strdup(path ? path : "/usr/bin:/bin");
	if (!dirs)
		return false;
	for (dir = strtok_r(dirs, ":", &save); dir && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		char file[4096];

		snprintf(file, sizeof(file), "%s/fio", *dir ? dir : ".");
		found = !access(file, X_OK);
	}
	free(dirs);
	return found;
}

/* ---- the report --------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The medians of one workload: engine and fio. */
struct figures {
	struct sample engine, raw;
};

static void median_of(const struct sample *s, unsigned n, struct sample *out)
{
	double bw[n], iops[n], cpu[n];

	for (unsigned i = 0; i < n; i++) {
		bw[i] = s[i].bytes_per_s;
		iops[i] = s[i].iops;
		cpu[i] = s[i].cpu_us;
	}
	out->bytes_per_s = median(bw, n);
	out->iops = median(iops, n);
	out->cpu_us = median(cpu, n);
}

/*
 * Run wl repeat times on the engine, and (with_fio) after each engine run
 * on fio (rule 5).  Returns 0 or -1 after saying why.
 */
static int measure(struct bench *b, const struct workload *wl,
		   unsigned misalign, bool with_fio, struct figures *fig)
{
	struct sample eng[b->repeat], raw[b->repeat];

	for (unsigned i = 0; i < b->repeat; i++) {
		int ret = engine_run(b, wl, b->mode, misalign, b->runtime,
				     &eng[i]);

		if (ret) {
			fprintf(stderr, "dio-bench: %s on the engine: %s\n",
				wl->name, strerror(-ret));
			return -1;
		}
		if (with_fio && fio_run(b, wl, &raw[i]))
			return -1;
		fprintf(stderr, "  %s%s run %u/%u: engine %.1f MiB/s", wl->name,
			misalign ? " (+1)" : "", i + 1, b->repeat,
			eng[i].bytes_per_s / MIB);
		if (with_fio)
			fprintf(stderr, ", fio %.1f MiB/s",
				raw[i].bytes_per_s / MIB);
		fputc('\n', stderr);
	}
	median_of(eng, b->repeat, &fig->engine);
	if (with_fio)
		median_of(raw, b->repeat, &fig->raw);
	return 0;
}

static void print_row(const char *label, const struct workload *wl,
		      const struct figures *fig)
{
	printf("%-13s %3u %9.1f %8.0f %7.1f %9.1f %8.0f %7.1f %6.2f\n",
	       label, wl->depth, fig->engine.bytes_per_s / MIB,
	       fig->engine.iops, fig->engine.cpu_us,
	       fig->raw.bytes_per_s / MIB, fig->raw.iops, fig->raw.cpu_us,
	       fig->engine.bytes_per_s / fig->raw.bytes_per_s);
}

/* ---- setup -------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
"usage: dio-bench [OPTIONS] DEVICE\n"
"Measure the diofs direct-I/O worker on DEVICE next to fio on the raw\n"
"device.  Everything on DEVICE in the region used is overwritten.\n"
"\n"
"  --runtime=S   seconds per run of each workload (default 10)\n"
"  --size=BYTES  use only the first BYTES of the device (suffix K, M, G, T;\n"
"                default: the whole device, at most 4 GiB)\n"
"  --repeat=N    runs per figure, 1 to 99; the median is reported\n"
"                (default 3)\n"
"  --threads     reach the queue depth with one thread and dio_ctx per\n"
"                request in flight, each doing one synchronous dio_rw() at\n"
"                a time, as the diofs daemon does (default: one thread keeps\n"
"                the queue depth with dio_submit() and dio_reap(), as fio\n"
"                does)\n"
"  --force       overwrite a device that holds a filesystem or partition\n"
"                table (never one that is mounted or used as swap)\n");
}

static int parse_uint(const char *s, unsigned min, unsigned max,
		      unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 't': case 'T': shift += 10; /* fall through */
	case 'g': case 'G': shift += 10; /* fall through */
	case 'm': case 'M': shift += 10; /* fall through */
	case 'k': case 'K': shift += 10; end++; break;
	case '\0': break;
	default: return -1;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_args(int argc, char **argv, struct bench *b)
{
	static const struct option opts[] = {
		{ "runtime", required_argument, NULL, 'r' },
		{ "size", required_argument, NULL, 's' },
		{ "repeat", required_argument, NULL, 'n' },
		{ "threads", no_argument, NULL, 'T' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	b->runtime = 10;
	b->repeat = 3;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (parse_uint(optarg, 1, 86400, &b->runtime)) {
				fprintf(stderr, "dio-bench: bad --runtime\n");
				return -1;
			}
			break;
		case 's':
			if (parse_size(optarg, &b->size_opt) ||
			    b->size_opt < BENCH_REGION_ALIGN) {
				fprintf(stderr,
					"dio-bench: bad --size (at least 8M)\n");
				return -1;
			}
			break;
		case 'n':
			if (parse_uint(optarg, 1, 99, &b->repeat)) {
				fprintf(stderr, "dio-bench: bad --repeat\n");
				return -1;
			}
			break;
		case 'T':
			b->mode = ENGINE_THREADS;
			break;
		case 'f':
			b->force = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc - 1) {
		/* Rule 1: there is no default device. */
		usage(stderr);
		return -1;
	}
	b->path = argv[optind];
	return 0;
}

int main(int argc, char **argv)
{
	static struct bench b;
	struct figures fig[NWORKLOADS], unaligned[2];
	const struct workload *seqwrite = &workloads[0];
	const char *msg = NULL;
	struct sample prefill;
	struct utsname uts;
	double t;
	int ret;

	if (parse_args(argc, argv, &b) || check_device(&b))
		return 1;
	if (!fio_in_path()) {
		fprintf(stderr, "dio-bench: fio is not installed (Debian "
			"package fio)\n");
		return 1;
	}

	ret = bdev_open(b.path, BDEV_RDWR, &b.bdev, &msg);
	if (ret) {
		fprintf(stderr, "dio-bench: %s: %s\n", b.path,
			msg ? msg : strerror(-ret));
		return 1;
	}
	b.dev_size = bdev_size(b.bdev);
	if (b.size_opt > b.dev_size) {
		fprintf(stderr, "dio-bench: --size is larger than %s\n",
			b.path);
		goto out_close;
	}
	b.region = b.size_opt ? b.size_opt :
		   b.dev_size < BENCH_DEFAULT_CAP ? b.dev_size :
						    BENCH_DEFAULT_CAP;
	b.region -= b.region % BENCH_REGION_ALIGN;
	if (!b.region) {
		fprintf(stderr, "dio-bench: %s is smaller than 8 MiB\n",
			b.path);
		goto out_close;
	}
	if (dio_file_init(&b.file, &ident_ops, BENCH_BLKBITS, b.region, &b)) {
		fprintf(stderr, "dio-bench: cannot set up the file\n");
		goto out_close;
	}

	uname(&uts);
	printf("device %s: %.0f MiB, %.0f MiB used, logical block %u, "
	       "memory alignment %u\n", b.path, b.dev_size / MIB,
	       b.region / MIB, bdev_block_size(b.bdev),
	       bdev_mem_align(b.bdev));
	printf("kernel %s, %ld CPUs\n", uts.release,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("runs: %u s each, median of %u, engine and fio alternating\n",
	       b.runtime, b.repeat);
	printf("engine: %s\n", b.mode == ENGINE_THREADS ?
	       "--threads: one thread and dio_ctx per request in flight, "
	       "one synchronous dio_rw() at a time each" :
	       "asynchronous: one thread and one dio_ctx keep the queue "
	       "depth with dio_submit() and dio_reap()");
	printf("raw: fio --direct=1 --ioengine=libaio at the same queue "
	       "depth\n");
	printf("cpu: microseconds of CPU (user + system) per request in the "
	       "submitting %s, fio's in its job thread\n",
	       b.mode == ENGINE_THREADS ? "threads" : "thread");
	fflush(stdout);

	/* Rule 4. */
	t = now();
	ret = engine_run(&b, seqwrite, ENGINE_ASYNC, 0, 0, &prefill);
	if (ret) {
		fprintf(stderr, "dio-bench: prefill: %s\n",
			strerror(-ret));
		goto out_file;
	}
	printf("prefill: %.0f MiB written in %.1f s (asynchronous)\n",
	       b.region / MIB, now() - t);
	fflush(stdout);

	for (unsigned i = 0; i < NWORKLOADS; i++)
		if (measure(&b, &workloads[i], 0, true, &fig[i]))
			goto out_file;
	for (unsigned i = 0; i < 2; i++) {
		if (measure(&b, &workloads[i], 1, false, &unaligned[i]))
			goto out_file;
		unaligned[i].raw = fig[i].raw;
	}

	printf("\n%-13s %3s %9s %8s %7s %9s %8s %7s %6s\n", "workload", "qd",
	       "eng MiB/s", "eng IOPS", "eng cpu", "raw MiB/s", "raw IOPS",
	       "raw cpu", "ratio");
	for (unsigned i = 0; i < NWORKLOADS; i++)
		print_row(workloads[i].name, &workloads[i], &fig[i]);
	printf("buffer at +1 (staged copies; information only):\n");
	print_row("seqwrite +1", &workloads[0], &unaligned[0]);
	print_row("seqread +1", &workloads[1], &unaligned[1]);

	printf("engine/raw:");
	for (unsigned i = 0; i < NWORKLOADS; i++)
		printf(" %s=%.2f", workloads[i].name,
		       fig[i].engine.bytes_per_s / fig[i].raw.bytes_per_s);
	printf("\n");
	dio_file_destroy(&b.file);
	bdev_close(b.bdev);
	return 0;

out_file:
	dio_file_destroy(&b.file);
out_close:
	bdev_close(b.bdev);
	return 1;
}
