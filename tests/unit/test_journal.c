/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_journal: the journal's promises, case by case, on the in-memory
 * test device.  test_crash covers crash states wholesale; this suite pins
 * down each rule where it can be seen alone.
 *
 * Rules:
 *  1. A "crash" is a copy of the device as it is at that moment, mounted
 *     or checked on a fresh test device; the original goes on or is
 *     dropped.
 *  2. Every case runs over the geometries of fsenv.h it names, and every
 *     device is checked with fsck_run() before it is dropped, but where a
 *     case damages it on purpose.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diofs/crc.h"
#include "diofs/format.h"
#include "diofs/inode.h"
#include "diofs/journal.h"
#include "diofs/util.h"
#include "checker.h"
#include "fsenv.h"
#include "pattern.h"

#define DEV_SIZE	(16 * MiB)
#define FILE_SIZE	(40 * KiB)

static const struct fs_cred root_cred = { 0, 0, 022 };

/* /name, FILE_SIZE bytes of pattern seed; returns the inode number. */
static uint64_t make_file(struct env *e, const char *name, unsigned seed)
{
	unsigned char *buf = xalloc(FILE_SIZE);
	struct iovec iov = { buf, FILE_SIZE };
	struct fs_attr a;

	fill_pat(buf, FILE_SIZE, 0, seed);
	ck_assert_int_eq(fs_mknod(e->fs, DIOFS_ROOT_INO, name, S_IFREG | 0644,
				  0, &root_cred, &a), 0);
	ck_assert_int_eq(fs_write(e->fs, e->ctx, a.ino, 0, &iov, 1),
			 FILE_SIZE);
	free(buf);
	return a.ino;
}

/* /name holds pattern seed (present) or does not exist. */
static void expect_file(struct env *e, const char *name, unsigned seed,
			bool present)
{
	unsigned char *buf, *want;
	struct iovec iov;
	struct fs_attr a;
	int err = fs_lookup(e->fs, DIOFS_ROOT_INO, name, &a);

	if (!present) {
		ck_assert_msg(err == -ENOENT, "%s: /%s: lookup %d, want gone",
			      where, name, err);
		return;
	}
	ck_assert_msg(err == 0, "%s: /%s: lookup %d", where, name, err);
	ck_assert_uint_eq(a.size, FILE_SIZE);
	buf = xalloc(FILE_SIZE);
	want = xalloc(FILE_SIZE);
	fill_pat(want, FILE_SIZE, 0, seed);
	iov.iov_base = buf;
	iov.iov_len = FILE_SIZE;
	ck_assert_int_eq(fs_read(e->fs, e->ctx, a.ino, 0, &iov, 1), FILE_SIZE);
	ck_assert_msg(!memcmp(buf, want, FILE_SIZE), "%s: /%s: wrong data",
		      where, name);
	fs_forget(e->fs, a.ino, 1);
	free(buf);
	free(want);
}

/* Rule 1: the device as it is now, on a device of its own. */
static struct bdev *crash_copy(struct env *e)
{
	struct bdev_test_opts bo = { .size = e->size };
	struct bdev *copy;

	bo.block_size = bdev_block_size(e->bdev);
	ck_assert_int_eq(bdev_test_create(&bo, &copy), 0);
	memcpy(bdev_test_data(copy), bdev_test_data(e->bdev), e->size);
	return copy;
}

/* Drop the original (it crashed) and carry on with the copy, unmounted. */
static void crash_to(struct env *e, struct bdev *copy)
{
	dio_ctx_destroy(e->ctx);
	e->ctx = NULL;
	fs_unmount(e->fs);
	e->fs = NULL;
	bdev_close(e->bdev);
	e->bdev = copy;
}

/* fsck on e's device; its report in *out (to free) unless out is NULL. */
static struct fsck_result check(struct env *e, int repair, char **out)
{
	struct fsck_opts o = { .repair = repair };
	struct fsck_result res;
	char *text = NULL;
	size_t len = 0;

