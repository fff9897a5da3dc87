/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mkfs.diofs: make a diofs filesystem on a block device or image file.
 *
 * The format itself is super_format() in libdiofs, shared with the tests;
 * this program decides whether formatting is safe and says what it did.
 *
 * Rules:
 *  1. Nothing is written until every check has passed: the target is not
 *     mounted (libmount, /proc/self/mountinfo), not in use (bdev_open's
 *     exclusive open), and, unless -f, holds no diofs, no other filesystem
 *     and no partition table (libblkid, so every signature it knows counts).
 *  2. -n runs every check and prints the plan, and writes nothing: it does
 *     not create, grow or touch the image.
 *  3. Every failure is one line on stderr naming the problem and, where
 *     there is one, the way out; the exit code is 1.  Success is 0.
 *  4. An image file this run created is removed again if the run fails.
 *  5. With -f, the signatures libblkid finds are wiped before formatting,
 *     so no stale superblock of another filesystem (or partition table at
 *     the end of the device) outlives the format and confuses later probes.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <blkid/blkid.h>
#include <libmount/libmount.h>
#include <uuid/uuid.h>

#include "diofs/bdev.h"
#include "diofs/super.h"

#define PROG "mkfs.diofs"

struct mkfs_opts {
	struct format_opts fmt;
	uint8_t uuid[16];
	const char *path;
	uint64_t journal_bytes;	/* -J; 0: the default */
	int force, dry_run, quiet;
};

static char *created_path;	/* rule 4 */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						     noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (created_path)
		unlink(created_path);
	exit(1);
}

static void usage(void)
{
	printf("Usage: " PROG " [options] DEVICE|IMAGE\n"
	       "Make a diofs filesystem.\n\n"
	       "  -b SIZE    block size: 1024 to 65536, a power of two (default 4096)\n"
	       "  -L LABEL   volume label, at most %d bytes\n"
	       "  -U UUID    filesystem UUID, or 'random' (default) or 'time'\n"
	       "  -N COUNT   number of inodes (default: one per %u KiB)\n"
	       "  -J SIZE    journal size, with K, M or G suffix (default: 1/128\n"
	       "             of the filesystem, 4 MiB to 128 MiB)\n"
	       "  -s SIZE    filesystem size, with K, M, G or T suffix; creates\n"
	       "             IMAGE of this size if it does not exist\n"
	       "  -f         format even if the target holds a filesystem or\n"
	       "             partition table\n"
	       "  -n         show what would be done, write nothing\n"
	       "  -q         print nothing but errors\n"
	       "  -V         print the version and exit\n"
	       "  -h         print this help and exit\n",
	       DIOFS_LABEL_MAX, FORMAT_BYTES_PER_INODE / 1024);
}

/* A byte count with an optional binary suffix: 512, 64K, 1.5G is refused
 * (whole numbers only), 1T. */
