/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c: the diofs daemon, diofs DEVICE MOUNTPOINT [-f] [-d] [-o opts].
 *
 * Parses the command line with fuse_opt, mounts the engine on DEVICE,
 * mounts a FUSE session on MOUNTPOINT and serves it with libfuse's worker
 * pool until the filesystem is unmounted (fusermount3 -u, umount) or the
 * daemon gets SIGINT, SIGTERM or SIGHUP; then it unmounts the engine, so
 * everything written is durable when the process exits.  Invoked as
 * mount.diofs (or mount.fuse.diofs, mount.fuseblk.diofs) it also takes
 * mount(8)'s helper form, mount.diofs DEVICE DIR [-sfnv] [-o opts] [-t
 * type], so an fstab line "DEVICE DIR diofs defaults 0 0" works.  DEVICE
 * may be UUID=... or LABEL=... (source.h).  With -o remount it remounts
 * the diofs mounted on MOUNTPOINT instead (remount.h).
 *
 * Rules:
 *  1. Nothing is mounted unless the engine mounted: a bad device is
 *     reported as "diofs: DEVICE: reason" with exit status 1.
 *  2. The daemon forks before it mounts the engine, not after: the engine
 *     owns threads and libaio contexts, which a fork would not carry into
 *     the child.  The parent waits on a pipe and exits with the child's
 *     verdict, so the caller sees the engine's error and a finished mount.
 *  3. SIGINT, SIGTERM and SIGHUP stay blocked while the engine mounts, so
 *     threads it starts never take them; libfuse's handlers, installed
 *     before they are unblocked in the main thread, end the session loop.
 *  4. Teardown: the engine is unmounted by the kernel's destroy request or,
 *     failing that, after the loop (ops.h rule 3), and only then is the
 *     FUSE session unmounted: the kernel's claim of a fuseblk device so
 *     outlasts every write of the engine.
 *  5. Run by root, the kernel mounts fuseblk, for which umount(2) waits
 *     until the daemon has answered the destroy request, that is until
 *     the engine has closed the device: when umount returns, the device
 *     is free.  A block device passes from the engine's O_EXCL claim to
 *     the kernel's (fs_bdev_set_exclusive()) just before the mount; should
 *     another program take it in between, the mount fails and the daemon
 *     leaves without writing, as after a crash (the journal makes that
 *     safe).  An image file gets a loop device for the kernel's side
 *     (loopdev.h), while the engine goes on using the file.  A caller that
 *     is not root (fusermount3 refuses fuseblk), or a system without loop
 *     devices for an image, gets a plain fuse mount.
 *  6. Set-id and device files work as on a kernel filesystem mounted by
 *     root: unless nosuid or nodev is given, suid and dev are passed on,
 *     overriding libfuse's own nosuid,nodev.  user and users imply nosuid,
 *     nodev and noexec, owner and group nosuid and nodev, unless a later
 *     option says otherwise (mount(8)).  A caller that is not root always
 *     gets nosuid,nodev, which fusermount3 imposes.
 *  7. nofail: a DEVICE that does not exist, or a UUID=/LABEL= that no
 *     device carries, is no error: exit 0 without a word, as mount(8) does
 *     for a kernel filesystem.  mount.fuse drops nofail in the diofs#
 *     fstab form; the fstab line mount(8) is mounting says it then
 *     (fstab.h).
 *  8. Access times: relatime (the default, and what atime and
 *     nostrictatime mean), strictatime (norelatime), noatime, nodiratime
 *     (diratime undoes it); the last one given wins.  FUSE inodes never
 *     update atime in the kernel, so the engine does it (fs.h).  libfuse
 *     knows only atime and noatime of these, and passes them on to the
 *     kernel's mount flags, where /proc/mounts shows noatime; the others
 *     are the engine's alone (the kernel's mount says relatime, its
 *     default, whatever the engine does).
 *  9. DEVICE may be written diofs#DEVICE whatever the fstab type, so that
 *     diofs#LABEL=... passes mount(8) unresolved with type diofs or
 *     fuse.diofs too (mount(8) cannot resolve a diofs label, "UUID AND
 *     LABEL" in diofs(8)).
 */
#include <config.h>

#include "channel.h"
#include "fstab.h"
#include "log.h"
#include "loopdev.h"
#include "ops.h"
#include "remount.h"
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <unistd.h>

#include <blkid/blkid.h>
#include <fuse_opt.h>

/* Workers by default: two per CPU, at least 4.  A worker keeps many reads
 * and writes in flight (ops.c rule 15) and no fsync holds one (rule 17),
 * so more workers only spread the transfers thinner: each is woken for
 * fewer completions.  Two per CPU leave room for requests that do wait
 * (a metadata block read, a write over 128 KiB). */
#define WORKERS_PER_CPU		2
#define MIN_DEFAULT_THREADS	4
/* Background requests the kernel may have at the daemon at once: its
 * readahead and the reads and writes of io_submit() callers.  A worker
 * keeps many reads and writes in flight (ops.c rule 15), so this is not
 * tied to the number of workers: four fio jobs at queue depth 32 all reach
 * the device. */
#define MAX_BACKGROUND		128
/* How long the kernel may trust a name it looked up, or found missing:
 * every change of a name goes through the kernel, which updates its own
 * entries as it makes it, so an entry only goes stale if the daemon
 * changes a name on its own, which it never does.  A short timeout cost
 * every unlink or rename of a name last looked up more than that ago one
 * more request (a LOOKUP).  Attributes keep a short timeout: the
 * daemon changes some itself (the access time on reads, the change time
 * of chattr). */
#define ENTRY_TIMEOUT		86400.0
#define ATTR_TIMEOUT		1.0
#define IDLE_UNSET		UINT_MAX	/* -o max_idle_threads not given */
/* fuseblk's block size unless the device's sectors are larger: the page
 * size, which the kernel also takes for plain fuse */
#define KERNEL_BLKSIZE		4096u

struct main_opts {
	const char *prog;
	char *device;
	char *mountpoint;
	int nonopts;
	int helper;		/* invoked as mount.diofs */
	int remount;		/* -o remount (remount.h) */
	int nofail;		/* rule 7 */
	int nosuid, nodev, noexec; /* rule 6 */
	char *opts;		/* every -o option, in order, for a remount */
	int foreground;
	int fake;		/* mount.diofs -f: do everything but mount */
	int show_help;
	int show_version;
	int read_only;
	int direct_io;
	int noacl;
	unsigned max_threads;
	unsigned max_idle_threads;
	unsigned long cache_blocks;
	unsigned commit_secs;
	int sync;
	enum fs_atime atime;	/* rule 8 */
	int nodiratime;
};

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_RO,
	KEY_RW,
	KEY_DISCARD,
	KEY_TYPE,
	KEY_SYNC,
	KEY_SUID,
	KEY_NOSUID,
	KEY_DEV,
	KEY_NODEV,
	KEY_EXEC,
	KEY_NOEXEC,
	KEY_USER,
	KEY_OWNER,
	KEY_NOFAIL,
	KEY_REMOUNT,
	KEY_ATIME,
	KEY_RELATIME,
	KEY_STRICTATIME,
	KEY_NOATIME,
	KEY_DIRATIME,
	KEY_NODIRATIME,
};

