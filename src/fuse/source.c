/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * source.c: UUID=... and LABEL=... sources (source.h).
 *
 * Rules:
 *  1. The candidates are the devices of /proc/partitions: disks,
 *     partitions, attached loop devices, device-mapper volumes.  Each is
 *     opened read-only without O_EXCL, so that a device in use (mounted,
 *     by diofs or anything else) is read and never disturbed; one that
 *     cannot be opened or read is skipped.
 *  2. A candidate matches only if its primary superblock passes
 *     super_decode(), the engine's own check (magic, checksum, geometry).
 *  3. One filesystem seen under two names counts once: a loop device
 *     stands for what it is attached to, followed through loops of loops,
 *     and of several names for the same thing the one that is not a loop
 *     device (else the first found) is kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <uuid/uuid.h>

#include "diofs/super.h"
#include "source.h"

#define PROBE_BYTES	DIOFS_MAX_BLOCK_SIZE	/* holds any block 0 */
#define PROBE_ALIGN	4096
#define LOOP_DEPTH	8			/* loops of loops followed */
#define MAX_MATCHES	16

/* What a device's filesystem lives on (rule 3). */
struct backing {
	bool is_file;
	dev_t dev;		/* the block device, or the file's st_dev */
	ino_t ino;		/* the file's inode */
};

struct match {
	char dev[PATH_MAX];
	bool loop;
	struct backing on;
};

static char why_buf[PATH_MAX + 200];

bool source_is_tag(const char *spec)
{
	return !strncmp(spec, "UUID=", 5) || !strncmp(spec, "LABEL=", 6);
}

/* The backing file of loop device rdev, or "" when it is none. */
static void loop_backing(dev_t rdev, char *file, size_t size)
{
	char sys[96];
	ssize_t n;
	int fd;

	file[0] = '\0';
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/loop/backing_file",
		 major(rdev), minor(rdev));
	fd = open(sys, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, file, size - 1);
	close(fd);
	file[n > 0 ? n : 0] = '\0';
	file[strcspn(file, "\n")] = '\0';
}

/* Rule 3: follow rdev down through loop devices. */
static struct backing backing_of(dev_t rdev)
{
	struct backing b = { .dev = rdev };
	char file[PATH_MAX];
	struct stat st;
	int depth;

	for (depth = 0; depth < LOOP_DEPTH; depth++) {
		loop_backing(b.dev, file, sizeof(file));
		if (!file[0] || stat(file, &st) < 0)
			break;
		if (!S_ISBLK(st.st_mode)) {
			b.is_file = true;
			b.dev = st.st_dev;
			b.ino = st.st_ino;
			break;
		}
		b.dev = st.st_rdev;
	}
	return b;
}

static bool same_backing(const struct backing *a, const struct backing *b)
{
	return a->is_file == b->is_file && a->dev == b->dev &&
	       (!a->is_file || a->ino == b->ino);
}

/* Rule 2: the superblock of the block device at path, if it has one. */
static bool probe(const char *path, void *buf, struct super *sb)
{
	uint64_t size, len;
	char msg[200];
	uint32_t bs;
	bool ok = false;
	int fd, lbs;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_DIRECT);
	if (fd < 0)
		return false;
	if (ioctl(fd, BLKGETSIZE64, &size) < 0 ||
	    ioctl(fd, BLKSSZGET, &lbs) < 0 || lbs <= 0 ||
	    (unsigned)lbs > PROBE_BYTES)
		goto out;
	len = size < PROBE_BYTES ? size - size % (uint64_t)lbs : PROBE_BYTES;
	if (len == 0 || pread(fd, buf, len, 0) != (ssize_t)len)
		goto out;
	/* super_decode() reads a whole block of the size it names */
	memcpy(&bs, (char *)buf + offsetof(struct diofs_super, block_size),
	       sizeof(bs));
	if (le32toh(bs) > len)
		goto out;
	ok = super_decode(buf, 0, size, (uint32_t)lbs, sb, msg,
			  sizeof(msg)) == 0;