static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (shift && (!strcmp(end, "iB") || !strcmp(end, "B")))
		end += strlen(end);
	if (*end || v == 0 || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static void parse_args(int argc, char **argv, struct mkfs_opts *o)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":b:L:U:N:J:s:fnqVh", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'b':
			if (parse_size(optarg, &v) || v > UINT32_MAX ||
			    v < DIOFS_MIN_BLOCK_SIZE || v > DIOFS_MAX_BLOCK_SIZE ||
			    (v & (v - 1)))
				die("invalid block size '%s': use a power of two from %u to %u",
				    optarg, DIOFS_MIN_BLOCK_SIZE,
				    DIOFS_MAX_BLOCK_SIZE);
			o->fmt.block_size = (uint32_t)v;
			break;
		case 'L':
			if (strlen(optarg) > DIOFS_LABEL_MAX)
				die("label '%s' is too long: at most %d bytes",
				    optarg, DIOFS_LABEL_MAX);
			o->fmt.label = optarg;
			break;
		case 'U':
			if (!strcmp(optarg, "random"))
				uuid_generate_random(o->uuid);
			else if (!strcmp(optarg, "time"))
				uuid_generate_time(o->uuid);
			else if (uuid_parse(optarg, o->uuid))
				die("invalid UUID '%s': use the form 01234567-89ab-cdef-0123-456789abcdef",
				    optarg);
			o->fmt.uuid = o->uuid;
			break;
		case 'N':
			if (parse_size(optarg, &v))
				die("invalid inode count '%s'", optarg);
			o->fmt.inodes = v;
			break;
		case 'J':
			if (parse_size(optarg, &v))
				die("invalid journal size '%s': use a number of bytes with an optional K, M or G suffix",
				    optarg);
			o->journal_bytes = v;
			break;
		case 's':
			if (parse_size(optarg, &v))
				die("invalid size '%s': use a number of bytes with an optional K, M, G or T suffix",
				    optarg);
			o->fmt.size = v;
			break;
		case 'f':
			o->force = 1;
			break;
		case 'n':
			o->dry_run = 1;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'V':
			printf(PROG " (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			exit(0);
		case 'h':
			usage();
			exit(0);
		case ':':
			die("option -%c needs an argument; run '" PROG " -h' for help",
			    optopt);
		default:
			if (optopt)
				die("unknown option -%c; run '" PROG " -h' for help",
				    optopt);
			die("unknown option '%s'; run '" PROG " -h' for help",
			    argv[optind - 1]);
		}
	}
	if (o->journal_bytes) {
		uint32_t bs = o->fmt.block_size ? o->fmt.block_size :
						  DIOFS_DEFAULT_BLOCK_SIZE;

		o->fmt.journal_blocks = (o->journal_bytes + bs - 1) / bs;
	}
	if (optind == argc)
		die("no device or image given; run '" PROG " -h' for help");
	if (optind + 1 < argc)
		die("too many arguments ('%s'): give one device or image",
		    argv[optind + 1]);
	o->path = argv[optind];
	o->fmt.root_uid = getuid();
	o->fmt.root_gid = getgid();
}

/*
 * An image file can be mounted through a loop device: refuse it as well if
 * a loop device it backs is mounted.
 */
static void check_loop_mounts(const char *path, const struct stat *st,
			      struct libmnt_table *tb)
{
	char file[PATH_MAX + 32], back[PATH_MAX + 1], dev[300];
	struct libmnt_fs *fs;
	struct dirent *de;
	struct stat bst;
	DIR *dir;
	FILE *f;

	dir = opendir("/sys/block");
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, "loop", 4))
			continue;
		snprintf(file, sizeof(file), "/sys/block/%s/loop/backing_file",
			 de->d_name);
		f = fopen(file, "re");
		if (!f)
			continue;
		if (!fgets(back, sizeof(back), f))
			back[0] = '\0';
		fclose(f);
		back[strcspn(back, "\n")] = '\0';
		if (stat(back, &bst) < 0 || bst.st_dev != st->st_dev ||
		    bst.st_ino != st->st_ino)
			continue;
		snprintf(dev, sizeof(dev), "/dev/%s", de->d_name);
		fs = mnt_table_find_srcpath(tb, dev, MNT_ITER_BACKWARD);
		if (fs)
			die("%s backs %s, which is mounted on %s; unmount it first",
			    path, dev, mnt_fs_get_target(fs));
	}
	closedir(dir);
}

/* Rule 1: refuse a target that is mounted. */
static void check_mounted(const char *path)
{
	struct libmnt_table *tb;
	struct libmnt_fs *fs;
	struct stat st;
	char *real;

	real = realpath(path, NULL);
	if (!real)
		return;
	tb = mnt_new_table_from_file("/proc/self/mountinfo");
	if (!tb) {
		free(real);
		return;
	}
	fs = mnt_table_find_srcpath(tb, real, MNT_ITER_BACKWARD);
	if (!fs)
		fs = mnt_table_find_source(tb, real, MNT_ITER_BACKWARD);
	if (fs)
		die("%s is mounted on %s; unmount it first", path,
		    mnt_fs_get_target(fs));
	if (stat(real, &st) == 0 && S_ISREG(st.st_mode))
		check_loop_mounts(path, &st, tb);
	mnt_unref_table(tb);
	free(real);
}