#define MAIN_OPT(t, field, v) { t, offsetof(struct main_opts, field), v }

static const struct fuse_opt main_opt_spec[] = {
	MAIN_OPT("direct_io", direct_io, 1),
	MAIN_OPT("acl", noacl, 0),
	MAIN_OPT("noacl", noacl, 1),
	MAIN_OPT("max_threads=%u", max_threads, 0),
	MAIN_OPT("max_idle_threads=%u", max_idle_threads, 0),
	MAIN_OPT("cache_blocks=%lu", cache_blocks, 0),
	MAIN_OPT("commit=%u", commit_secs, 0),
	FUSE_OPT_KEY("sync", KEY_SYNC),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("rw", KEY_RW),
	FUSE_OPT_KEY("remount", KEY_REMOUNT),
	/* rule 6 */
	FUSE_OPT_KEY("suid", KEY_SUID),
	FUSE_OPT_KEY("nosuid", KEY_NOSUID),
	FUSE_OPT_KEY("dev", KEY_DEV),
	FUSE_OPT_KEY("nodev", KEY_NODEV),
	FUSE_OPT_KEY("exec", KEY_EXEC),
	FUSE_OPT_KEY("noexec", KEY_NOEXEC),
	FUSE_OPT_KEY("user", KEY_USER),
	FUSE_OPT_KEY("users", KEY_USER),
	FUSE_OPT_KEY("owner", KEY_OWNER),
	FUSE_OPT_KEY("group", KEY_OWNER),
	FUSE_OPT_KEY("nofail", KEY_NOFAIL),
	FUSE_OPT_KEY("atime", KEY_ATIME),
	FUSE_OPT_KEY("relatime", KEY_RELATIME),
	FUSE_OPT_KEY("nostrictatime", KEY_RELATIME),
	FUSE_OPT_KEY("strictatime", KEY_STRICTATIME),
	FUSE_OPT_KEY("norelatime", KEY_STRICTATIME),
	FUSE_OPT_KEY("noatime", KEY_NOATIME),
	FUSE_OPT_KEY("diratime", KEY_DIRATIME),
	FUSE_OPT_KEY("nodiratime", KEY_NODIRATIME),
	/* always on: default_permissions, clone_fd */
	FUSE_OPT_KEY("default_permissions", KEY_DISCARD),
	FUSE_OPT_KEY("clone_fd", KEY_DISCARD),
	/* fstab options meant for mount(8), not for the filesystem */
	FUSE_OPT_KEY("defaults", KEY_DISCARD),
	FUSE_OPT_KEY("auto", KEY_DISCARD),
	FUSE_OPT_KEY("noauto", KEY_DISCARD),
	FUSE_OPT_KEY("nouser", KEY_DISCARD),
	FUSE_OPT_KEY("_netdev", KEY_DISCARD),
	/* mount(8) passes -t TYPE.SUBTYPE to a helper for subtyped types */
	FUSE_OPT_KEY("-t ", KEY_TYPE),
	FUSE_OPT_END
};

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s DEVICE MOUNTPOINT [-f] [-d] [-o option[,option...]]\n"
		"       %s DEVICE MOUNTPOINT -o remount,ro|rw[,option...]\n"
		"       %s -h | -V\n", prog, prog, prog);
}