	o.out = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(o.out);
	ck_assert_msg(fsck_run(e->bdev, &o, &res) == 0, "%s: fsck: %s", where,
		      res.msg);
	fclose(o.out);
	if (out)
		*out = text;
	else
		free(text);
	return res;
}

static void expect_clean(struct env *e)
{
	char *out;
	struct fsck_result r = check(e, 0, &out);

	ck_assert_msg(r.found == 0, "%s: fsck:\n%s", where, out);
	free(out);
}

static bool sb_needs_recovery(struct env *e)
{
	struct super sb;
	char msg[200];

	ck_assert_int_eq(super_read(e->bdev, &sb, msg, sizeof(msg)), 0);
	return sb.incompat & DIOFS_FEAT_INCOMPAT_RECOVER;
}

/* ---- replay ------------------------------------------------------------------ */

/* What fsync returned for survives; fsck -n sees it without writing; the
 * mount replays it, says so, and the next unmount leaves no RECOVER. */
START_TEST(t_replay)
{
	struct env e;
	unsigned char *before;
	const char *notice;
	char *out;
	struct fsck_result r;

	env_init(&e, &geoms[_i], DEV_SIZE, NULL);
	make_file(&e, "a", 1);
	ck_assert_int_eq(fs_fsync(e.fs, make_file(&e, "b", 2), false), 0);
	make_file(&e, "c", 3);		/* never committed */
	crash_to(&e, crash_copy(&e));
	ck_assert(sb_needs_recovery(&e));

	before = xalloc(e.size);
	memcpy(before, bdev_test_data(e.bdev), e.size);
	r = check(&e, 0, &out);
	ck_assert_msg(r.found == 0 && strstr(out, "replayed in memory only"),
		      "%s: fsck -n:\n%s", where, out);
	ck_assert_msg(!memcmp(before, bdev_test_data(e.bdev), e.size),
		      "%s: fsck -n wrote to the device", where);
	free(out);
	free(before);

	env_mount(&e);
	notice = fs_mount_notice(e.fs);
	ck_assert_msg(notice && strstr(notice, "recovered the journal"),
		      "%s: notice %s", where, notice ? notice : "(none)");
	expect_file(&e, "a", 1, true);	/* committed with b's fsync */
	expect_file(&e, "b", 2, true);
	expect_file(&e, "c", 3, false);
	env_unmount(&e);
	ck_assert(!sb_needs_recovery(&e));
	expect_clean(&e);
	env_done(&e);
}
END_TEST

/* A read-only mount replays in memory only: the files are there and not a
 * byte of the device changes; a later read-write mount replays for real. */
START_TEST(t_readonly_replay)
{
	struct fs_mount_opts ro = { .read_only = true };
	const char *msg = NULL;
	unsigned char *before;
	struct env e;

	env_init(&e, &geoms[_i], DEV_SIZE, NULL);
	make_file(&e, "a", 4);
	ck_assert_int_eq(fs_sync(e.fs), 0);
	crash_to(&e, crash_copy(&e));

	before = xalloc(e.size);
	memcpy(before, bdev_test_data(e.bdev), e.size);
	ck_assert_int_eq(fs_mount_bdev(e.bdev, &ro, &e.fs, &msg), 0);
	ck_assert_int_eq(dio_ctx_create(e.bdev, NULL, &e.ctx), 0);
	ck_assert_ptr_nonnull(strstr(fs_mount_notice(e.fs), "in memory only"));
	expect_file(&e, "a", 4, true);
	env_unmount(&e);
	ck_assert_msg(!memcmp(before, bdev_test_data(e.bdev), e.size),
		      "%s: a read-only mount wrote to the device", where);
	free(before);
	ck_assert(sb_needs_recovery(&e));

	env_mount(&e);
	expect_file(&e, "a", 4, true);
	env_unmount(&e);
	expect_clean(&e);
	env_done(&e);
}
END_TEST