/* Rule 1: refuse a target that holds anything libblkid recognizes. */
static void check_contents(const char *path, struct bdev *bdev)
{
	const char *type = NULL, *label = NULL;
	blkid_probe pr;
	int rc;

	rc = super_probe(bdev);
	if (rc < 0)
		die("cannot read %s: %s", path, strerror(-rc));
	if (rc == 1)
		die("%s already holds a diofs filesystem; use -f to overwrite it",
		    path);

	pr = blkid_new_probe_from_filename(path);
	if (!pr)
		die("cannot probe %s for existing filesystems: %s", path,
		    strerror(errno ? errno : EIO));
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE |
					      BLKID_SUBLKS_LABEL);
	blkid_probe_enable_partitions(pr, 1);
	rc = blkid_do_safeprobe(pr);
	if (rc == -2)
		die("%s holds signatures of more than one filesystem; use -f to overwrite them",
		    path);
	if (rc < 0)
		die("cannot probe %s for existing filesystems", path);
	if (rc == 0) {
		if (!blkid_probe_lookup_value(pr, "TYPE", &type, NULL)) {
			blkid_probe_lookup_value(pr, "LABEL", &label, NULL);
			if (label && *label)
				die("%s already holds a filesystem of type %s (label '%s'); use -f to overwrite it",
				    path, type, label);
			die("%s already holds a filesystem of type %s; use -f to overwrite it",
			    path, type);
		}
		if (!blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL))
			die("%s holds a partition table (%s); format a partition, or use -f to overwrite it",
			    path, type);
		die("%s holds data that libblkid recognizes; use -f to overwrite it",
		    path);
	}
	blkid_free_probe(pr);
}

/* Rule 5. */
static void wipe_signatures(const char *path)
{
	blkid_probe pr;
	int fd;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("cannot open %s to wipe old signatures: %s", path,
		    strerror(errno));
	pr = blkid_new_probe();
	if (!pr || blkid_probe_set_device(pr, fd, 0, 0))
		die("cannot probe %s for old signatures", path);
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_MAGIC);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
	while (blkid_do_probe(pr) == 0)
		if (blkid_do_wipe(pr, 0))
			die("cannot wipe an old signature on %s", path);
	blkid_free_probe(pr);
	if (fsync(fd) < 0)
		die("cannot write %s: %s", path, strerror(errno));
	close(fd);
}

