/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ops.c: FUSE low-level requests to diofs engine calls.
 *
 * Each handler checks what only the daemon can check (name lengths, flags
 * the engine does not take), makes one fs_* call with the inode numbers the
 * kernel gave, and replies.  The engine does all the filesystem work; this
 * file holds no state about files.
 *
 * Rules:
 *  1. Per-thread state (struct ops_thread: the direct-I/O context and the
 *     thread's transfers in flight) is made on a thread's first use and
 *     freed by the pthread key destructor when libfuse ends the thread.
 *  2. A reply that hands the kernel a new reference (fuse_reply_entry,
 *     fuse_reply_create, readdirplus entries) gives the engine's lookup
 *     count back if the reply cannot be delivered (the request was
 *     interrupted): the kernel never saw the reference, so it will never
 *     forget it.
 *  3. "." and ".." in readdirplus carry no node id, so the kernel takes no
 *     reference for them and the engine is not asked for one.
 *  4. readdirplus collects a reply's worth of entries from fs_readdir()
 *     first and looks them up afterwards, so no engine call is made from
 *     inside the engine's directory walk.
 *  5. The page cache is used except with -o direct_io, where every open
 *     is in FUSE's direct-I/O mode.  An O_DIRECT open is an ordinary
 *     open: the kernel sends its reads and writes to the daemon as they
 *     are (writing back and dropping the cached pages of the range
 *     first), and shared mappings of it work, which FUSE's direct-I/O
 *     mode would refuse (libfuse 3.14 cannot ask for
 *     FUSE_DIRECT_IO_ALLOW_MMAP).  Writeback caching stays off unless the
 *     user asks for it (-o writeback_cache, libfuse's option; never under
 *     -o direct_io): without it every write(2) reaches the engine before
 *     it returns, so a full filesystem fails the write(2) itself with
 *     ENOSPC, and nothing written is lost if the daemon dies.  With it,
 *     write(2) returns once the page cache holds the data; the kernel
 *     sends it on at writeback, on close, before fsync and before a
 *     direct request or a truncate of the range, and keeps size, mtime
 *     and ctime itself meanwhile (sent as a setattr), so fsync still
 *     makes everything written before it durable, but ENOSPC only shows
 *     at close or fsync (doc/DESIGN.md, the daemon).  O_TRUNC
 *     arrives as a setattr (atomic_o_trunc off), so the engine has one
 *     truncate path.
 *  6. POSIX ACLs (acl.h) are negotiated in init.  With them the kernel sends
 *     creation modes unmasked (DONT_MASK), and create_node() applies either
 *     the umask or the parent's default ACL, never both.
 *  7. The destroy request unmounts the engine (ops_unmount()) before it is
 *     answered: on a fuseblk mount the kernel waits for that answer before
 *     umount(2) returns, so the device is free by then.  Only forgets can
 *     still be on their way in other workers (the kernel sends them without
 *     waiting), so they run under the gate held shared and find no engine
 *     once it is gone; every worker's direct-I/O context is destroyed
 *     before the device closes, since the workers outlive it.
 *  8. ioctls: on the root directory, DIOFS_IOC_SET_RO is how mount.diofs
 *     remounts (main.c), and only root may send it; DIOFS_IOC_GET_STATS
 *     is how diofs-stat reads the counters (statctl.h), and root and the
 *     user who mounted may send it.  The attribute flags
 *     (FS_IOC_GETFLAGS/SETFLAGS, FS_IOC_FSGETXATTR/FSSETXATTR, which the
 *     kernel sends for chattr and lsattr with fixed sizes) go to
 *     fs_get_flags()/fs_set_flags() with the caller's capabilities, read
 *     from /proc/PID/status (CapEff); when that cannot be read, uid 0
 *     stands for every capability.  FS_IOC_SHUTDOWN needs CAP_SYS_ADMIN;
 *     as an _IOR ioctl it reaches a FUSE daemon without its argument, so
 *     the flag is read from the caller's memory (process_vm_readv()).
 *     Every other ioctl gets ENOTTY: answering keeps the kernel from
 *     retrying.
 *  9. Every request is timed from the handler's entry to its return and
 *     counted in st->req_stats under its kind (enum ops_req): a handler
 *     has replied by the time it returns.  The set belongs to the state,
 *     not the engine, so the forgets that may come after the destroy
 *     request (rule 7) still have it.
 * 10. Under writeback caching the engine does not know the data the
 *     kernel still holds in dirty pages, and the kernel does not write it
 *     back before SEEK_DATA and SEEK_HOLE, which the engine answers from
 *     its extent map: it would call such data a hole (and cp --sparse
 *     would skip it).  So lseek first asks the kernel to drop the file's
 *     pages from the offset on (an inval_inode notification); the kernel
 *     writes the dirty ones back to the daemon before the notification
 *     returns.  Those writes need a worker, so such an lseek runs on a
 *     thread of its own, and holds none: as many lseeks as workers would
 *     otherwise wait for each other's writeback for ever.
 * 11. The kernel sends an O_DIRECT write of an ordinary open (rule 5) as
 *     an asynchronous direct request even when the caller waits for it,
 *     and turns a short answer to one into EIO.  So a short O_DIRECT write
 *     (the device full half-way) is continued once, and the error that
 *     stops it is the answer: the caller gets ENOSPC, as without FUSE.
 * 12. A request that fails with EUCLEAN (the filesystem is damaged) or EIO
 *     (the device failed) is logged with its name and inode, rate-limited
 *     (log.h); the engine has logged what it found below (bdev.h rule 6).
 * 13. Set-id bits are the daemon's to clear (channel.h): a write, setattr
 *     or create the kernel flagged clears them (FS_SET_KILL_SETID) before
 *     the write, or with the truncate or owner change, as Linux clears
 *     them for a kernel filesystem.
 * 14. Splice stays off whatever the user asks for (channel.h rule 3).
 * 15. Reads, and writes of at most OPS_ASYNC_WRITE_MAX bytes, are
 *     asynchronous: the handler starts the engine's transfer
 *     (fs_read_start(), fs_write_start()) on a 4096-aligned buffer of its
 *     own (a write's data is copied there from libfuse's buffer, which
 *     the thread's next request overwrites), so the engine moves it
 *     straight to or from the device, and returns; the thread goes on to
 *     its next request with the transfer in flight, and answers it, as
 *     soon as it completes, from the channel's wait (channel.h rule 5,
 *     ios_collect()) or from the end of its next read or write handler.
 *     So one worker keeps many transfers at the device, as fio does,
 *     instead of one thread sleeping per request.  Each is timed (rule 9)
 *     from its handler's entry to its answer.  A thread whose ctx gives
 *     no event fd, and a larger write, waits for the device.  The done
 *     callback only queues the transfer: the answer (fs_read_end() or
 *     fs_write_end(), rule 11's continuation, the reply) comes once the
 *     engine call that ran it has returned (dio.h rule 1).
 * 16. Write-behind: an asynchronous write of an open without O_DIRECT that
 *     the engine found in place (fs.h, write-behind: it overwrites written
 *     blocks inside the file) is answered as soon as it is submitted, as
 *     a kernel filesystem's page cache would answer it, and its record
 *     stays in flight until it completes, when nothing more is answered.
 *     Later reads and writes of the file come after it (the engine sees
 *     to that), fsync waits for it and reports its error, and the unmount
 *     waits until its thread has completed it (rule 7).  The rest are
 *     answered at completion: an O_DIRECT caller asked for the device's
 *     own answer, and an extending or allocating write's size and blocks
 *     must be on the device before the kernel, which would ask for the
 *     attributes, hears of them.
 * 17. fsync and fsyncdir do not hold their worker while the commit runs:
 *     the handler does what comes before it (fs_fsync_start()) and
 *     returns, and the engine's committer answers the request once the
 *     commit is made (timed, rule 9, to that answer).  So a few workers
 *     serve any number of fsyncs at once, all made durable by one commit,
 *     and keep serving reads and writes meanwhile.  The unmount answers
 *     any still waiting (fs_unmount() stops the committer).
 * 18. Buffered sequential reads are read ahead in OPS_READAHEAD requests
 *     (or -o max_readahead), not the kernel's default 128 KiB: each FUSE
 *     request costs the daemon a round trip, so fewer, larger ones reach
 *     a device's speed.  The kernel keeps the smaller of the INIT reply's
 *     value and its backing device info's read_ahead_kb, so on a fuseblk
 *     mount the daemon raises the latter as it answers INIT (the only
 *     mount type whose /sys/class/bdi name it can know in advance).
 * 19. The kernel keeps a file's cached pages from one open to the next
 *     (keep_cache), unless a read now would set its access time: then it
 *     drops them, so that the first read reaches the daemon, which sets
 *     it (fs_atime_due()).  The cache cannot go stale meanwhile: every
 *     change of a file's data passes through the kernel, which updates or
 *     drops the pages it touches (write, truncate, fallocate,
 *     copy_file_range, a direct write), and the daemon changes no data
 *     on its own.  As on ext4, a write answered early (rule 16) that then
 *     fails at the device leaves its data in the pages, which fsync
 *     reports; they no longer go at the next open.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "acl.h"
#include "channel.h"
#include "log.h"
#include "ops.h"
#include "statctl.h"
#include "diofs/util.h"

#define OPS_BUF_ALIGN	4096
/* Rule 15: the largest write served asynchronously; the records a thread
 * keeps for its next transfers, and the largest buffer kept with one. */
#define OPS_ASYNC_WRITE_MAX	(128 * 1024)
#define OPS_IO_SPARE		8
#define OPS_IO_SPARE_BYTES	(128 * 1024)
#define OPS_MAX_WRITE	(1024 * 1024)
/* Rule 18: the kernel's read-ahead for buffered reads. */
#define OPS_READAHEAD	(1024 * 1024)

struct ops_state {
	struct fs *fs;		/* NULL once unmounted (rule 7) */
	struct ops_config cfg;
	struct fuse_session *se; /* for notifications (rule 10) */
	bool acl;		/* negotiated in init, read-only afterwards */
	bool writeback;		/* writeback caching negotiated (rule 5) */
	pthread_key_t thread_key;
	pthread_rwlock_t gate;	/* rule 7: exclusive to unmount */
	int unmount_rc;		/* fs_unmount()'s result */
	pthread_mutex_t threads_lock;
	struct ops_thread *threads; /* every worker's state (rule 7) */
	unsigned behind;	/* writes answered early, in flight (rule 16);
				 * atomic */
	struct stats *req_stats; /* rule 9: OPS_REQ_NR histograms */
	uid_t owner;		/* who mounted: may read the counters */
	uint64_t attached_ns;	/* CLOCK_MONOTONIC at ops_state_attach() */
};

struct ops_thread {
	struct ops_state *st;
	struct ops_thread *next, **pprev; /* on st->threads */
	struct dio_ctx *ctx;	/* NULL once the engine is unmounted */
	bool async;		/* transfers may stay in flight (rule 15) */
	struct channel_worker worker;	/* how the channel collects them */
	struct ops_io *done, **done_tail; /* completed, not yet answered */
	struct ops_io *spare;	/* free records, at most OPS_IO_SPARE */
	unsigned nspare;
};

/* Rule 15: one read or write in flight. */
struct ops_io {
	struct ops_io *next;	/* on t->done or t->spare */
	struct ops_thread *t;
	fuse_req_t req;
	fuse_ino_t ino;
	enum ops_req kind;	/* OPS_REQ_READ or OPS_REQ_WRITE */
	uint64_t start_ns;	/* rule 9 */
	union {
		struct fs_read rd;
		struct fs_write wr;
	};
	off_t off;
	bool direct;		/* a write of an O_DIRECT open (rule 11) */
	struct iovec iov;	/* the OPS_BUF_ALIGN-aligned buffer */
	size_t cap;		/* its size */
	bool completed;		/* done has run: result is set */
	ssize_t result;
};

static void ios_answer(struct ops_thread *t);
static void ios_finish(struct ops_thread *t);
static unsigned ios_collect(void *arg, bool all);
static void io_free(struct ops_io *r);

/* A worker ends; the gate keeps the engine from going meanwhile (rule 7). */
static void thread_free(void *p)
{
	struct ops_thread *t = p;
	struct ops_state *st = t->st;

	pthread_rwlock_rdlock(&st->gate);
	pthread_mutex_lock(&st->threads_lock);
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	pthread_mutex_unlock(&st->threads_lock);
	channel_set_worker(NULL);
	if (t->ctx) {
		ios_finish(t);
		dio_ctx_destroy(t->ctx);
	}
	pthread_rwlock_unlock(&st->gate);
	while (t->spare) {
		struct ops_io *r = t->spare;

		t->spare = r->next;
		io_free(r);
	}
	free(t);
}

int ops_state_create(const struct ops_config *cfg, struct ops_state **out)
{
	struct ops_state *st;
	int rc;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->cfg = *cfg;
	st->owner = getuid();
	rc = stats_create(OPS_REQ_NR * STATS_WORDS(struct stats_hist),
			  &st->req_stats);
	if (rc) {
		free(st);
		return rc;
	}
	rc = pthread_key_create(&st->thread_key, thread_free);
	if (rc) {
		stats_destroy(st->req_stats);
		free(st);
		return -rc;
	}
	pthread_rwlock_init(&st->gate, NULL);
	pthread_mutex_init(&st->threads_lock, NULL);
	*out = st;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Rule 9: a request of this kind, begun at start, is answered. */
static void req_done(struct ops_state *st, enum ops_req kind, uint64_t start)
{
	stats_hist_add(st->req_stats, kind * STATS_WORDS(struct stats_hist),
		       (now_ns() - start) / 1000);
}

void ops_state_attach(struct ops_state *st, struct fs *fs)
{
	st->fs = fs;
	st->attached_ns = now_ns();
}

void ops_state_set_session(struct ops_state *st, struct fuse_session *se)
{
	st->se = se;
}

int ops_unmount(struct ops_state *st)
{
	struct ops_thread *t;
	int rc;

	/* Rule 16: the writes answered early complete on their own threads,
	 * which hold their locks (dio.h rule 4) and reap them as the device
	 * finishes, before the gate shuts those threads out. */
	while (__atomic_load_n(&st->behind, __ATOMIC_ACQUIRE))
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	pthread_rwlock_wrlock(&st->gate);
	if (st->fs) {
		pthread_mutex_lock(&st->threads_lock);
		for (t = st->threads; t; t = t->next) {
			if (t->ctx) {
				ios_finish(t);	/* none should be left */
				dio_ctx_destroy(t->ctx);
			}
			t->ctx = NULL;
		}
		pthread_mutex_unlock(&st->threads_lock);
		st->unmount_rc = fs_unmount(st->fs);
		st->fs = NULL;
	}
	rc = st->unmount_rc;
	pthread_rwlock_unlock(&st->gate);
	return rc;
}

void ops_state_destroy(struct ops_state *st)
{
	pthread_key_delete(st->thread_key);
	pthread_mutex_destroy(&st->threads_lock);
	pthread_rwlock_destroy(&st->gate);
	stats_destroy(st->req_stats);
	free(st);
}

static struct ops_state *req_state(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The calling thread's state, with its direct-I/O context (rule 1). */
static int thread_get(struct ops_state *st, struct ops_thread **out)
{
	struct ops_thread *t = pthread_getspecific(st->thread_key);
	int rc;

	if (t) {
		*out = t;
		return 0;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->st = st;
	t->done_tail = &t->done;
	rc = dio_ctx_create(fs_bdev(st->fs), NULL, &t->ctx);
	if (rc)
		goto out_free;
	t->worker = (struct channel_worker){
		.event_fd = dio_ctx_event_fd(t->ctx),
		.collect = ios_collect,
		.arg = t,
	};
	t->async = t->worker.event_fd >= 0;
	rc = -pthread_setspecific(st->thread_key, t);
	if (rc)
		goto out_ctx;
	pthread_mutex_lock(&st->threads_lock);
	t->next = st->threads;
	if (t->next)
		t->next->pprev = &t->next;
	t->pprev = &st->threads;
	st->threads = t;
	pthread_mutex_unlock(&st->threads_lock);
	channel_set_worker(&t->worker);
	*out = t;
	return 0;

out_ctx:
	dio_ctx_destroy(t->ctx);
out_free:
	free(t);
	return rc;
}

/* Rule 15: a record for req's transfer of size bytes, with its buffer. */
static int io_new(struct ops_thread *t, fuse_req_t req, fuse_ino_t ino,
		  enum ops_req kind, uint64_t start, size_t size,
		  struct ops_io **out)
{
	size_t want = (size + OPS_BUF_ALIGN - 1) & ~(size_t)(OPS_BUF_ALIGN - 1);
	struct ops_io *r = t->spare;
	void *p;

	if (r) {
		t->spare = r->next;
		t->nspare--;
	} else {
		r = calloc(1, sizeof(*r));
		if (!r)
			return -ENOMEM;
		r->t = t;
	}
	if (want == 0)
		want = OPS_BUF_ALIGN;
	if (r->cap < want) {
		if (posix_memalign(&p, OPS_BUF_ALIGN, want)) {
			io_free(r);
			return -ENOMEM;
		}
		free(r->iov.iov_base);
		r->iov.iov_base = p;
		r->cap = want;
	}
	r->iov.iov_len = size;
	r->completed = false;
	r->req = req;
	r->ino = ino;
	r->kind = kind;
	r->start_ns = start;
	*out = r;
	return 0;
}

static void io_free(struct ops_io *r)
{
	free(r->iov.iov_base);
	free(r);
}

/* Keep a few small records for the thread's next transfers; free the rest. */
static void io_recycle(struct ops_io *r)
{
	struct ops_thread *t = r->t;

	if (t->nspare >= OPS_IO_SPARE || r->cap > OPS_IO_SPARE_BYTES) {
		io_free(r);
		return;
	}
	r->next = t->spare;
	t->spare = r;
	t->nspare++;
}

/* Rule 15: the engine has finished the transfer; it is answered later. */
static void io_done(void *priv, ssize_t result)
{
	struct ops_io *r = priv;
	struct ops_thread *t = r->t;

	r->result = result;
	r->completed = true;
	r->next = NULL;
	*t->done_tail = r;
	t->done_tail = &r->next;
}

static bool name_too_long(const char *name)
{
	return strnlen(name, DIOFS_NAME_MAX + 1) > DIOFS_NAME_MAX;
}

static void attr_to_stat(const struct fs_attr *a, struct stat *s)
{
	memset(s, 0, sizeof(*s));
	s->st_ino = a->ino;
	s->st_mode = a->mode;
	s->st_nlink = a->nlink;
	s->st_uid = a->uid;
	s->st_gid = a->gid;
	s->st_rdev = a->rdev;
	s->st_size = a->size;
	s->st_blocks = a->blocks;
	s->st_blksize = a->blksize;
	s->st_atim = a->atime;
	s->st_mtim = a->mtime;
	s->st_ctim = a->ctime;
}

static void attr_to_entry(const struct ops_state *st, const struct fs_attr *a,
			  struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	e->generation = a->generation;
	attr_to_stat(a, &e->attr);
	e->attr_timeout = st->cfg.attr_timeout;
	e->entry_timeout = st->cfg.entry_timeout;
}

static void req_cred(fuse_req_t req, struct fs_cred *cred)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);

	cred->uid = c->uid;
	cred->gid = c->gid;
	cred->umask = c->umask;
}

/* The request a handler serves, for the log: "getattr" in ops_getattr(). */
#define OP_NAME		(__func__ + sizeof("ops_") - 1)

/* Reply with error err to request op on inode ino (the directory, with
 * name the entry); log what says the filesystem or the device is damaged
 * (rule 12). */
static void reply_fail(fuse_req_t req, const char *op, uint64_t ino,
		       const char *name, int err)
{
	char shown[DIOFS_NAME_MAX + 1];
	size_t i;

	if ((err == EUCLEAN || err == EIO) && name) {
		/* a name's control characters must not forge log lines */
		for (i = 0; name[i] && i < DIOFS_NAME_MAX; i++)
			shown[i] = (unsigned char)name[i] < 0x20 ||
				   name[i] == 0x7f ? '?' : name[i];
		shown[i] = '\0';
		log_event(LOG_ERR, "%s of \"%s\" in directory inode %" PRIu64 " failed: %s",
			  op, shown, ino, strerror(err));
	} else if (err == EUCLEAN || err == EIO) {
		log_event(LOG_ERR, "%s of inode %" PRIu64 " failed: %s", op,
			  ino, strerror(err));
	}
	fuse_reply_err(req, err);
}

/* Reply with a new reference, or give it back (rule 2). */
static void reply_entry(fuse_req_t req, const char *op, uint64_t ino,
			const char *name, int rc, const struct fs_attr *a)
{
	struct ops_state *st = req_state(req);
	struct fuse_entry_param e;

	if (rc < 0) {
		reply_fail(req, op, ino, name, -rc);
		return;
	}
	attr_to_entry(st, a, &e);
	if (fuse_reply_entry(req, &e))
		fs_forget(st->fs, a->ino, 1);
}

static void reply_status(fuse_req_t req, const char *op, uint64_t ino,
			 const char *name, int rc)
{
	if (rc < 0)
		reply_fail(req, op, ino, name, -rc);
	else
		fuse_reply_err(req, 0);
}

/*
 * Rule 18: the kernel takes the smaller of the INIT reply's max_readahead
 * and the read-ahead its backing device info has when the reply arrives,
 * which starts at 128 KiB; so the daemon raises the latter first.
 */
static void set_readahead(const char *bdi, unsigned bytes)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", bdi);
	f = fopen(path, "we");
	if (f) {
		fprintf(f, "%u\n", bytes / 1024);
		if (fclose(f) == 0)
			return;
	}
	log_msg(LOG_WARNING, "cannot set the read-ahead in %s: %s (buffered sequential reads will be slower)",
		path, strerror(errno));
}

/*
 * Session setup.  Capabilities are chosen here and the command line's
 * standard FUSE options (-o max_write=..., -o writeback_cache, ...) are
 * applied last, so a user can still override them.
 */
static void ops_init(void *userdata, struct fuse_conn_info *conn)
{
	struct ops_state *st = userdata;
	unsigned want_on = FUSE_CAP_ASYNC_DIO | FUSE_CAP_PARALLEL_DIROPS |
			   FUSE_CAP_ASYNC_READ | FUSE_CAP_CACHE_SYMLINKS |
			   FUSE_CAP_IOCTL_DIR;
	unsigned want_off = FUSE_CAP_WRITEBACK_CACHE |
			    FUSE_CAP_ATOMIC_O_TRUNC |
			    FUSE_CAP_HANDLE_KILLPRIV | FUSE_CAP_POSIX_ACL |
			    FUSE_CAP_DONT_MASK;
	unsigned acl_caps = FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;

	conn->want |= want_on & conn->capable;
	conn->want &= ~want_off;
	/* With ACLs the daemon applies the umask itself: a default ACL
	 * replaces it (acl.h rule 3). */
	st->acl = st->cfg.acl && (conn->capable & acl_caps) == acl_caps;
	if (st->acl)
		conn->want |= acl_caps;
	conn->max_write = OPS_MAX_WRITE;
	if (st->cfg.max_background) {
		conn->max_background = st->cfg.max_background;
		conn->congestion_threshold = st->cfg.max_background * 3 / 4;
	}
	conn->max_readahead = OPS_READAHEAD;
	if (st->cfg.conn_opts)
		fuse_apply_conn_info_opts(st->cfg.conn_opts, conn);
	if (st->cfg.bdi)
		set_readahead(st->cfg.bdi, conn->max_readahead);
	/* Rule 14, whatever the user asked for. */
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
			FUSE_CAP_SPLICE_MOVE);
	/* Rule 5: under -o direct_io no open uses the page cache. */
	if (st->cfg.direct_io)
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	st->writeback = conn->want & FUSE_CAP_WRITEBACK_CACHE;
}

/* The kernel is done with the filesystem: unmount the engine (rule 7). */
static void ops_destroy(void *userdata)
{
	ops_unmount(userdata);
}

static void ops_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ops_state *st = req_state(req);
	struct fuse_entry_param e;
	struct fs_attr a;
	int rc;

	if (name_too_long(name)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	rc = fs_lookup(st->fs, parent, name, &a);
	if (rc == -ENOENT) {
		/* A negative entry: the kernel caches the miss, and every
		 * creation goes through the kernel, so it cannot go stale. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = st->cfg.entry_timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry(req, OP_NAME, parent, name, rc, &a);
}

/* Rule 7: a forget may race with the destroy request. */
static void ops_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct ops_state *st = req_state(req);

	pthread_rwlock_rdlock(&st->gate);
	if (st->fs)
		fs_forget(st->fs, ino, nlookup);
	pthread_rwlock_unlock(&st->gate);
	fuse_reply_none(req);
}

static void ops_forget_multi(fuse_req_t req, size_t count,
			     struct fuse_forget_data *forgets)
{
	struct ops_state *st = req_state(req);
	size_t i;

	pthread_rwlock_rdlock(&st->gate);
	for (i = 0; st->fs && i < count; i++)
		fs_forget(st->fs, forgets[i].ino, forgets[i].nlookup);
	pthread_rwlock_unlock(&st->gate);
	fuse_reply_none(req);
}

static void ops_getattr(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct ops_state *st = req_state(req);
	struct fs_attr a;
	struct stat s;
	int rc;

	rc = fs_getattr(st->fs, ino, &a);
	if (rc < 0) {
		reply_fail(req, OP_NAME, ino, NULL, -rc);
		return;
	}
	attr_to_stat(&a, &s);
	fuse_reply_attr(req, &s, st->cfg.attr_timeout);
}

static void ops_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			int to_set, struct fuse_file_info *fi)
{
	struct ops_state *st = req_state(req);
	struct ops_thread *t;
	struct fs_setattr sa = { 0 };
	struct fs_attr a;
	struct stat s;
	int rc;

	if (to_set & FUSE_SET_ATTR_MODE) {
		sa.mask |= FS_SET_MODE;
		sa.mode = attr->st_mode;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		sa.mask |= FS_SET_UID;
		sa.uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		sa.mask |= FS_SET_GID;
		sa.gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		sa.mask |= FS_SET_SIZE;
		sa.size = attr->st_size;
	}
	/* The kernel sends ATIME together with ATIME_NOW; "now" wins. */
	if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
		sa.mask |= FS_SET_ATIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_ATIME) {
		sa.mask |= FS_SET_ATIME;
		sa.atime = attr->st_atim;
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		sa.mask |= FS_SET_MTIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_MTIME) {
		sa.mask |= FS_SET_MTIME;
		sa.mtime = attr->st_mtim;
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		sa.mask |= FS_SET_CTIME;
		sa.ctime = attr->st_ctim;
	}
	if (channel_request_kills_setid())	/* rule 13 */
		sa.mask |= FS_SET_KILL_SETID;

	/* Truncation may zero a partial block through the worker. */
	rc = thread_get(st, &t);
	if (rc < 0) {
		reply_fail(req, OP_NAME, ino, NULL, -rc);
		return;
	}
	rc = fs_setattr(st->fs, t->ctx, ino, &sa, &a);
	if (rc == 0 && st->acl && (sa.mask & FS_SET_MODE))
		rc = acl_update_mode(st->fs, ino, a.mode);
	if (rc < 0) {
		reply_fail(req, OP_NAME, ino, NULL, -rc);
		return;
	}
	attr_to_stat(&a, &s);
	fuse_reply_attr(req, &s, st->cfg.attr_timeout);
}