static unsigned default_max_threads(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n;

	if (cpus < 1 || cpus > 1024)	/* unknown, or absurd */
		cpus = 1;
	n = (unsigned)cpus * WORKERS_PER_CPU;
	return n > MIN_DEFAULT_THREADS ? n : MIN_DEFAULT_THREADS;
}

static void help(const char *prog)
{
	usage(stdout, prog);
	printf("\n"
	       "Mount the diofs filesystem on DEVICE (a block device or an image\n"
	       "file made by mkfs.diofs, or UUID=uuid or LABEL=label) at MOUNTPOINT.\n"
	       "\n"
	       "    -f                     stay in the foreground\n"
	       "    -d, -o debug           print every FUSE request (implies -f)\n"
	       "    -h, --help             print this help and exit\n"
	       "    -V, --version          print the version and exit\n"
	       "    -o ro                  mount read-only\n"
	       "    -o rw                  mount read-write (the default)\n"
	       "    -o direct_io           bypass the page cache on every open\n"
	       "    -o writeback_cache     let write(2) return once the page cache holds\n"
	       "                           the data (see the manual first)\n"
	       "    -o noacl               no POSIX ACLs (they are on by default)\n"
	       "    -o allow_other         let other users use the filesystem\n"
	       "    -o max_threads=N       at most N worker threads (default %u: two\n"
	       "                           per CPU, at least %u)\n"
	       "    -o max_idle_threads=N  keep at most N idle workers (default max_threads)\n"
	       "    -o cache_blocks=N      metadata cache size in blocks\n"
	       "    -o commit=SECONDS      commit the journal at least this often (default 5)\n"
	       "    -o sync                every change is durable before it returns\n"
	       "    -o relatime            reads update the access time when it is older\n"
	       "                           than the last change, or a day old (default)\n"
	       "    -o strictatime         every read updates the access time\n"
	       "    -o noatime             reads never update the access time\n"
	       "    -o nodiratime          listing a directory leaves its atime alone\n"
	       "    -o remount,ro|rw       remount a mounted diofs read-only or read-write\n"
	       "    -o nosuid,nodev        ignore set-id bits and device files (root's\n"
	       "                           mounts honour them unless told so)\n"
	       "    -o nofail              a DEVICE that does not exist is no error\n"
	       "\n"
	       "Permissions are always checked by the kernel (default_permissions).\n"
	       "Standard FUSE and mount options are passed on to libfuse:\n",
	       default_max_threads(), MIN_DEFAULT_THREADS);
	fuse_lowlevel_help();
}

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct main_opts *o = data;

	/* kept for a remount, which takes them as the mount's flags */
	if (key != FUSE_OPT_KEY_NONOPT && arg[0] != '-' &&
	    fuse_opt_add_opt(&o->opts, arg))
		return -1;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		o->nonopts++;
		if (!o->device) {
			/* rule 9 */
			if (!strncmp(arg, "diofs#", 6))
				arg += 6;
			o->device = strdup(arg);
			return o->device ? 0 : -1;
		}
		if (!o->mountpoint) {
			o->mountpoint = strdup(arg);
			return o->mountpoint ? 0 : -1;
		}
		return 0;
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	case KEY_FOREGROUND:
		/* mount(8) passes -f to a helper to mean "fake" */
		if (o->helper)
			o->fake = 1;
		else
			o->foreground = 1;
		return 0;
	case KEY_DEBUG:
		o->foreground = 1;
		return 1;	/* libfuse turns on its request log */
	case KEY_RO:
		o->read_only = 1;
		return 1;	/* also the kernel's read-only flag */
	case KEY_RW:
		o->read_only = 0;
		return 1;
	case KEY_SYNC:
		o->sync = 1;
		return 1;	/* also the kernel's synchronous flag */
	/* rule 6: add_fixed_opts() passes the outcome on */
	case KEY_SUID:
	case KEY_NOSUID:
		o->nosuid = key == KEY_NOSUID;
		return 0;
	case KEY_DEV:
	case KEY_NODEV:
		o->nodev = key == KEY_NODEV;
		return 0;
	case KEY_EXEC:
	case KEY_NOEXEC:
		o->noexec = key == KEY_NOEXEC;
		return 0;
	case KEY_USER:
		o->noexec = 1;
		/* fall through */
	case KEY_OWNER:
		o->nosuid = o->nodev = 1;
		return 0;
	case KEY_NOFAIL:
		o->nofail = 1;
		return 0;
	case KEY_REMOUNT:
		o->remount = 1;
		return 0;
	/* rule 8: libfuse passes atime and noatime on to the kernel */
	case KEY_ATIME:
		o->atime = FS_ATIME_RELATIME;
		return 1;
	case KEY_RELATIME:
		o->atime = FS_ATIME_RELATIME;
		return 0;
	case KEY_STRICTATIME:
		o->atime = FS_ATIME_STRICT;
		return 0;
	case KEY_NOATIME:
		o->atime = FS_ATIME_NEVER;
		return 1;
	case KEY_DIRATIME:
	case KEY_NODIRATIME:
		o->nodiratime = key == KEY_NODIRATIME;
		return 0;
	case KEY_DISCARD:
		return 0;
	case KEY_TYPE:
		if (o->helper)
			return 0;
		fprintf(stderr, "%s: unknown option '-t'\n", o->prog);
		return -1;
	case FUSE_OPT_KEY_OPT:
		if (arg[0] == '-') {
			/* mount(8)'s helper flags: sloppy, no mtab, verbose */
			if (o->helper && (!strcmp(arg, "-s") ||
					  !strcmp(arg, "-n") ||
					  !strcmp(arg, "-v")))
				return 0;
			fprintf(stderr, "%s: unknown option '%s'\n", o->prog,
				arg);
			return -1;
		}
		/* userspace fstab options such as x-systemd.* and comment= */
		if (!strncmp(arg, "x-", 2) || !strncmp(arg, "comment=", 8))
			return 0;
		return 1;
	}
	return 1;
}