/*
 * A transaction whose commit record never reached the device is not
 * replayed, and the mount says an incomplete one was discarded: the state
 * is that of the commit before.
 */
START_TEST(t_torn_commit)
{
	unsigned char *img;
	size_t i, last_write = 0, n;
	struct env e;
	struct bdev *copy;

	env_init(&e, &geoms[_i], DEV_SIZE, NULL);
	make_file(&e, "a", 5);
	ck_assert_int_eq(fs_sync(e.fs), 0);
	img = xalloc(e.size);
	memcpy(img, bdev_test_data(e.bdev), e.size);
	bdev_test_log_clear(e.bdev);
	make_file(&e, "b", 6);
	ck_assert_int_eq(fs_sync(e.fs), 0);

	/* The commit record is the last write before the last flush. */
	n = bdev_test_log_count(e.bdev);
	for (i = 0; i < n; i++)
		if (bdev_test_log_entry(e.bdev, i)->kind == BDEV_LOG_WRITE)
			last_write = i;
	copy = crash_copy(&e);
	memcpy(bdev_test_data(copy), img, e.size);
	for (i = 0; i < last_write; i++) {
		const struct bdev_log_entry *le = bdev_test_log_entry(e.bdev, i);

		if (le->kind == BDEV_LOG_WRITE)
			memcpy(bdev_test_data(copy) + le->offset, le->data,
			       le->len);
	}
	free(img);
	crash_to(&e, copy);

	env_mount(&e);
	ck_assert_ptr_nonnull(strstr(fs_mount_notice(e.fs),
				     "incomplete last transaction was discarded"));
	expect_file(&e, "a", 5, true);
	expect_file(&e, "b", 6, false);
	env_unmount(&e);
	expect_clean(&e);
	env_done(&e);
}
END_TEST

/* ---- refusals and failures --------------------------------------------------- */

/* Rewrite the journal superblock's version and restamp it. */
static void set_journal_version(struct env *e, uint32_t version)
{
	struct super sb;
	struct diofs_jsuper *js;
	char msg[200];

	ck_assert_int_eq(super_read(e->bdev, &sb, msg, sizeof(msg)), 0);
	js = (void *)(bdev_test_data(e->bdev) + sb.journal_start * e->bs);
	js->version = htole32(version);
	blkhdr_stamp(js, e->bs, DIOFS_MAGIC_JSUPER, sb.journal_start, sb.uuid);
}

START_TEST(t_newer_journal_refused)
{
	struct fs_mount_opts o = { 0 };
	const char *msg = NULL;
	struct fs *fs;
	struct env e;

	env_init(&e, &geoms[_i], DEV_SIZE, NULL);
	env_unmount(&e);
	set_journal_version(&e, DIOFS_JOURNAL_VERSION + 1);
	ck_assert_int_eq(fs_mount_bdev(e.bdev, &o, &fs, &msg), -EOPNOTSUPP);
	ck_assert_msg(msg && strstr(msg, "newer than this diofs knows"),
		      "%s: %s", where, msg ? msg : "(no message)");
	set_journal_version(&e, DIOFS_JOURNAL_VERSION);
	env_mount(&e);
	env_done(&e);
}
END_TEST

/*
 * A journal write fails: the filesystem turns read-only with that error,
 * what committed before survives, and the next mount replays it.
 */