static void ops_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct ops_state *st = req_state(req);
	char buf[PATH_MAX + 1];
	ssize_t n;

	n = fs_readlink(st->fs, ino, buf, sizeof(buf));
	if (n < 0) {
		reply_fail(req, OP_NAME, ino, NULL, (int)-n);
		return;
	}
	if ((size_t)n >= sizeof(buf)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

/*
 * Make a node with what it inherits from parent's default ACL: the mode is
 * narrowed before the node exists and the ACLs are attached right after.
 * A node that cannot get its ACLs is removed again rather than left with
 * permissions the directory's default ACL did not give.
 */
static int create_node(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode, dev_t rdev, struct fs_attr *a)
{
	struct ops_state *st = req_state(req);
	struct acl_inherit inh = { 0 };
	struct fs_cred cred;
	int rc;

	req_cred(req, &cred);
	if (st->acl) {
		rc = acl_inherit_prepare(st->fs, parent, &mode, cred.umask,
					 &inh);
		if (rc < 0)
			return rc;
		cred.umask = 0;
	}
	if (S_ISDIR(mode))
		rc = fs_mkdir(st->fs, parent, name, mode, &cred, a);
	else
		rc = fs_mknod(st->fs, parent, name, mode, rdev, &cred, a);
	if (rc == 0 && st->acl) {
		rc = acl_inherit_apply(st->fs, a->ino, &inh);
		if (rc < 0) {
			if (S_ISDIR(mode))
				fs_rmdir(st->fs, parent, name);
			else
				fs_unlink(st->fs, parent, name);
			fs_forget(st->fs, a->ino, 1);
		}
	}
	acl_inherit_free(&inh);
	return rc;
}

static void ops_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev)
{
	struct fs_attr a;
	int rc;

	if (name_too_long(name)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	rc = create_node(req, parent, name, mode, rdev, &a);
	reply_entry(req, OP_NAME, parent, name, rc, &a);
}

static void ops_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode)
{
	struct fs_attr a;
	int rc;

	if (name_too_long(name)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	rc = create_node(req, parent, name, S_IFDIR | (mode & 07777), 0, &a);
	reply_entry(req, OP_NAME, parent, name, rc, &a);
}

static void ops_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (name_too_long(name)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	reply_status(req, OP_NAME, parent, name,
		     fs_unlink(req_state(req)->fs, parent, name));
}

static void ops_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (name_too_long(name)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	reply_status(req, OP_NAME, parent, name,
		     fs_rmdir(req_state(req)->fs, parent, name));
}

static void ops_symlink(fuse_req_t req, const char *target,
			fuse_ino_t parent, const char *name)
{
	struct ops_state *st = req_state(req);
	struct fs_cred cred;
	struct fs_attr a;
	int rc;

	if (name_too_long(name)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	req_cred(req, &cred);
	rc = fs_symlink(st->fs, parent, name, target, &cred, &a);
	reply_entry(req, OP_NAME, parent, name, rc, &a);
}

static void ops_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		       fuse_ino_t newparent, const char *newname,
		       unsigned int flags)
{
	struct fs_cred cred;

	if (name_too_long(name) || name_too_long(newname)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	/* The whiteout of RENAME_WHITEOUT belongs to the caller, as a node
	 * made by mknod would (any user may make one: Linux has not asked
	 * for CAP_MKNOD since 5.8). */
	req_cred(req, &cred);
	reply_status(req, OP_NAME, parent, name,
		     fs_rename(req_state(req)->fs, parent, name, newparent,
			       newname, flags, &cred));
}

static void ops_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		     const char *newname)
{
	struct ops_state *st = req_state(req);
	struct fs_attr a;
	int rc;

	if (name_too_long(newname)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	rc = fs_link(st->fs, ino, newparent, newname, &a);
	reply_entry(req, OP_NAME, ino, NULL, rc, &a);
}

/*
 * Rule 5: an O_DIRECT open is an ordinary open, whose direct requests the
 * kernel sends to the daemon by itself; only -o direct_io asks for FUSE's
 * direct-I/O mode.  Rule 19: the kernel keeps the file's cached pages.
 */
static void set_open_flags(const struct ops_state *st, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	fi->direct_io = st->cfg.direct_io;
	fi->keep_cache = !st->cfg.direct_io && !fs_atime_due(st->fs, ino);
}

static void ops_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ops_state *st = req_state(req);
	int rc;

	rc = fs_open(st->fs, ino, fi->flags);
	if (rc < 0) {
		reply_fail(req, OP_NAME, ino, NULL, -rc);
		return;
	}
	set_open_flags(st, ino, fi);
	if (fuse_reply_open(req, fi))
		fs_release(st->fs, ino);
}

/* A transfer that could not start: the error is its answer. */
static void io_refuse(struct ops_io *r, int err)
{
	reply_fail(r->req, r->kind == OPS_REQ_READ ? "read" : "write", r->ino,
		   NULL, err);
	req_done(r->t->st, r->kind, r->start_ns);
	io_recycle(r);
}

static void ops_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct ops_state *st = req_state(req);
	uint64_t start = now_ns();
	struct ops_thread *t;
	struct ops_io *r = NULL;
	int rc;

	rc = thread_get(st, &t);
	if (rc == 0)
		rc = io_new(t, req, ino, OPS_REQ_READ, start, size, &r);
	if (rc < 0) {
		reply_fail(req, OP_NAME, ino, NULL, -rc);
		req_done(st, OPS_REQ_READ, start);
		return;
	}
	rc = fs_read_start(st->fs, t->ctx, ino, (uint64_t)off, &r->iov, 1,
			   io_done, r, &r->rd);
	if (rc < 0)
		io_refuse(r, -rc);
	if (t->async)
		ios_answer(t);
	else
		ios_finish(t);
}