static void human(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB",
					     "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " bytes", bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

/* An inode count too small to hold any file was raised by super_plan(). */
static void note_inodes(const struct mkfs_opts *o, const struct super *sb)
{
	if (o->quiet || !o->fmt.inodes ||
	    o->fmt.inodes >= DIOFS_FIRST_INO + FORMAT_MIN_FREE_INODES)
		return;
	fprintf(stderr, PROG ": %" PRIu64 " inode%s would leave too few for files (%u are reserved); making %" PRIu64 "\n",
		o->fmt.inodes, o->fmt.inodes == 1 ? "" : "s", DIOFS_FIRST_INO,
		sb->inodes_count);
}

static void summary(const struct mkfs_opts *o, const struct super *sb)
{
	char size[32], uuid[37];

	if (o->quiet)
		return;
	human(sb->blocks_count * sb->block_size, size, sizeof(size));
	printf("%s diofs filesystem on %s\n",
	       o->dry_run ? "Would create a" : "Created a", o->path);
	printf("  size:        %s (%" PRIu64 " bytes)\n", size,
	       sb->blocks_count * sb->block_size);
	printf("  block size:  %u\n", sb->block_size);
	printf("  blocks:      %" PRIu64 " (%" PRIu64 " free)\n",
	       sb->blocks_count, sb->free_blocks);
	printf("  inodes:      %" PRIu64 " (%" PRIu64 " free)\n",
	       sb->inodes_count, sb->free_inodes);
	printf("  groups:      %" PRIu64 " of %u blocks and %u inodes\n",
	       sb->group_count, sb->blocks_per_group, sb->inodes_per_group);
	printf("  journal:     %" PRIu64 " blocks reserved at block %" PRIu64 "\n",
	       sb->journal_blocks, sb->journal_start);
	if (o->dry_run && !o->fmt.uuid) {
		printf("  UUID:        (random)\n");
	} else {
		uuid_unparse_lower(sb->uuid, uuid);
		printf("  UUID:        %s\n", uuid);
	}
	printf("  label:       %s\n", sb->label[0] ? sb->label : "(none)");
	if (o->dry_run)
		printf("Nothing was written (-n).\n");
}

int main(int argc, char **argv)
{
	struct mkfs_opts o = { 0 };
	const char *emsg = NULL;
	struct bdev *bdev = NULL;
	struct super sb;
	struct stat st;
	char msg[256];
	int fd, err;

	parse_args(argc, argv, &o);

	if (stat(o.path, &st) < 0) {
		if (errno != ENOENT)
			die("cannot access %s: %s", o.path, strerror(errno));
		if (!o.fmt.size)
			die("%s does not exist; give -s SIZE to create an image file",
			    o.path);
		if (o.dry_run) {
			/* Rule 2: plan for the file that would be made. */
			err = super_plan(o.fmt.size, 512, &o.fmt, &sb, msg,
					 sizeof(msg));
			if (err)
				die("%s", msg);
			note_inodes(&o, &sb);
			if (o.fmt.uuid)
				memcpy(sb.uuid, o.fmt.uuid, sizeof(sb.uuid));
			if (!o.quiet)
				printf("Would create image file %s\n", o.path);
			summary(&o, &sb);
			return 0;
		}
		fd = open(o.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			die("cannot create %s: %s", o.path, strerror(errno));
		created_path = strdup(o.path);
		if (ftruncate(fd, (off_t)o.fmt.size) < 0)
			die("cannot make %s %" PRIu64 " bytes long: %s", o.path,
			    o.fmt.size, strerror(errno));
		close(fd);
	} else if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		die("%s is neither a block device nor a regular file", o.path);
	}

	check_mounted(o.path);
	err = bdev_open(o.path, o.dry_run ? BDEV_RDONLY : BDEV_RDWR, &bdev,
			&emsg);
	if (err)
		die("cannot open %s: %s", o.path, emsg ? emsg : strerror(-err));
	if (!created_path && !o.force)
		check_contents(o.path, bdev);

	if (o.dry_run) {
		uint64_t dev_size = bdev_size(bdev);

		/* A file -s would grow: plan for its new size. */
		if (S_ISREG(st.st_mode) && o.fmt.size > dev_size)
			dev_size = o.fmt.size;
		err = super_plan(dev_size, bdev_block_size(bdev), &o.fmt, &sb,
				 msg, sizeof(msg));
		bdev_close(bdev);
		if (err)
			die("%s", msg);
		note_inodes(&o, &sb);
		if (o.fmt.uuid)
			memcpy(sb.uuid, o.fmt.uuid, sizeof(sb.uuid));
		summary(&o, &sb);
		return 0;
	}

	/* Every check has passed.  An image -s asks to be larger grows now,
	 * and is opened again to see its new size. */
	if (!created_path && S_ISREG(st.st_mode) &&
	    o.fmt.size > (uint64_t)st.st_size) {
		bdev_close(bdev);
		if (truncate(o.path, (off_t)o.fmt.size) < 0)
			die("cannot grow %s to %" PRIu64 " bytes: %s", o.path,
			    o.fmt.size, strerror(errno));
		err = bdev_open(o.path, BDEV_RDWR, &bdev, &emsg);
		if (err)
			die("cannot open %s: %s", o.path,
			    emsg ? emsg : strerror(-err));
	}
	/* Plan before wiping anything, so a bad geometry leaves the target
	 * as it was. */
	err = super_plan(bdev_size(bdev), bdev_block_size(bdev), &o.fmt, &sb,
			 msg, sizeof(msg));
	if (err)
		die("%s", msg);
	note_inodes(&o, &sb);
	if (o.force && !created_path)
		wipe_signatures(o.path);
	err = super_format(bdev, &o.fmt, &sb, msg, sizeof(msg));
	if (err)
		die("%s: %s", o.path, msg);
	err = bdev_flush(bdev);
	bdev_close(bdev);
	if (err)
		die("cannot flush %s: %s", o.path, strerror(-err));
	summary(&o, &sb);
	free(created_path);
	return 0;
}