/*
 * Fork; the parent waits until the child reports a finished mount (a byte
 * on the pipe) or fails (the pipe closes) and exits accordingly (rule 2).
 * The child gets the pipe's write end in *ready_fd.
 */
static int daemon_fork(int *ready_fd)
{
	int pfd[2];
	ssize_t n;
	char ok;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC)) {
		log_err("pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_err("fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid > 0) {
		close(pfd[1]);
		do {
			n = read(pfd[0], &ok, 1);
		} while (n < 0 && errno == EINTR);
		_exit(n == 1 ? 0 : 1);
	}
	close(pfd[0]);
	if (setsid() < 0) {
		log_err("setsid: %s", strerror(errno));
		close(pfd[1]);
		return -1;
	}
	*ready_fd = pfd[1];
	return 0;
}

/* Detach from the terminal and let the waiting parent exit with 0. */
static void daemon_ready(int ready_fd)
{
	char ok = 0;

	log_detach();
	if (write(ready_fd, &ok, 1) != 1)
		log_err("cannot report the mount to the parent: %s",
			strerror(errno));
	close(ready_fd);
}

/*
 * libfuse's own options that diofs always sets; the user's come later.
 * fsname is the mount's source: with blksize nonzero, a fuseblk mount
 * (blkdev), the block device the kernel claims (rule 5).
 */