/*
 * Rule 13: the set-id bits go before a write the kernel marked.  The
 * kernel keeps the mode it has and a write does not make it ask again
 * (stat -c %a would still show the bits), so when they go it is told that
 * the attributes changed; a file it has forgotten meanwhile needs nothing.
 */
static int kill_setid(struct ops_state *st, fuse_ino_t ino)
{
	struct fs_setattr sa = { .mask = FS_SET_KILL_SETID };
	struct fs_attr before, after;
	int rc;

	rc = fs_getattr(st->fs, ino, &before);
	if (rc < 0 || !(before.mode & (S_ISUID | S_ISGID)))
		return rc;
	rc = fs_setattr(st->fs, NULL, ino, &sa, &after);
	if (rc == 0 && after.mode != before.mode && st->se)
		(void)fuse_lowlevel_notify_inval_inode(st->se, ino, -1, 0);
	return rc;
}

/*
 * Rule 11: an O_DIRECT write the engine took only done bytes of goes on
 * once from there, so that the error which stopped it (ENOSPC, EIO) is
 * what the caller gets; the kernel drops the size change of a failed
 * extending write again with a truncate.
 */
static ssize_t direct_write_rest(struct ops_state *st, struct ops_thread *t,
				 fuse_ino_t ino, off_t off,
				 const struct iovec *iov, ssize_t done)
{
	struct iovec rest = {
		.iov_base = (char *)iov->iov_base + done,
		.iov_len = iov->iov_len - (size_t)done,
	};
	ssize_t more;

	more = fs_write(st->fs, t->ctx, ino, off + done, &rest, 1);
	return more < 0 ? more : done + more;
}