out:
	close(fd);
	return ok;
}

/* Add a match unless the same filesystem is there already (rule 3). */
static void add_match(struct match *m, int *n, const char *dev, bool loop,
		      const struct backing *on)
{
	int i;

	for (i = 0; i < *n; i++) {
		if (!same_backing(&m[i].on, on))
			continue;
		if (m[i].loop && !loop) {
			snprintf(m[i].dev, sizeof(m[i].dev), "%s", dev);
			m[i].loop = false;
		}
		return;
	}
	if (*n == MAX_MATCHES)
		return;
	snprintf(m[*n].dev, sizeof(m[*n].dev), "%s", dev);
	m[*n].loop = loop;
	m[*n].on = *on;
	(*n)++;
}

/* Rule 1: every device of /proc/partitions whose superblock fits. */
static int scan(bool by_uuid, const uuid_t uuid, const char *label,
		struct match *m, int *n)
{
	char line[512], name[256], path[PATH_MAX], file[8];
	unsigned maj, min;
	unsigned long long blocks;
	struct backing on;
	struct super sb;
	struct stat st;
	void *buf;
	FILE *f;
	char *c;

	f = fopen("/proc/partitions", "re");
	if (!f)
		return -errno;
	if (posix_memalign(&buf, PROBE_ALIGN, PROBE_BYTES)) {
		fclose(f);
		return -ENOMEM;
	}
	*n = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%u %u %llu %255s", &maj, &min, &blocks,
			   name) != 4 || blocks == 0)
			continue;
		/* the kernel writes '/' in a disk's name as '!' */
		for (c = name; *c; c++)
			if (*c == '!')
				*c = '/';
		snprintf(path, sizeof(path), "/dev/%s", name);
		if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode) ||
		    st.st_rdev != makedev(maj, min) || !probe(path, buf, &sb))
			continue;
		if (by_uuid ? memcmp(sb.uuid, uuid, sizeof(uuid_t)) :
			      strcmp(sb.label, label))
			continue;
		on = backing_of(st.st_rdev);
		loop_backing(st.st_rdev, file, sizeof(file));
		add_match(m, n, path, file[0] != '\0', &on);
	}
	free(buf);
	fclose(f);
	return 0;
}

int source_resolve(const char *spec, char **dev, const char **why)
{
	bool by_uuid = !strncmp(spec, "UUID=", 5);
	const char *value = strchr(spec, '=') + 1;
	struct match *m;
	uuid_t uuid;
	size_t len;
	int n, i, err;

	if (by_uuid && uuid_parse(value, uuid)) {
		*why = "not a UUID (want the form 01234567-89ab-cdef-0123-456789abcdef)";
		return -EINVAL;
	}
	m = calloc(MAX_MATCHES, sizeof(*m));
	if (!m) {
		*why = "out of memory";
		return -ENOMEM;
	}
	err = scan(by_uuid, uuid, value, m, &n);
	if (err) {
		*why = "cannot read /proc/partitions";
	} else if (n == 0) {
		*why = by_uuid ?
		       "no block or loop device holds a diofs filesystem with this UUID" :
		       "no block or loop device holds a diofs filesystem with this label";
		err = -ENOENT;
	} else if (n > 1) {
		len = (size_t)snprintf(why_buf, sizeof(why_buf),
				       "%d filesystems carry it (", n);
		for (i = 0; i < n && len < sizeof(why_buf); i++)
			len += (size_t)snprintf(why_buf + len,
						sizeof(why_buf) - len, "%s%s",
						i ? ", " : "", m[i].dev);
		if (len < sizeof(why_buf))
			snprintf(why_buf + len, sizeof(why_buf) - len,
				 "): name the device instead");
		*why = why_buf;
		err = -ENOTUNIQ;
	} else {
		*dev = strdup(m[0].dev);
		if (!*dev) {
			*why = "out of memory";
			err = -ENOMEM;
		}
	}
	free(m);
	return err;
}