static int add_fixed_opts(struct fuse_args *args, const char *fsname,
			  unsigned blksize, const struct main_opts *o)
{
	char *opts = NULL;
	char *arg;
	char num[32];
	int rc = -1;

	snprintf(num, sizeof(num), "blksize=%u", blksize);
	if (fuse_opt_add_opt(&opts, "subtype=diofs") ||
	    fuse_opt_add_opt(&opts, "default_permissions") ||
	    (blksize && (fuse_opt_add_opt(&opts, "blkdev") ||
			 fuse_opt_add_opt(&opts, num))) ||
	    (o->noexec && fuse_opt_add_opt(&opts, "noexec")))
		goto out;
	/* rule 6: fusermount3 imposes nosuid,nodev on other users */
	if (geteuid() == 0 &&
	    (fuse_opt_add_opt(&opts, o->nosuid ? "nosuid" : "suid") ||
	     fuse_opt_add_opt(&opts, o->nodev ? "nodev" : "dev")))
		goto out;
	arg = malloc(strlen("fsname=") + strlen(fsname) + 1);
	if (!arg)
		goto out;
	strcpy(arg, "fsname=");
	strcat(arg, fsname);
	rc = fuse_opt_add_opt_escaped(&opts, arg);
	free(arg);
	if (rc)
		goto out;
	arg = malloc(strlen(opts) + 3);
	if (!arg) {
		rc = -1;
		goto out;
	}
	strcpy(arg, "-o");
	strcat(arg, opts);
	rc = fuse_opt_insert_arg(args, 1, arg);
	free(arg);
out:
	free(opts);
	return rc;
}

static int check_mountpoint(const char *path, char **out)
{
	struct stat s;
	char *real;

	real = realpath(path, NULL);
	if (!real || stat(real, &s)) {
		log_err("%s: %s", path, strerror(errno));
		free(real);
		return -1;
	}
	if (!S_ISDIR(s.st_mode)) {
		log_err("%s: %s", path, strerror(ENOTDIR));
		free(real);
		return -1;
	}
	*out = real;
	return 0;
}

static int serve(struct fuse_session *se, const struct main_opts *o)
{
	struct fuse_loop_config *cfg;
	int rc;

	cfg = fuse_loop_cfg_create();
	if (!cfg) {
		log_err("out of memory");
		return -1;
	}
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	fuse_loop_cfg_set_max_threads(cfg, o->max_threads);
	fuse_loop_cfg_set_idle_threads(cfg, o->max_idle_threads);
	rc = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	/* a positive result is the signal that ended the loop: a clean stop */
	if (rc < 0) {
		log_err("%s: session ended: %s", o->mountpoint, strerror(-rc));
		return -1;
	}
	return 0;
}

/* The options in effect, for the mount line: "rw,commit=5,...". */
static void options_in_effect(const struct main_opts *o, struct fs *fs,
			      bool fuseblk, char *buf, size_t size)
{
	size_t n;

	n = (size_t)snprintf(buf, size, "%s,%s,commit=%u,%s%s%s%s%s%s%s",
			     fs_read_only(fs) ? "ro" : "rw",
			     fuseblk ? "fuseblk" : "fuse",
			     o->commit_secs ? o->commit_secs : 5,
			     o->sync ? "sync," : "",
			     o->noacl ? "noacl" : "acl",
			     o->direct_io ? ",direct_io" : "",
			     o->nosuid ? ",nosuid" : "",
			     o->nodev ? ",nodev" : "",
			     o->noexec ? ",noexec" : "",
			     o->nofail ? ",nofail" : "");
	if (n < size)
		n += (size_t)snprintf(buf + n, size - n, ",max_threads=%u",
				      o->max_threads);
	if (n < size && o->cache_blocks)
		snprintf(buf + n, size - n, ",cache_blocks=%lu",
			 o->cache_blocks);
}

/* Rule 4: unmount the engine unless the destroy request has; log a failure. */
static int unmount_engine(struct ops_state *st, const char *shown)
{
	int rc = ops_unmount(st);

	if (rc < 0)
		log_err("%s: unmount: %s", shown, strerror(-rc));
	return rc;
}

/* The remount form (remount.h): nothing is mounted, nothing forks. */
static int do_remount(const struct main_opts *o)
{
	char msg[300];

	if (o->fake)
		return 0;
	if (remount(o->mountpoint, o->opts, msg, sizeof(msg)) < 0) {
		log_err("%s: %s", o->mountpoint, msg);
		return 1;
	}
	return 0;
}