START_TEST(t_journal_write_fails)
{
	struct super sb;
	char msg[200];
	struct env e;

	env_init(&e, &geoms[_i], DEV_SIZE, NULL);
	ck_assert_int_eq(super_read(e.bdev, &sb, msg, sizeof(msg)), 0);
	ck_assert_int_eq(fs_fsync(e.fs, make_file(&e, "a", 7), false), 0);
	bdev_test_fail_range(e.bdev, BDEV_WRITE, sb.journal_start * e.bs,
			     sb.journal_blocks * e.bs, -EIO);
	ck_assert_int_eq(fs_fsync(e.fs, make_file(&e, "b", 8), false), -EIO);
	ck_assert_int_eq(fs_error(e.fs), -EIO);
	{
		struct fs_attr a;

		ck_assert_int_eq(fs_mknod(e.fs, DIOFS_ROOT_INO, "c",
					  S_IFREG | 0644, 0, &root_cred, &a),
				 -EROFS);
	}
	bdev_test_clear_faults(e.bdev);
	dio_ctx_destroy(e.ctx);
	e.ctx = NULL;
	ck_assert_int_eq(fs_unmount(e.fs), -EIO);
	e.fs = NULL;
	ck_assert(sb_needs_recovery(&e));

	env_mount(&e);
	expect_file(&e, "a", 7, true);
	expect_file(&e, "b", 8, false);
	env_unmount(&e);
	expect_clean(&e);
	env_done(&e);
}
END_TEST

/*
 * A damaged journal superblock on a filesystem that needs recovery: the
 * mount refuses and names fsck; fsck -n reports it and writes nothing;
 * fsck -y empties the journal in one pass.
 */
START_TEST(t_damaged_journal_superblock)
{
	struct fs_mount_opts o = { 0 };
	const char *msg = NULL;
	struct fsck_result r;
	struct super sb;
	char text[200], *out;
	struct fs *fs;
	struct env e;

	env_init(&e, &geoms[_i], DEV_SIZE, NULL);
	make_file(&e, "a", 9);
	ck_assert_int_eq(fs_sync(e.fs), 0);
	crash_to(&e, crash_copy(&e));
	ck_assert_int_eq(super_read(e.bdev, &sb, text, sizeof(text)), 0);
	bdev_test_data(e.bdev)[sb.journal_start * e.bs + 40] ^= 0xff;

	ck_assert_int_eq(fs_mount_bdev(e.bdev, &o, &fs, &msg), -EUCLEAN);
	ck_assert_msg(msg && strstr(msg, "run fsck.diofs -y"), "%s: %s", where,
		      msg ? msg : "(no message)");
	r = check(&e, 0, &out);
	ck_assert_msg(r.found >= 1 && strstr(out, "journal: its superblock is damaged"),
		      "%s: fsck -n:\n%s", where, out);
	free(out);
	r = check(&e, 1, &out);
	ck_assert_msg(r.fixed >= 1 && r.left == 0, "%s: fsck -y:\n%s", where,
		      out);
	free(out);
	ck_assert(!sb_needs_recovery(&e));
	expect_clean(&e);
	env_mount(&e);
	env_done(&e);
}
END_TEST

/* ---- commits ----------------------------------------------------------------- */

/*
 * An fsync with nothing new to commit writes nothing to the journal but
 * still flushes (the file's data written in place); one with a change
 * writes records and flushes twice, the commit record between the two.
 */
START_TEST(t_fsync_flushes)
{
	unsigned char buf[512];
	struct iovec iov = { buf, sizeof(buf) };
	size_t i, n, writes = 0, flushes = 0, last_write = 0, first_flush = 0;
	struct env e;
	uint64_t ino;

	env_init(&e, &geoms[_i], DEV_SIZE, NULL);
	ino = make_file(&e, "a", 10);
	ck_assert_int_eq(fs_fsync(e.fs, ino, true), 0);
	fill_pat(buf, sizeof(buf), 0, 11);
	ck_assert_int_eq(fs_write(e.fs, e.ctx, ino, 0, &iov, 1), sizeof(buf));
	bdev_test_log_clear(e.bdev);
	ck_assert_int_eq(fs_fsync(e.fs, ino, true), 0);
	n = bdev_test_log_count(e.bdev);
	for (i = 0; i < n; i++)
		if (bdev_test_log_entry(e.bdev, i)->kind == BDEV_LOG_FLUSH)
			flushes++;
	ck_assert_msg(n == 1 && flushes == 1,
		      "%s: an fsync of an overwrite: %zu entries, %zu flushes",
		      where, n, flushes);

	make_file(&e, "b", 12);
	bdev_test_log_clear(e.bdev);
	ck_assert_int_eq(fs_sync(e.fs), 0);
	n = bdev_test_log_count(e.bdev);
	flushes = 0;
	for (i = 0; i < n; i++) {
		if (bdev_test_log_entry(e.bdev, i)->kind == BDEV_LOG_FLUSH) {
			if (!flushes++)
				first_flush = i;
		} else {
			writes++;
			last_write = i;
		}
	}
	ck_assert_msg(flushes == 2 && writes >= 2 && first_flush < last_write &&
		      last_write == n - 2,
		      "%s: a commit: %zu writes, %zu flushes (first at %zu, last write at %zu of %zu)",
		      where, writes, flushes, first_flush, last_write, n);
	env_unmount(&e);
	expect_clean(&e);
	env_done(&e);
}
END_TEST