/* A write's answer: the bytes written (n, gone on with by rule 11 when
 * short), or the error. */
static void answer_write(struct ops_thread *t, fuse_req_t req,
			 fuse_ino_t ino, off_t off, const struct iovec *iov,
			 bool direct, ssize_t n)
{
	if (n >= 0 && (size_t)n < iov->iov_len && direct)
		n = direct_write_rest(t->st, t, ino, off, iov, n);
	if (n < 0)
		reply_fail(req, "write", ino, NULL, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

/* Rule 15: answer the thread's completed transfers. */
static void ios_answer(struct ops_thread *t)
{
	struct ops_io *r;
	ssize_t n;

	while ((r = t->done)) {
		t->done = r->next;
		if (!t->done)
			t->done_tail = &t->done;
		if (r->kind == OPS_REQ_READ) {
			n = fs_read_end(&r->rd, r->result);
			if (n < 0)
				reply_fail(r->req, "read", r->ino, NULL,
					   (int)-n);
			else
				fuse_reply_buf(r->req, r->iov.iov_base,
					       (size_t)n);
		} else if (r->wr.behind) {
			/* answered already (rule 16) */
			(void)fs_write_end(t->ctx, &r->wr, r->result);
			__atomic_sub_fetch(&t->st->behind, 1, __ATOMIC_RELEASE);
			io_recycle(r);
			continue;
		} else {
			/* may complete, and queue, more of them */
			n = fs_write_end(t->ctx, &r->wr, r->result);
			answer_write(t, r->req, r->ino, r->off, &r->iov,
				     r->direct, n);
		}
		req_done(t->st, r->kind, r->start_ns);
		io_recycle(r);
	}
}

/* Complete and answer everything the thread has in flight. */
static void ios_finish(struct ops_thread *t)
{
	(void)dio_reap(t->ctx, dio_ctx_pending(t->ctx));
	ios_answer(t);
}

/*
 * Rule 15: the channel's collection of the thread's transfers (channel.h
 * rule 5); the gate keeps the engine, and this thread's ctx, from going
 * meanwhile (rule 7).
 */
static unsigned ios_collect(void *arg, bool all)
{
	struct ops_thread *t = arg;
	struct ops_state *st = t->st;
	unsigned inflight = 0;

	pthread_rwlock_rdlock(&st->gate);
	if (t->ctx && dio_ctx_pending(t->ctx))
		(void)dio_reap(t->ctx, all ? dio_ctx_pending(t->ctx) : 0);
	ios_answer(t);
	if (t->ctx)
		inflight = dio_ctx_pending(t->ctx);
	pthread_rwlock_unlock(&st->gate);
	return inflight;
}

/*
 * Splice is off (rule 14), so the data arrives in memory, in the one
 * buffer the request was read into.  A write of at most
 * OPS_ASYNC_WRITE_MAX bytes is copied to a buffer of its own and stays in
 * flight (rule 15); a larger one goes to the engine from libfuse's buffer
 * and is answered before the handler returns.
 */
static void ops_write_buf(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_bufvec *in, off_t off,
			  struct fuse_file_info *fi)
{
	struct ops_state *st = req_state(req);
	const struct fuse_buf *b = &in->buf[in->idx];
	uint64_t start = now_ns();
	struct ops_io *r = NULL;
	struct ops_thread *t;
	struct iovec iov;
	ssize_t n;
	int rc;

	if (in->count - in->idx != 1 || (b->flags & FUSE_BUF_IS_FD)) {
		fuse_reply_err(req, EINVAL);	/* libfuse never sends this */
		req_done(st, OPS_REQ_WRITE, start);
		return;
	}
	iov.iov_base = (char *)b->mem + in->off;
	iov.iov_len = b->size - in->off;
	rc = thread_get(st, &t);
	if (rc == 0 && channel_request_kills_setid())
		rc = kill_setid(st, ino);	/* rule 13 */
	if (rc == 0 && t->async && iov.iov_len <= OPS_ASYNC_WRITE_MAX)
		rc = io_new(t, req, ino, OPS_REQ_WRITE, start, iov.iov_len,
			    &r);
	if (rc < 0) {
		reply_fail(req, OP_NAME, ino, NULL, -rc);
		req_done(st, OPS_REQ_WRITE, start);
		return;
	}
	if (!r) {
		n = fs_write(st->fs, t->ctx, ino, off, &iov, 1);
		answer_write(t, req, ino, off, &iov, fi->flags & O_DIRECT, n);
		req_done(st, OPS_REQ_WRITE, start);
		ios_answer(t);
		return;
	}
	memcpy(r->iov.iov_base, iov.iov_base, iov.iov_len);
	r->off = off;
	r->direct = fi->flags & O_DIRECT;
	rc = fs_write_start(st->fs, t->ctx, ino, (uint64_t)off, &r->iov, 1,
			    !r->direct, io_done, r, &r->wr);
	if (rc < 0) {
		io_refuse(r, -rc);
	} else if (r->wr.in_place && !r->completed) {
		/* rule 16; counted before the kernel can hear of it */
		__atomic_add_fetch(&st->behind, 1, __ATOMIC_RELAXED);
		fuse_reply_write(req, (size_t)fs_write_behind(&r->wr));
		req_done(st, OPS_REQ_WRITE, start);
	}
	ios_answer(t);
}

static void ops_release(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	fs_release(req_state(req)->fs, ino);
	fuse_reply_err(req, 0);
}

/* Rule 17: an fsync or fsyncdir waiting for its commit. */
struct ops_fsync {
	struct fs_fsync f;
	struct ops_state *st;
	fuse_req_t req;
	fuse_ino_t ino;
	const char *op;
	enum ops_req kind;
	uint64_t start_ns;
};

static void fsync_done(struct fs_fsync *f, int err)
{
	struct ops_fsync *s = container_of(f, struct ops_fsync, f);

	req_done(s->st, s->kind, s->start_ns);	/* counted once answered */
	reply_status(s->req, s->op, s->ino, NULL, err);
	free(s);
}

static void fsync_start(fuse_req_t req, const char *op, enum ops_req kind,
			fuse_ino_t ino, bool datasync)
{
	struct ops_state *st = req_state(req);
	uint64_t start = now_ns();
	struct ops_fsync *s;
	int rc;

	s = malloc(sizeof(*s));
	if (!s) {
		reply_status(req, op, ino, NULL, -ENOMEM);
		req_done(st, kind, start);
		return;
	}
	*s = (struct ops_fsync){
		.f.done = fsync_done, .st = st, .req = req, .ino = ino,
		.op = op, .kind = kind, .start_ns = start,
	};
	rc = fs_fsync_start(st->fs, ino, datasync, &s->f);
	if (rc != FS_FSYNC_STARTED)
		fsync_done(&s->f, rc);
}

static void ops_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		      struct fuse_file_info *fi)
{
	fsync_start(req, OP_NAME, OPS_REQ_FSYNC, ino, datasync != 0);
}

/* Directories need no per-open state: cookies are stable (fs.h). */
static void ops_opendir(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	fuse_reply_open(req, fi);
}

struct dir_fill {
	fuse_req_t req;
	char *buf;
	size_t size;
	size_t pos;
};

static int fill_plain(void *arg, const char *name, uint64_t ino, mode_t type,
		      uint64_t next_cookie)
{
	struct dir_fill *df = arg;
	struct stat s = { .st_ino = ino, .st_mode = type & S_IFMT };
	size_t len;

	len = fuse_add_direntry(df->req, df->buf + df->pos, df->size - df->pos,
				name, &s, (off_t)next_cookie);
	if (len > df->size - df->pos)
		return 1;
	df->pos += len;
	return 0;
}

static void ops_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	struct ops_state *st = req_state(req);
	struct dir_fill df = { .req = req, .size = size };
	int rc;

	df.buf = malloc(size);
	if (!df.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = fs_readdir(st->fs, ino, (uint64_t)off, fill_plain, &df);
	if (rc < 0 && df.pos == 0)
		reply_fail(req, OP_NAME, ino, NULL, -rc);
	else
		fuse_reply_buf(req, df.buf, df.pos);
	free(df.buf);
}

/* One entry collected for readdirplus (rule 4). */
struct plus_entry {
	uint64_t ino;
	mode_t type;
	uint64_t next_cookie;
	size_t name_off;	/* into plus_fill.names */
};

struct plus_fill {
	fuse_req_t req;
	size_t size;		/* reply buffer size */
	size_t used;		/* reply bytes the collected entries need */
	struct plus_entry *ent;
	size_t n, cap;
	char *names;
	size_t names_used;
};

static int fill_plus(void *arg, const char *name, uint64_t ino, mode_t type,
		     uint64_t next_cookie)
{
	struct plus_fill *pf = arg;
	size_t len = fuse_add_direntry_plus(pf->req, NULL, 0, name, NULL, 0);
	size_t namelen = strlen(name) + 1;
	struct plus_entry *e;

	/* names and ent were sized so that a full reply always fits both */
	if (pf->used + len > pf->size || pf->n == pf->cap)
		return 1;
	e = &pf->ent[pf->n++];
	e->ino = ino;
	e->type = type & S_IFMT;
	e->next_cookie = next_cookie;
	e->name_off = pf->names_used;
	memcpy(pf->names + pf->names_used, name, namelen);
	pf->names_used += namelen;
	pf->used += len;
	return 0;
}

static bool is_dot_or_dotdot(const char *name)
{
	return name[0] == '.' &&
	       (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static void ops_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			    off_t off, struct fuse_file_info *fi)
{
	struct ops_state *st = req_state(req);
	struct plus_fill pf = { .req = req, .size = size };
	size_t min_len = fuse_add_direntry_plus(req, NULL, 0, "", NULL, 0);
	uint64_t cookie = (uint64_t)off;
	uint64_t *looked_up = NULL;
	size_t nlooked = 0, pos = 0, i;
	char *buf = NULL;
	int rc;

	pf.cap = size / min_len + 1;
	pf.ent = calloc(pf.cap, sizeof(*pf.ent));
	pf.names = malloc(size);
	looked_up = calloc(pf.cap, sizeof(*looked_up));
	buf = malloc(size);
	if (!pf.ent || !pf.names || !looked_up || !buf) {
		fuse_reply_err(req, ENOMEM);
		goto out_free;
	}

	/*
	 * An entry removed between the walk and its lookup is left out.  If
	 * that leaves the reply empty, walk on: an empty reply ends the
	 * listing.
	 */
	do {
		pf.n = pf.used = pf.names_used = 0;
		rc = fs_readdir(st->fs, ino, cookie, fill_plus, &pf);
		if (pf.n == 0)
			break;
		rc = 0;
		for (i = 0; i < pf.n; i++) {
			const struct plus_entry *pe = &pf.ent[i];
			const char *name = pf.names + pe->name_off;
			struct fuse_entry_param e;
			struct fs_attr a;

			if (is_dot_or_dotdot(name)) {
				/* rule 3: no node id, so no reference */
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = pe->ino;
				e.attr.st_mode = pe->type;
			} else {
				rc = fs_lookup(st->fs, ino, name, &a);
				if (rc == -ENOENT) {
					rc = 0;
					continue;
				}
				/* the kernel asks again from the last entry sent */
				if (rc < 0)
					break;
				looked_up[nlooked++] = a.ino;
				attr_to_entry(st, &a, &e);
			}
			pos += fuse_add_direntry_plus(req, buf + pos, size - pos,
						      name, &e,
						      (off_t)pe->next_cookie);
		}
		cookie = pf.ent[pf.n - 1].next_cookie;
	} while (pos == 0 && rc == 0);

	if (pos == 0 && rc < 0) {
		reply_fail(req, OP_NAME, ino, NULL, -rc);
		goto out_free;
	}
	if (fuse_reply_buf(req, buf, pos)) {
		for (i = 0; i < nlooked; i++)
			fs_forget(st->fs, looked_up[i], 1);
	}

out_free:
	free(buf);
	free(looked_up);
	free(pf.names);
	free(pf.ent);
}

static void ops_releasedir(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void ops_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			 struct fuse_file_info *fi)
{
	fsync_start(req, OP_NAME, OPS_REQ_FSYNCDIR, ino, datasync != 0);
}

static void ops_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	int rc;

	rc = fs_statfs(req_state(req)->fs, &sv);
	if (rc < 0) {
		reply_fail(req, OP_NAME, ino, NULL, -rc);
		return;
	}
	fuse_reply_statfs(req, &sv);
}

static void ops_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode, struct fuse_file_info *fi)
{
	struct ops_state *st = req_state(req);
	struct fuse_entry_param e;
	struct fs_attr a;
	int rc;

	if (name_too_long(name)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	rc = create_node(req, parent, name, S_IFREG | (mode & 07777), 0, &a);
	/*
	 * The kernel sends create only for a name it believes absent and
	 * checks O_EXCL itself; if the name appeared meanwhile, a plain
	 * O_CREAT open takes the file that is there, as open(2) would.
	 */
	if (rc == -EEXIST && !(fi->flags & O_EXCL)) {
		rc = fs_lookup(st->fs, parent, name, &a);
		if (rc == 0 && S_ISDIR(a.mode)) {
			fs_forget(st->fs, a.ino, 1);
			rc = -EISDIR;
		}
		if (rc == 0 && (fi->flags & O_TRUNC)) {
			struct fs_setattr sa = { .mask = FS_SET_SIZE };
			struct ops_thread *t;

			rc = thread_get(st, &t);
			if (channel_request_kills_setid())
				sa.mask |= FS_SET_KILL_SETID;	/* rule 13 */
			if (rc == 0)
				rc = fs_setattr(st->fs, t->ctx, a.ino, &sa, &a);
			if (rc < 0)
				fs_forget(st->fs, a.ino, 1);
		}
	}
	if (rc < 0) {
		reply_fail(req, OP_NAME, parent, name, -rc);
		return;
	}
	rc = fs_open(st->fs, a.ino, fi->flags);
	if (rc < 0) {
		fs_forget(st->fs, a.ino, 1);
		reply_fail(req, OP_NAME, parent, name, -rc);
		return;
	}
	set_open_flags(st, a.ino, fi);
	attr_to_entry(st, &a, &e);
	if (fuse_reply_create(req, &e, fi)) {
		fs_release(st->fs, a.ino);
		fs_forget(st->fs, a.ino, 1);
	}
}

/*
 * An access ACL also sets the mode (acl.h rule 1).  Without negotiated ACL
 * support they are refused rather than stored: the kernel would keep them
 * as plain attributes and never enforce them.
 */
static void ops_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 const char *value, size_t size, int flags)
{
	struct ops_state *st = req_state(req);
	struct ops_thread *t;
	int rc;

	if (strncmp(name, "system.posix_acl_", strlen("system.posix_acl_"))) {
		reply_status(req, OP_NAME, ino, NULL,
			     fs_setxattr(st->fs, ino, name, value, size,
					 flags));
		return;
	}
	if (!st->acl) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (strcmp(name, ACL_XATTR_ACCESS)) {
		reply_status(req, OP_NAME, ino, NULL,
			     fs_setxattr(st->fs, ino, name, value, size,
					 flags));
		return;
	}
	rc = thread_get(st, &t);
	if (rc == 0)
		rc = acl_set_access(st->fs, t->ctx, ino, value, size, flags);
	reply_status(req, OP_NAME, ino, NULL, rc);
}