/*
 * The device to mount, absolute (it survives the daemon's chdir("/") and
 * lets umount(8) match it in /proc/mounts), in *device.  1: nothing to do
 * (rule 7), 0: go on, -1: reported.
 */
static int find_device(const struct main_opts *o, char **device)
{
	const char *why;
	struct stat st;
	int rc;

	if (source_is_tag(o->device)) {
		rc = source_resolve(o->device, device, &why);
		if (rc == -ENOENT && (o->nofail ||
				      fstab_line_has_nofail(o->device,
							    o->mountpoint)))
			return 1;
		if (rc < 0) {
			log_err("%s: %s", o->device, why);
			return -1;
		}
		return 0;
	}
	if (stat(o->device, &st) < 0 && (errno == ENOENT || errno == ENOTDIR) &&
	    (o->nofail || fstab_line_has_nofail(o->device, o->mountpoint)))
		return 1;
	*device = realpath(o->device, NULL);
	if (!*device && !(*device = strdup(o->device)))
		return -1;
	return 0;
}

/*
 * Rule 5: what the kernel mounts.  *fsname is the fuseblk device (with
 * *loop_fd holding an image's loop device open until the mount), or NULL
 * for a plain fuse mount of device.  *blksize is the block size the kernel
 * is to give it: its default, 512 bytes, fails the mount of a device with
 * larger sectors.
 */
static void kernel_source(const char *device, char **fsname, int *loop_fd,
			  unsigned *blksize)
{
	const char *why;
	struct stat st;
	int fd, lbs;

	*fsname = NULL;
	if (geteuid() != 0 || stat(device, &st) < 0)
		return;
	if (S_ISBLK(st.st_mode))
		*fsname = strdup(device);
	else if (S_ISREG(st.st_mode) &&
		 loopdev_attach(device, fsname, loop_fd, &why) < 0)
		*fsname = NULL;	/* no loop devices here: plain fuse */
	if (!*fsname)
		return;
	*blksize = KERNEL_BLKSIZE;
	fd = open(*fsname, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0 && ioctl(fd, BLKSSZGET, &lbs) == 0 &&
	    (unsigned)lbs > *blksize)
		*blksize = (unsigned)lbs;
	if (fd >= 0)
		close(fd);
}

/* The name in /sys/class/bdi of a fuseblk mount of @fsname (ops.c rule
 * 18), in @buf; NULL if it cannot be known. */
static const char *fuseblk_bdi(const char *fsname, char *buf, size_t size)
{
	struct stat st;

	if (stat(fsname, &st) < 0 || !S_ISBLK(st.st_mode))
		return NULL;
	snprintf(buf, size, "%u:%u-fuseblk", major(st.st_rdev),
		 minor(st.st_rdev));
	return buf;
}

/*
 * The mount's failure in one line.  For a device with no diofs superblock,
 * what libblkid recognizes on it, if anything, as mkfs.diofs does.
 */