/* Mount e's device again with o (its log, ctx and all). */
static void remount_with(struct env *e, const struct fs_mount_opts *o)
{
	const char *msg = NULL;

	env_unmount(e);
	ck_assert_msg(fs_mount_bdev(e->bdev, o, &e->fs, &msg) == 0, "%s: %s",
		      where, msg ? msg : "mount");
	ck_assert_int_eq(dio_ctx_create(e->bdev, NULL, &e->ctx), 0);
}

/* -o sync: every change is durable when its call returns, no fsync. */
START_TEST(t_sync_mount)
{
	struct fs_mount_opts o = { .sync = true };
	struct env e;

	env_init(&e, &geoms[_i], DEV_SIZE, NULL);
	remount_with(&e, &o);
	make_file(&e, "a", 13);
	crash_to(&e, crash_copy(&e));
	env_mount(&e);
	expect_file(&e, "a", 13, true);
	env_unmount(&e);
	expect_clean(&e);
	env_done(&e);
}
END_TEST

/* The commit interval commits what changed without anyone asking. */
START_TEST(t_commit_interval)
{
	struct fs_mount_opts o = { .commit_secs = 1 };
	struct env e;

	env_init(&e, &geoms[_i], DEV_SIZE, NULL);
	remount_with(&e, &o);
	make_file(&e, "a", 14);
	sleep(3);
	crash_to(&e, crash_copy(&e));
	env_mount(&e);
	expect_file(&e, "a", 14, true);
	env_unmount(&e);
	expect_clean(&e);
	env_done(&e);
}
END_TEST

/* ---- fsync answered by the committer ------------------------------------------ */

/* What an fs_fsync_start()'s done saw. */
struct fsync_seen {
	struct fs_fsync f;
	bool done;
	int err;
	pthread_t thread;
};

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t seen_cond = PTHREAD_COND_INITIALIZER;

static void seen_done(struct fs_fsync *f, int err)
{
	struct fsync_seen *s = container_of(f, struct fsync_seen, f);

	pthread_mutex_lock(&seen_lock);
	s->err = err;
	s->thread = pthread_self();
	s->done = true;
	pthread_cond_broadcast(&seen_cond);
	pthread_mutex_unlock(&seen_lock);
}

static void seen_start(struct env *e, uint64_t ino, struct fsync_seen *s)
{
	*s = (struct fsync_seen){ .f.done = seen_done };
	ck_assert_int_eq(fs_fsync_start(e->fs, ino, false, &s->f),
			 FS_FSYNC_STARTED);
}

static int seen_wait(struct fsync_seen *s)
{
	pthread_mutex_lock(&seen_lock);
	while (!s->done)
		pthread_cond_wait(&seen_cond, &seen_lock);
	pthread_mutex_unlock(&seen_lock);
	ck_assert(!pthread_equal(s->thread, pthread_self()));
	return s->err;
}

static size_t logged_flushes(struct env *e)
{
	size_t i, n = bdev_test_log_count(e->bdev), flushes = 0;

	for (i = 0; i < n; i++)
		if (bdev_test_log_entry(e->bdev, i)->kind == BDEV_LOG_FLUSH)
			flushes++;
	return flushes;
}