static void ops_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 size_t size)
{
	struct ops_state *st = req_state(req);
	char *buf = NULL;
	ssize_t n;

	if (size) {
		buf = malloc(size);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	n = fs_getxattr(st->fs, ino, name, buf, size);
	if (n < 0)
		reply_fail(req, OP_NAME, ino, NULL, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, n);
	else
		fuse_reply_buf(req, buf, n);
	free(buf);
}

static void ops_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct ops_state *st = req_state(req);
	char *buf = NULL;
	ssize_t n;

	if (size) {
		buf = malloc(size);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	n = fs_listxattr(st->fs, ino, buf, size);
	if (n < 0)
		reply_fail(req, OP_NAME, ino, NULL, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, n);
	else
		fuse_reply_buf(req, buf, n);
	free(buf);
}

static void ops_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	reply_status(req, OP_NAME, ino, NULL,
		     fs_removexattr(req_state(req)->fs, ino, name));
}

static void ops_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			  off_t offset, off_t length,
			  struct fuse_file_info *fi)
{
	struct ops_state *st = req_state(req);
	struct ops_thread *t;
	int rc;

	rc = thread_get(st, &t);
	if (rc == 0)
		rc = fs_fallocate(st->fs, t->ctx, ino, mode, offset, length);
	reply_status(req, OP_NAME, ino, NULL, rc);
}