static const char *mount_error(const char *device, int rc, const char *msg)
{
	static char line[300];
	const char *type = NULL;
	bool table = false;
	blkid_probe pr;

	if (!msg)
		return strerror(-rc);
	if (rc != -EINVAL || strncmp(msg, FS_NOT_DIOFS, strlen(FS_NOT_DIOFS)))
		return msg;
	pr = blkid_new_probe_from_filename(device);
	if (!pr)
		return msg;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	blkid_probe_enable_partitions(pr, 1);
	if (blkid_do_safeprobe(pr) == 0 &&
	    blkid_probe_lookup_value(pr, "TYPE", &type, NULL)) {
		table = true;
		if (blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL))
			type = NULL;
	}
	if (type && strcmp(type, "diofs")) {
		snprintf(line, sizeof(line),
			 "%s (it looks like %s%s%s): use mkfs.diofs to make one",
			 FS_NOT_DIOFS, table ? "a " : "", type,
			 table ? " partition table" : "");
		msg = line;
	}
	blkid_free_probe(pr);
	return msg;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_args saved = FUSE_ARGS_INIT(0, NULL);
	struct main_opts o = {
		.max_threads = default_max_threads(),
		.max_idle_threads = IDLE_UNSET,
	};
	struct fuse_conn_info_opts *conn_opts;
	struct fs_mount_opts mopts = { 0 };
	struct ops_config ocfg = { 0 };
	struct fuse_session *se;
	struct ops_state *st;
	const char *err_msg = NULL;
	char line[256];
	char bdi[32];
	char *device = NULL;
	char *fsname = NULL;
	char *shown = NULL;
	char *mnt = NULL;
	sigset_t sigs, oldsigs;
	struct fs *fs;
	bool handoff = false, abandon = false, engine_down = false;
	unsigned blksize = 0;	/* fuseblk's; 0: plain fuse */
	int loop_fd = -1;
	int ready_fd = -1;
	int status = 1;
	int rc, i;

	o.prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	o.helper = !strcmp(o.prog, "mount.diofs") ||
		   !strcmp(o.prog, "mount.fuse.diofs") ||
		   !strcmp(o.prog, "mount.fuseblk.diofs");
	if (fuse_opt_parse(&args, &o, main_opt_spec, opt_proc) == -1) {
		usage(stderr, o.prog);
		goto out_args;
	}
	if (o.show_help) {
		help(o.prog);
		status = 0;
		goto out_args;
	}
	if (o.show_version) {
		printf("diofs %s (libfuse %s)\n", PACKAGE_VERSION,
		       fuse_pkgversion());
		status = 0;
		goto out_args;
	}
	if (o.nonopts != 2) {
		fprintf(stderr, "%s: %s\n", o.prog,
			o.nonopts < 1 ? "missing DEVICE and MOUNTPOINT" :
			o.nonopts < 2 ? "missing MOUNTPOINT" :
					"too many arguments");
		usage(stderr, o.prog);
		goto out_args;
	}
	if (o.remount) {
		status = do_remount(&o);
		goto out_args;
	}
	/* By default a worker, once started, never ends: starting one costs
	 * a libaio context, and ending idle ones under a bursty load made
	 * thread start-up the largest cost of a 4 KiB request. */
	if (o.max_idle_threads == IDLE_UNSET)
		o.max_idle_threads = o.max_threads;
	if (o.max_threads == 0) {
		fprintf(stderr, "%s: max_threads=0: give at least 1\n", o.prog);
		goto out_args;
	}
	if (o.max_idle_threads > o.max_threads) {
		fprintf(stderr, "%s: max_idle_threads=%u is more than max_threads=%u: lower it or raise max_threads\n",
			o.prog, o.max_idle_threads, o.max_threads);
		goto out_args;
	}
	rc = find_device(&o, &device);
	if (rc) {
		status = rc > 0 ? 0 : 1;
		goto out_args;
	}
	/* errors name the device as given, and what a tag stood for */
	if (source_is_tag(o.device) ?
	    asprintf(&shown, "%s (%s)", o.device, device) < 0 :
	    !(shown = strdup(o.device))) {
		shown = NULL;
		goto out_mnt;
	}
	if (check_mountpoint(o.mountpoint, &mnt))
		goto out_mnt;
	if (!o.fake)
		kernel_source(device, &fsname, &loop_fd, &blksize);
	if (add_fixed_opts(&args, fsname ? fsname : device, blksize, &o))
		goto out_mnt;
	conn_opts = fuse_parse_conn_info_opts(&args);
	if (!conn_opts)
		goto out_mnt;
	if (o.fake) {
		status = 0;
		goto out_conn;
	}

	ocfg.direct_io = o.direct_io;
	ocfg.acl = !o.noacl;
	ocfg.max_background = MAX_BACKGROUND;
	ocfg.attr_timeout = ATTR_TIMEOUT;
	ocfg.entry_timeout = ENTRY_TIMEOUT;
	ocfg.conn_opts = conn_opts;
	if (blksize)
		ocfg.bdi = fuseblk_bdi(fsname, bdi, sizeof(bdi));
	rc = ops_state_create(&ocfg, &st);
	if (rc < 0) {
		log_err("%s", strerror(-rc));
		goto out_conn;
	}
	/* fuse_session_new() consumes its arguments: keep them for a second
	 * session, should the engine mount read-only by itself. */
	for (i = 0; i < args.argc; i++)
		if (fuse_opt_add_arg(&saved, args.argv[i]))
			goto out_state;
	se = fuse_session_new(&args, &ops_table, sizeof(ops_table), st);
	if (!se)
		goto out_state;	/* libfuse has said why */

	if (!o.foreground && daemon_fork(&ready_fd))
		goto out_session;

	/* rule 3 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, &oldsigs);

	mopts.read_only = o.read_only;
	mopts.cache_blocks = o.cache_blocks;
	mopts.commit_secs = o.commit_secs;
	mopts.sync = o.sync;
	mopts.atime = o.atime;
	mopts.nodiratime = o.nodiratime;
	mopts.log = log_engine;
	rc = fs_mount(device, &mopts, &fs, &err_msg);
	if (rc < 0) {
		log_err("%s: %s", shown, mount_error(device, rc, err_msg));
		goto out_sigs;
	}
	if (fs_mount_notice(fs))
		log_msg(LOG_NOTICE, "%s: %s", shown, fs_mount_notice(fs));
	ops_state_attach(st, fs);
	/* The engine chose read-only itself (a write-protected device, a
	 * feature it cannot write): the kernel's mount says ro as well. */
	if (fs_read_only(fs) && !o.read_only) {
		fuse_session_destroy(se);
		se = NULL;
		if (!fuse_opt_add_arg(&saved, "-oro"))
			se = fuse_session_new(&saved, &ops_table,
					      sizeof(ops_table), st);
		if (!se)
			goto out_fs;
	}
	if (fuse_set_signal_handlers(se))
		goto out_fs;
	/* rule 5: the kernel claims a block device itself */
	handoff = fsname && loop_fd < 0;
	if (handoff) {
		rc = fs_bdev_set_exclusive(fs, false);
		if (rc < 0) {
			log_err("%s: cannot hand the device to the kernel: %s",
				shown, strerror(-rc));
			goto out_handlers;
		}
	}
	ops_state_set_session(st, se);
	if (fuse_session_mount(se, mnt)) {
		if (handoff && fs_bdev_set_exclusive(fs, true) < 0) {
			abandon = true;
			log_err("%s: another program took the device during the mount: left unwritten, as a crash leaves it (the next mount replays the journal)",
				shown);
		}
		goto out_handlers;
	}
	rc = channel_attach(se);	/* before the first request is read */
	if (rc < 0) {
		log_err("%s: %s", shown, strerror(-rc));
		fuse_session_unmount(se);
		goto out_handlers;
	}
	/* the kernel holds the loop device now (loopdev.h rule 1) */
	if (loop_fd >= 0) {
		close(loop_fd);
		loop_fd = -1;
	}

	if (ready_fd >= 0) {
		daemon_ready(ready_fd);
		ready_fd = -1;
	}
	if (chdir("/"))
		log_err("chdir /: %s", strerror(errno));
	options_in_effect(&o, fs, fsname, line, sizeof(line));
	log_msg(LOG_NOTICE, "mounted %s on %s (%s): %s%s%s", shown, mnt, line,
		fs_mount_replayed(fs) ? "the journal was replayed" :
					"the filesystem was clean",
		fs_mount_notice(fs) ? "; " : "",
		fs_mount_notice(fs) ? fs_mount_notice(fs) : "");
	pthread_sigmask(SIG_SETMASK, &oldsigs, NULL);
	status = serve(se, &o) ? 1 : 0;
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	/* rule 4 */
	rc = ops_unmount(st);
	log_flush();
	if (rc < 0) {
		status = 1;
		log_msg(LOG_ERR, "unmounted %s from %s, not cleanly (%s): the next mount replays the journal; run fsck.diofs if errors were reported",
			shown, mnt, strerror(-rc));
	} else if (log_errors()) {
		log_msg(LOG_WARNING, "unmounted %s from %s cleanly, after %lu error%s: run fsck.diofs",
			shown, mnt, log_errors(), log_errors() == 1 ? "" : "s");
	} else {
		log_msg(LOG_NOTICE, "unmounted %s from %s cleanly", shown, mnt);
	}
	engine_down = true;
	fuse_session_unmount(se);
out_handlers:
	fuse_remove_signal_handlers(se);
out_fs:
	if (!engine_down && !abandon && unmount_engine(st, shown) < 0)
		status = 1;
	if (se)
		fuse_session_destroy(se);
	se = NULL;
out_sigs:
	pthread_sigmask(SIG_SETMASK, &oldsigs, NULL);
	if (ready_fd >= 0)
		close(ready_fd);	/* the parent sees EOF: failure */
out_session:
	if (se)
		fuse_session_destroy(se);
out_state:
	ops_state_destroy(st);
out_conn:
	free(conn_opts);
out_mnt:
	if (loop_fd >= 0)
		close(loop_fd);
	free(fsname);
	free(shown);
	free(device);
	free(mnt);
out_args:
	free(o.device);
	free(o.mountpoint);
	free(o.opts);
	fuse_opt_free_args(&args);
	fuse_opt_free_args(&saved);
	return status;
}