/*
 * fsyncs started while no commit can begin (an update is open: commit.h
 * rule 3) wait, then are answered together by one commit (two flushes),
 * from the committer's thread, and what they covered survives a crash.
 */
START_TEST(t_fsync_start)
{
	static const char *const names[] = { "a", "b", "c" };
	struct fsync_seen s[3];
	uint64_t ino[3];
	struct env e;
	int i;

	env_init(&e, &geoms[_i], DEV_SIZE, NULL);
	for (i = 0; i < 3; i++)
		ino[i] = make_file(&e, names[i], 20 + i);
	bdev_test_log_clear(e.bdev);
	fs_update_begin(e.fs);
	for (i = 0; i < 3; i++)
		seen_start(&e, ino[i], &s[i]);
	usleep(20000);
	pthread_mutex_lock(&seen_lock);
	for (i = 0; i < 3; i++)
		ck_assert_msg(!s[i].done, "%s: fsync %d answered before its commit",
			      where, i);
	pthread_mutex_unlock(&seen_lock);
	fs_update_end(e.fs);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(seen_wait(&s[i]), 0);
	ck_assert_msg(logged_flushes(&e) == 2,
		      "%s: three fsyncs, %zu flushes: want one commit", where,
		      logged_flushes(&e));

	crash_to(&e, crash_copy(&e));
	env_mount(&e);
	for (i = 0; i < 3; i++)
		expect_file(&e, names[i], 20 + i, true);
	env_unmount(&e);
	expect_clean(&e);
	env_done(&e);
}
END_TEST

/* A commit that fails answers the fsyncs waiting for it with its error. */
START_TEST(t_fsync_start_fails)
{
	struct fsync_seen s;
	struct super sb;
	char msg[200];
	struct env e;

	env_init(&e, &geoms[_i], DEV_SIZE, NULL);
	ck_assert_int_eq(super_read(e.bdev, &sb, msg, sizeof(msg)), 0);
	bdev_test_fail_range(e.bdev, BDEV_WRITE, sb.journal_start * e.bs,
			     sb.journal_blocks * e.bs, -EIO);
	seen_start(&e, make_file(&e, "a", 23), &s);
	ck_assert_int_eq(seen_wait(&s), -EIO);
	ck_assert_int_eq(fs_error(e.fs), -EIO);
	bdev_test_clear_faults(e.bdev);
	dio_ctx_destroy(e.ctx);
	e.ctx = NULL;
	ck_assert_int_eq(fs_unmount(e.fs), -EIO);
	e.fs = NULL;
	env_mount(&e);
	expect_file(&e, "a", 23, false);
	env_unmount(&e);
	expect_clean(&e);
	env_done(&e);
}
END_TEST

static Suite *journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("journal");

	tcase_set_timeout(tc, CASE_TIMEOUT);
	tcase_add_loop_test(tc, t_replay, 0, NGEOMS);
	tcase_add_loop_test(tc, t_readonly_replay, 0, NGEOMS);
	tcase_add_loop_test(tc, t_torn_commit, 0, NGEOMS);
	tcase_add_loop_test(tc, t_newer_journal_refused, 0, NGEOMS);
	tcase_add_loop_test(tc, t_journal_write_fails, 0, NGEOMS);
	tcase_add_loop_test(tc, t_damaged_journal_superblock, 0, NGEOMS);
	tcase_add_loop_test(tc, t_fsync_flushes, 0, NGEOMS);
	tcase_add_loop_test(tc, t_sync_mount, 0, NGEOMS);
	tcase_add_loop_test(tc, t_commit_interval, 1, 2);
	tcase_add_loop_test(tc, t_fsync_start, 0, NGEOMS);
	tcase_add_loop_test(tc, t_fsync_start_fails, 0, NGEOMS);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(journal_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