/* SEEK_DATA or SEEK_HOLE, answered; timed from start (rule 9) to just
 * before the reply, after which a thread of its own (ops_lseek()) may
 * outlive the state. */
static void lseek_answer(fuse_req_t req, fuse_ino_t ino, off_t off,
			 int whence, uint64_t start)
{
	struct ops_state *st = req_state(req);
	uint64_t result = 0;
	int rc = 0;

	/* Rule 10: data the kernel still caches is data, not a hole. */
	if (st->writeback && st->se) {
		rc = fuse_lowlevel_notify_inval_inode(st->se, ino, off, 0);
		if (rc == -ENOENT)
			rc = 0;
	}
	/* On a thread of its own, the lseek may outlast the session loop,
	 * which a signal ends, and with it the engine (rule 7). */
	pthread_rwlock_rdlock(&st->gate);
	if (!rc)
		rc = st->fs ? fs_lseek(st->fs, ino, off, whence, &result) :
			      -EIO;
	pthread_rwlock_unlock(&st->gate);
	req_done(st, OPS_REQ_LSEEK, start);
	if (rc < 0)
		reply_fail(req, "lseek", ino, NULL, -rc);
	else
		fuse_reply_lseek(req, (off_t)result);
}

/* Rule 10: an lseek waiting for writeback, on a thread of its own. */
struct ops_lseek {
	fuse_req_t req;
	fuse_ino_t ino;
	off_t off;
	int whence;
	uint64_t start_ns;
};

static void *lseek_thread(void *arg)
{
	struct ops_lseek *l = arg;

	lseek_answer(l->req, l->ino, l->off, l->whence, l->start_ns);
	free(l);
	return NULL;
}

/* The kernel answers SEEK_SET, SEEK_CUR and SEEK_END itself. */
static void ops_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		      struct fuse_file_info *fi)
{
	struct ops_state *st = req_state(req);
	uint64_t start = now_ns();
	struct ops_lseek *l;
	pthread_attr_t attr;
	pthread_t thread;
	int rc = ENOMEM;

	if ((whence != SEEK_DATA && whence != SEEK_HOLE) || off < 0) {
		fuse_reply_err(req, EINVAL);
		req_done(st, OPS_REQ_LSEEK, start);
		return;
	}
	if (!st->writeback) {
		lseek_answer(req, ino, off, whence, start);
		return;
	}
	l = malloc(sizeof(*l));
	if (l) {
		*l = (struct ops_lseek){ req, ino, off, whence, start };
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&thread, &attr, lseek_thread, l);
		pthread_attr_destroy(&attr);
		if (!rc)
			return;
		free(l);
	}
	fuse_reply_err(req, rc);
	req_done(st, OPS_REQ_LSEEK, start);
}

static void ops_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
				off_t off_in, struct fuse_file_info *fi_in,
				fuse_ino_t ino_out, off_t off_out,
				struct fuse_file_info *fi_out, size_t len,
				int flags)
{
	struct ops_state *st = req_state(req);
	struct ops_thread *t;
	ssize_t n;
	int rc;

	if (flags) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	rc = thread_get(st, &t);
	if (rc < 0) {
		reply_fail(req, OP_NAME, ino_in, NULL, -rc);
		return;
	}
	n = fs_copy_file_range(st->fs, t->ctx, ino_in, off_in, ino_out,
			       off_out, len);
	if (n < 0) {
		reply_fail(req, OP_NAME, ino_in, NULL, (int)-n);
		return;
	}
	fuse_reply_write(req, n);
}

/* Rule 8: the counters, for root and the user who mounted (statctl.h). */
static void ioctl_get_stats(fuse_req_t req, size_t out_bufsz)
{
	struct ops_state *st = req_state(req);
	uid_t uid = fuse_req_ctx(req)->uid;
	uint64_t req_words[OPS_REQ_NR * STATS_WORDS(struct stats_hist)];
	struct statctl_reply *r;

	if (out_bufsz < sizeof(*r)) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	if (uid != 0 && uid != st->owner) {
		fuse_reply_err(req, EPERM);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r->version = STATCTL_VERSION;
	r->uptime_ns = now_ns() - st->attached_ns;
	stats_fold(bdev_stats(fs_bdev(st->fs)), (uint64_t *)&r->engine);
	stats_fold(st->req_stats, req_words);
	memcpy(r->req, req_words, sizeof(req_words));
	fuse_reply_ioctl(req, 0, r, sizeof(*r));
	free(r);
}

/* ---- ioctls (rule 8) ---------------------------------------------------- */

/* The caller's effective capabilities, as a CAP_* bit mask. */
static uint64_t caller_caps(fuse_req_t req)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	uint64_t caps = 0;
	bool found = false;
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)c->pid);
	f = c->pid > 0 ? fopen(path, "re") : NULL;
	if (f) {
		while (!found && fgets(line, sizeof(line), f))
			found = sscanf(line, "CapEff: %" SCNx64, &caps) == 1;
		fclose(f);
	}
	if (!found)
		caps = c->uid == 0 ? UINT64_MAX : 0;
	return caps;
}

static bool has_cap(uint64_t caps, int cap)
{
	return caps & (1ull << cap);
}

/* FS_XFLAG_* and FS_FL_* for the four flags diofs keeps. */
static const struct {
	uint32_t xflag, flag;
} xflag_map[] = {
	{ FS_XFLAG_IMMUTABLE, FS_FL_IMMUTABLE },
	{ FS_XFLAG_APPEND, FS_FL_APPEND },
	{ FS_XFLAG_NODUMP, FS_FL_NODUMP },
	{ FS_XFLAG_NOATIME, FS_FL_NOATIME },
};

static uint32_t flags_to_xflags(uint32_t flags)
{
	uint32_t x = 0;
	size_t i;

	for (i = 0; i < sizeof(xflag_map) / sizeof(xflag_map[0]); i++)
		if (flags & xflag_map[i].flag)
			x |= xflag_map[i].xflag;
	return x;
}

/* -EOPNOTSUPP for an xflag or field diofs does not keep. */
static int xattr_to_flags(const struct fsxattr *fx, uint32_t *flags)
{
	uint32_t x = fx->fsx_xflags;
	size_t i;

	*flags = 0;
	for (i = 0; i < sizeof(xflag_map) / sizeof(xflag_map[0]); i++)
		if (x & xflag_map[i].xflag) {
			*flags |= xflag_map[i].flag;
			x &= ~xflag_map[i].xflag;
		}
	if (x || fx->fsx_extsize || fx->fsx_projid || fx->fsx_cowextsize)
		return -EOPNOTSUPP;
	return 0;
}

static void ioctl_get_flags(fuse_req_t req, fuse_ino_t ino, unsigned cmd,
			    size_t out_bufsz)
{
	struct fsxattr fx = { 0 };
	uint32_t flags;
	int rc;

	if (out_bufsz < (cmd == FS_IOC_FSGETXATTR ? sizeof(fx) :
						    sizeof(flags))) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	rc = fs_get_flags(req_state(req)->fs, ino, &flags);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (cmd != FS_IOC_FSGETXATTR) {
		fuse_reply_ioctl(req, 0, &flags, sizeof(flags));
		return;
	}
	fx.fsx_xflags = flags_to_xflags(flags);
	fuse_reply_ioctl(req, 0, &fx, sizeof(fx));
}

static void ioctl_set_flags(fuse_req_t req, fuse_ino_t ino, unsigned cmd,
			    const void *in_buf, size_t in_bufsz)
{
	struct fs_flags_caller who;
	struct fsxattr fx;
	uint32_t flags;
	uint64_t caps;
	int rc = 0;

	if (cmd == FS_IOC_FSSETXATTR && in_bufsz >= sizeof(fx)) {
		memcpy(&fx, in_buf, sizeof(fx));
		rc = xattr_to_flags(&fx, &flags);
	} else if (cmd != FS_IOC_FSSETXATTR && in_bufsz >= sizeof(flags)) {
		memcpy(&flags, in_buf, sizeof(flags));
	} else {
		rc = -EINVAL;
	}
	if (rc == 0) {
		caps = caller_caps(req);
		who.uid = fuse_req_ctx(req)->uid;
		who.cap_linux_immutable = has_cap(caps, CAP_LINUX_IMMUTABLE);
		who.cap_fowner = has_cap(caps, CAP_FOWNER);
		rc = fs_set_flags(req_state(req)->fs, ino, flags, &who);
	}
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}

/* The flag comes from the caller's memory (rule 8). */
static void ioctl_shutdown(fuse_req_t req, void *arg)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct iovec local, remote;
	uint32_t how;
	int rc;

	if (!has_cap(caller_caps(req), CAP_SYS_ADMIN)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	local.iov_base = &how;
	local.iov_len = sizeof(how);
	remote.iov_base = arg;
	remote.iov_len = sizeof(how);
	if (process_vm_readv(c->pid, &local, 1, &remote, 1, 0) !=
	    (ssize_t)sizeof(how)) {
		fuse_reply_err(req, errno == ESRCH ? EINTR : EFAULT);
		return;
	}
	switch (how) {
	case FS_GOING_DOWN_FULLSYNC:
		rc = fs_shutdown(req_state(req)->fs, FS_SHUTDOWN_FULLSYNC);
		break;
	case FS_GOING_DOWN_METAFLUSH:
		rc = fs_shutdown(req_state(req)->fs, FS_SHUTDOWN_METAFLUSH);
		break;
	case FS_GOING_DOWN_NOSYNC:
		rc = fs_shutdown(req_state(req)->fs, FS_SHUTDOWN_NOSYNC);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}

static void ioctl_set_ro(fuse_req_t req, fuse_ino_t ino, const void *in_buf,
			 size_t in_bufsz)
{
	uint32_t ro;
	int rc;

	if (ino != FUSE_ROOT_ID || in_bufsz != sizeof(ro)) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	if (fuse_req_ctx(req)->uid != 0) {
		fuse_reply_err(req, EPERM);
		return;
	}
	memcpy(&ro, in_buf, sizeof(ro));
	rc = fs_set_read_only(req_state(req)->fs, ro != 0);
	if (rc < 0) {
		log_msg(LOG_ERR, "cannot remount %s: %s",
			ro ? "read-only" : "read-write", strerror(-rc));
		fuse_reply_err(req, -rc);
	} else {
		log_msg(LOG_NOTICE, "remounted %s", ro ? "read-only" : "read-write");
		fuse_reply_ioctl(req, 0, NULL, 0);
	}
}

static void ops_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd,
		      void *arg, struct fuse_file_info *fi, unsigned flags,
		      const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	switch (cmd) {
	case DIOFS_IOC_SET_RO:
		ioctl_set_ro(req, ino, in_buf, in_bufsz);
		break;
	case DIOFS_IOC_GET_STATS:
		if (ino == FUSE_ROOT_ID)
			ioctl_get_stats(req, out_bufsz);
		else
			fuse_reply_err(req, ENOTTY);
		break;
	case FS_IOC_GETFLAGS:
	case FS_IOC32_GETFLAGS:
	case FS_IOC_FSGETXATTR:
		ioctl_get_flags(req, ino, cmd, out_bufsz);
		break;
	case FS_IOC_SETFLAGS:
	case FS_IOC32_SETFLAGS:
	case FS_IOC_FSSETXATTR:
		ioctl_set_flags(req, ino, cmd, in_buf, in_bufsz);
		break;
	case FS_IOC_SHUTDOWN:
		ioctl_shutdown(req, arg);
		break;
	default:
		fuse_reply_err(req, ENOTTY);
	}
}

/* ---- rule 9: every request timed ---------------------------------------- */

/* The handler has replied by the time it returns: req is gone, so st is
 * taken before. */
#define P(...)	__VA_ARGS__
#define TIMED(op, kind, params, args)					\
	static void timed_##op(fuse_req_t req, params)			\
	{								\
		struct ops_state *st = req_state(req);			\
		uint64_t start = now_ns();				\
									\
		ops_##op(req, args);					\
		req_done(st, OPS_REQ_##kind, start);			\
	}

TIMED(lookup, LOOKUP, P(fuse_ino_t parent, const char *name), P(parent, name))
TIMED(forget, FORGET, P(fuse_ino_t ino, uint64_t nlookup), P(ino, nlookup))
TIMED(forget_multi, FORGET,
	  P(size_t count, struct fuse_forget_data *forgets),
	  P(count, forgets))
TIMED(getattr, GETATTR,
	  P(fuse_ino_t ino, struct fuse_file_info *fi),
	  P(ino, fi))
TIMED(setattr, SETATTR,
	  P(fuse_ino_t ino, struct stat *attr, int to_set,
	    struct fuse_file_info *fi),
	  P(ino, attr, to_set, fi))
TIMED(readlink, READLINK, P(fuse_ino_t ino), P(ino))
TIMED(mknod, MKNOD,
	  P(fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev),
	  P(parent, name, mode, rdev))
TIMED(mkdir, MKDIR,
	  P(fuse_ino_t parent, const char *name, mode_t mode),
	  P(parent, name, mode))
TIMED(unlink, UNLINK, P(fuse_ino_t parent, const char *name), P(parent, name))
TIMED(rmdir, RMDIR, P(fuse_ino_t parent, const char *name), P(parent, name))
TIMED(symlink, SYMLINK,
	  P(const char *target, fuse_ino_t parent, const char *name),
	  P(target, parent, name))
TIMED(rename, RENAME,
	  P(fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	    const char *newname, unsigned int flags),
	  P(parent, name, newparent, newname, flags))
TIMED(link, LINK,
	  P(fuse_ino_t ino, fuse_ino_t newparent, const char *newname),
	  P(ino, newparent, newname))
TIMED(open, OPEN, P(fuse_ino_t ino, struct fuse_file_info *fi), P(ino, fi))
TIMED(release, RELEASE,
	  P(fuse_ino_t ino, struct fuse_file_info *fi),
	  P(ino, fi))
TIMED(opendir, OPENDIR,
	  P(fuse_ino_t ino, struct fuse_file_info *fi),
	  P(ino, fi))
TIMED(readdir, READDIR,
	  P(fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi),
	  P(ino, size, off, fi))
TIMED(readdirplus, READDIRPLUS,
	  P(fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi),
	  P(ino, size, off, fi))
TIMED(releasedir, RELEASEDIR,
	  P(fuse_ino_t ino, struct fuse_file_info *fi),
	  P(ino, fi))
TIMED(statfs, STATFS, P(fuse_ino_t ino), P(ino))
TIMED(create, CREATE,
	  P(fuse_ino_t parent, const char *name, mode_t mode,
	    struct fuse_file_info *fi),
	  P(parent, name, mode, fi))
TIMED(setxattr, SETXATTR,
	  P(fuse_ino_t ino, const char *name, const char *value, size_t size,
	    int flags),
	  P(ino, name, value, size, flags))
TIMED(getxattr, GETXATTR,
	  P(fuse_ino_t ino, const char *name, size_t size),
	  P(ino, name, size))
TIMED(listxattr, LISTXATTR, P(fuse_ino_t ino, size_t size), P(ino, size))
TIMED(removexattr, REMOVEXATTR,
	  P(fuse_ino_t ino, const char *name),
	  P(ino, name))
TIMED(fallocate, FALLOCATE,
	  P(fuse_ino_t ino, int mode, off_t offset, off_t length,
	    struct fuse_file_info *fi),
	  P(ino, mode, offset, length, fi))
TIMED(copy_file_range, COPY_FILE_RANGE,
	  P(fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in,
	    fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out, size_t len,
	    int flags),
	  P(ino_in, off_in, fi_in, ino_out, off_out, fi_out, len, flags))
TIMED(ioctl, IOCTL,
	  P(fuse_ino_t ino, unsigned int cmd, void *arg,
	    struct fuse_file_info *fi, unsigned flags, const void *in_buf,
	    size_t in_bufsz, size_t out_bufsz),
	  P(ino, cmd, arg, fi, flags, in_buf, in_bufsz, out_bufsz))

/*
 * access is left out on purpose: default_permissions makes the kernel
 * check permissions itself and never send it.
 */
const struct fuse_lowlevel_ops ops_table = {
	.init = ops_init,
	.destroy = ops_destroy,
	.lookup = timed_lookup,
	.forget = timed_forget,
	.forget_multi = timed_forget_multi,
	.getattr = timed_getattr,
	.setattr = timed_setattr,
	.readlink = timed_readlink,
	.mknod = timed_mknod,
	.mkdir = timed_mkdir,
	.unlink = timed_unlink,
	.rmdir = timed_rmdir,
	.symlink = timed_symlink,
	.rename = timed_rename,
	.link = timed_link,
	.open = timed_open,
	.read = ops_read,		/* timed as it is answered (rule 15) */
	.write_buf = ops_write_buf,	/* timed as it is answered (rule 15) */
	/* No flush: data reaches the device in write(), so close has
	 * nothing to send, and the kernel stops asking after the first
	 * ENOSYS, which saves a round trip on every close. */
	.release = timed_release,
	.fsync = ops_fsync,		/* timed as it is answered (rule 17) */
	.opendir = timed_opendir,
	.readdir = timed_readdir,
	.readdirplus = timed_readdirplus,
	.releasedir = timed_releasedir,
	.fsyncdir = ops_fsyncdir,	/* rule 17 */
	.statfs = timed_statfs,
	.create = timed_create,
	.setxattr = timed_setxattr,
	.getxattr = timed_getxattr,
	.listxattr = timed_listxattr,
	.removexattr = timed_removexattr,
	.fallocate = timed_fallocate,
	.lseek = ops_lseek,		/* timed as it is answered (rule 10) */
	.copy_file_range = timed_copy_file_range,
	.ioctl = timed_ioctl,
};
