/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * super: the superblock, the geometry arithmetic, and the format routine.
 *
 * The superblock is an ordinary metadata block (block 0, magic
 * DIOFS_MAGIC_SUPER) with a second copy in the filesystem's last block.
 * Reading it is the one place where the block size is not yet known: the
 * first device sector is read to learn it, then the whole block to check its
 * checksum.  If the primary copy is unusable, the backup is looked for where
 * the primary says (if that much of it is legible) and then at the end of
 * the device for every block size, since mkfs always ends the filesystem
 * there unless told a smaller size.
 *
 * Formatting writes only what a fresh filesystem needs to be read: the
 * descriptor table, group 0's bitmaps and the inode-table blocks holding
 * the reserved inodes and the root directory, and both superblocks.  Every
 * other group is flagged uninitialized, which is what makes a 1 TiB image
 * take a second rather than minutes.
 *
 * Rules:
 *  1. super_decode() trusts nothing: every field that a later computation
 *     divides by, multiplies with or indexes through is range-checked there,
 *     so the helpers below may assume a checked struct super.
 *  2. Write order in super_format(): the old primary superblock is
 *     destroyed first, so a format that stops half-way never leaves a
 *     superblock pointing at half-written structures; the new superblocks
 *     go last, after a flush.  super_write() writes the primary, flushes,
 *     then the backup, so one of the two is always intact.
 *  3. An unsupported version or feature, or a device too small, is final:
 *     falling back to the backup would hide a real incompatibility.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "diofs/crc.h"
#include "diofs/super.h"
#include "diofs/journal.h"
#include "diofs/util.h"

/* A last group shorter than its metadata plus this is left unused. */
#define SUPER_MIN_GROUP_DATA	16u
/* Smallest filesystem mkfs makes, in blocks. */
#define SUPER_MIN_BLOCKS	64u
/* Default journal: 1/128 of the device, 1024 blocks at least, 128 MiB at
 * most, and never more than an eighth of a small device. */
#define SUPER_JOURNAL_MIN	1024u
/* Below this a compound transaction (half the log) is too small to hold
 * one large rename or truncate. */
#define SUPER_JOURNAL_LEAST	64u
#define SUPER_JOURNAL_MAX_BYTES	(128ull << 20)
/* The format routine writes in pieces of this many bytes at most. */
#define SUPER_IO_CHUNK		(1u << 20)

static int is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static unsigned ilog2_u32(uint32_t v)
{
	unsigned n = 0;

	while (v >>= 1)
		n++;
	return n;
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

static void derive(struct super *sb)
{
	sb->block_bits = ilog2_u32(sb->block_size);
	sb->inodes_per_block = DIOFS_INODES_PER_BLOCK(sb->block_size);
	sb->itable_blocks = sb->inodes_per_group / sb->inodes_per_block;
	sb->descs_per_block = DIOFS_DESCS_PER_BLOCK(sb->block_size);
}

static int64_t now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/* ---- geometry ------------------------------------------------------------ */

uint64_t super_group_first(const struct super *sb, uint64_t g)
{
	return sb->group_start + g * sb->blocks_per_group;
}

uint64_t super_group_len(const struct super *sb, uint64_t g)
{
	uint64_t first, end;

	if (g >= sb->group_count)
		return 0;
	first = super_group_first(sb, g);
	end = first + sb->blocks_per_group;
	if (end > sb->backup_blkno)
		end = sb->backup_blkno;
	return end - first;
}

uint64_t super_group_of(const struct super *sb, uint64_t blkno)
{
	uint64_t g;

	if (blkno < sb->group_start)
		return sb->group_count;
	g = (blkno - sb->group_start) / sb->blocks_per_group;
	if (g >= sb->group_count ||
	    blkno - super_group_first(sb, g) >= super_group_len(sb, g))
		return sb->group_count;
	return g;
}

void super_desc_loc(const struct super *sb, uint64_t g, uint64_t *blkno,
		    uint32_t *offset)
{
	*blkno = sb->gdt_start + g / sb->descs_per_block;
	*offset = sizeof(struct diofs_blkhdr) +
		  (uint32_t)(g % sb->descs_per_block) *
		  sizeof(struct diofs_group_desc);
}

int super_inode_loc(const struct super *sb, uint64_t ino, uint64_t *blkno,
		    uint32_t *offset)
{
	uint64_t g, idx;

	if (ino == 0 || ino >= sb->inodes_count)
		return -EINVAL;
	g = ino / sb->inodes_per_group;
	idx = ino % sb->inodes_per_group;
	*blkno = super_group_first(sb, g) + 2 + idx / sb->inodes_per_block;
	*offset = sizeof(struct diofs_blkhdr) +
		  (uint32_t)(idx % sb->inodes_per_block) * DIOFS_INODE_SIZE;
	return 0;
}

uint64_t super_inode_goal(const struct super *sb, uint64_t ino)
{
	uint64_t g = ino / sb->inodes_per_group;

	if (g >= sb->group_count)
		g = 0;
	return super_group_first(sb, g) + super_group_meta(sb);
}

/* ---- encoding ------------------------------------------------------------ */

void super_encode(const struct super *sb, void *block, uint64_t blkno)
{
	struct diofs_super *d = block;

	memset(block, 0, sb->block_size);
	d->version = htole32(sb->version);
	d->block_size = htole32(sb->block_size);
	d->compat = htole32(sb->compat);
	d->ro_compat = htole32(sb->ro_compat);
	d->incompat = htole32(sb->incompat);
	d->inode_size = htole32(sb->inode_size);
	d->blocks_count = htole64(sb->blocks_count);
	d->inodes_count = htole64(sb->inodes_count);
	d->free_blocks = htole64(sb->free_blocks);
	d->free_inodes = htole64(sb->free_inodes);
	d->group_count = htole64(sb->group_count);
	d->group_start = htole64(sb->group_start);
	d->blocks_per_group = htole32(sb->blocks_per_group);
	d->inodes_per_group = htole32(sb->inodes_per_group);
	d->gdt_start = htole64(sb->gdt_start);
	d->gdt_blocks = htole64(sb->gdt_blocks);
	d->journal_start = htole64(sb->journal_start);
	d->journal_blocks = htole64(sb->journal_blocks);
	d->journal_seq = htole64(sb->journal_seq);
	d->backup_blkno = htole64(sb->backup_blkno);
	d->root_ino = htole64(sb->root_ino);
	d->first_ino = htole64(sb->first_ino);
	d->orphan_head = htole64(sb->orphan_head);
	d->mkfs_time = htole64((uint64_t)sb->mkfs_time);
	d->mount_time = htole64((uint64_t)sb->mount_time);
	d->write_time = htole64((uint64_t)sb->write_time);
	d->mount_count = htole32(sb->mount_count);
	d->state = htole32(sb->state);
	memcpy(d->hash_seed, sb->hash_seed, sizeof(d->hash_seed));
	memcpy(d->label, sb->label, strnlen(sb->label, DIOFS_LABEL_MAX));
	blkhdr_stamp(block, sb->block_size, DIOFS_MAGIC_SUPER, blkno, sb->uuid);
}

static void decode_fields(const struct diofs_super *d, struct super *sb)
{
	memset(sb, 0, sizeof(*sb));
	sb->version = le32toh(d->version);
	sb->block_size = le32toh(d->block_size);
	sb->compat = le32toh(d->compat);
	sb->ro_compat = le32toh(d->ro_compat);
	sb->incompat = le32toh(d->incompat);
	sb->inode_size = le32toh(d->inode_size);
	sb->blocks_count = le64toh(d->blocks_count);
	sb->inodes_count = le64toh(d->inodes_count);
	sb->free_blocks = le64toh(d->free_blocks);
	sb->free_inodes = le64toh(d->free_inodes);
	sb->group_count = le64toh(d->group_count);
	sb->group_start = le64toh(d->group_start);
	sb->blocks_per_group = le32toh(d->blocks_per_group);
	sb->inodes_per_group = le32toh(d->inodes_per_group);
	sb->gdt_start = le64toh(d->gdt_start);
	sb->gdt_blocks = le64toh(d->gdt_blocks);
	sb->journal_start = le64toh(d->journal_start);
	sb->journal_blocks = le64toh(d->journal_blocks);
	sb->journal_seq = le64toh(d->journal_seq);
	sb->backup_blkno = le64toh(d->backup_blkno);
	sb->root_ino = le64toh(d->root_ino);
	sb->first_ino = le64toh(d->first_ino);
	sb->orphan_head = le64toh(d->orphan_head);
	sb->mkfs_time = (int64_t)le64toh(d->mkfs_time);
	sb->mount_time = (int64_t)le64toh(d->mount_time);
	sb->write_time = (int64_t)le64toh(d->write_time);
	sb->mount_count = le32toh(d->mount_count);
	sb->state = le32toh(d->state);
	memcpy(sb->uuid, d->hdr.uuid, sizeof(sb->uuid));
	memcpy(sb->hash_seed, d->hash_seed, sizeof(sb->hash_seed));
	memcpy(sb->label, d->label, DIOFS_LABEL_MAX);
	sb->label[DIOFS_LABEL_MAX] = '\0';
}

/* Rule 1: every geometry field, checked against the others. */
static int check_geometry(const struct super *sb, char *msg, size_t msglen)
{
	uint32_t bits = DIOFS_BITMAP_BITS(sb->block_size);
	uint64_t last, covered;
	const char *what = NULL;

	if (sb->inode_size != DIOFS_INODE_SIZE)
		what = "inode size";
	else if (sb->blocks_per_group < 8 || sb->blocks_per_group > bits)
		what = "blocks per group";
	else if (sb->inodes_per_group == 0 ||
		 sb->inodes_per_group % sb->inodes_per_block ||
		 sb->inodes_per_group > bits ||
		 sb->first_ino < 2 || sb->first_ino > sb->inodes_per_group)
		what = "inodes per group";
	else if (super_group_meta(sb) >= sb->blocks_per_group)
		what = "inode table size";
	else if (sb->blocks_count < 4 ||
		 sb->backup_blkno != sb->blocks_count - 1)
		what = "block count";
	else if (sb->gdt_start != 1 || sb->group_count == 0 ||
		 sb->group_count > sb->blocks_count / sb->blocks_per_group + 1 ||
		 sb->gdt_blocks < div_up(sb->group_count, sb->descs_per_block) ||
		 sb->gdt_blocks >= sb->blocks_count)
		what = "group descriptor table";
	else if (sb->journal_start < sb->gdt_start + sb->gdt_blocks ||
		 sb->journal_start > sb->blocks_count ||
		 sb->journal_blocks > sb->blocks_count ||
		 sb->journal_start + sb->journal_blocks > sb->group_start)
		what = "journal area";
	else if (sb->group_start >= sb->backup_blkno ||
		 sb->inodes_count != sb->group_count * sb->inodes_per_group ||
		 sb->root_ino != DIOFS_ROOT_INO)
		what = "group layout";
	if (!what && sb->group_count > (sb->backup_blkno - sb->group_start) /
			sb->blocks_per_group + 1)
		what = "group count";
	if (!what) {
		/* The last group holds its metadata and at least one data
		 * block, and what no group covers is shorter than a group. */
		last = sb->group_count - 1;
		if (super_group_first(sb, last) >= sb->backup_blkno ||
		    super_group_len(sb, last) <= super_group_meta(sb))
			what = "group count";
		covered = super_group_first(sb, last) + super_group_len(sb, last);
		if (!what && sb->backup_blkno - covered >= sb->blocks_per_group)
			what = "group count";
	}
	if (what) {
		set_msg(msg, msglen, "superblock is inconsistent: bad %s", what);
		return -EUCLEAN;
	}
	return 0;
}

int super_decode(const void *block, uint64_t blkno, uint64_t dev_size,
		 uint32_t dev_block, struct super *sb, char *msg,
		 size_t msglen)
{
	const struct diofs_super *d = block;
	uint32_t bs = le32toh(d->block_size);
	uint32_t unknown;
	int err;

	if (le32toh(d->hdr.magic) != DIOFS_MAGIC_SUPER) {
		set_msg(msg, msglen, "not a diofs filesystem");
		return -EINVAL;
	}
	if (!is_pow2(bs) || bs < DIOFS_MIN_BLOCK_SIZE ||
	    bs > DIOFS_MAX_BLOCK_SIZE) {
		set_msg(msg, msglen,
		       "superblock at block %" PRIu64 " is corrupt: block size %u",
		       blkno, bs);
		return -EUCLEAN;
	}
	if (blkhdr_verify(block, bs, DIOFS_MAGIC_SUPER, blkno,
			  d->hdr.uuid) != 0) {
		set_msg(msg, msglen,
		       "superblock checksum mismatch at block %" PRIu64, blkno);
		return -EUCLEAN;
	}
	decode_fields(d, sb);
	if (sb->version != DIOFS_VERSION) {
		set_msg(msg, msglen,
		       "unsupported diofs version %u (this diofs reads version %u)",
		       sb->version, DIOFS_VERSION);
		return -EOPNOTSUPP;
	}
	unknown = sb->incompat & ~DIOFS_FEAT_INCOMPAT_KNOWN;
	if (unknown) {
		set_msg(msg, msglen,
		       "unsupported diofs features 0x%x: a newer diofs made or last changed this filesystem",
		       unknown);
		return -EOPNOTSUPP;
	}
	sb->read_only = (sb->ro_compat & ~DIOFS_FEAT_RO_COMPAT_KNOWN) != 0;
	derive(sb);
	err = check_geometry(sb, msg, msglen);
	if (err)
		return err;
	if (blkno != 0 && blkno != sb->backup_blkno) {
		set_msg(msg, msglen,
		       "superblock at block %" PRIu64 " is not a copy of this filesystem's",
		       blkno);
		return -EUCLEAN;
	}
	if (sb->block_size < dev_block) {
		set_msg(msg, msglen,
		       "block size %u is smaller than the device's %u-byte sectors",
		       sb->block_size, dev_block);
		return -EOPNOTSUPP;
	}
	if (sb->blocks_count > dev_size / sb->block_size) {
		set_msg(msg, msglen,
		       "device smaller than the filesystem: %" PRIu64 " bytes, the filesystem needs %" PRIu64,
		       dev_size, sb->blocks_count * sb->block_size);
		return -EFBIG;
	}
	return 0;
}

/* ---- reading ------------------------------------------------------------- */

static void *alloc_buf(struct bdev *bdev, size_t len)
{
	size_t align = bdev_mem_align(bdev);
	void *p;

	if (align < sizeof(void *))
		align = sizeof(void *);
	if (posix_memalign(&p, align, len))
		return NULL;
	return p;
}

static int read_blocks(struct bdev *bdev, void *buf, size_t len, uint64_t off)
{
	struct bdev_queue *q;
	ssize_t n;
	int err;

	err = bdev_queue_open(bdev, 1, &q);
	if (err)
		return err;
	n = bdev_pread(q, buf, len, off);
	bdev_queue_close(q);
	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EIO;
}

int super_read_at(struct bdev *bdev, uint32_t block_size, uint64_t blkno,
		  struct super *sb, char *msg, size_t msglen)
{
	uint64_t dev_size = bdev_size(bdev);
	const struct diofs_super *d;
	void *buf;
	int err;

	if (!is_pow2(block_size) || block_size < DIOFS_MIN_BLOCK_SIZE ||
	    block_size > DIOFS_MAX_BLOCK_SIZE ||
	    block_size < bdev_block_size(bdev) ||
	    blkno >= dev_size / block_size) {
		set_msg(msg, msglen, "no diofs superblock can be at block %" PRIu64
		       " with %u-byte blocks", blkno, block_size);
		return -EINVAL;
	}
	buf = alloc_buf(bdev, block_size);
	if (!buf)
		return -ENOMEM;
	err = read_blocks(bdev, buf, block_size, blkno * block_size);
	if (err) {
		set_msg(msg, msglen, "cannot read block %" PRIu64 ": %s", blkno,
		       strerror(-err));
		goto out;
	}
	d = buf;
	if (le32toh(d->hdr.magic) == DIOFS_MAGIC_SUPER &&
	    le32toh(d->block_size) != block_size) {
		set_msg(msg, msglen, "superblock at block %" PRIu64
		       " is for %u-byte blocks, not %u", blkno,
		       le32toh(d->block_size), block_size);
		err = -EUCLEAN;
		goto out;
	}
	err = super_decode(buf, blkno, dev_size, bdev_block_size(bdev), sb,
			   msg, msglen);
	if (!err) {
		sb->from_backup = blkno != 0;
		sb->bdev = bdev;
	}
out:
	free(buf);
	return err;
}

/*
 * Look at block 0: *bs gets the block size it claims and *backup the backup
 * location it names, both 0 when it is not legible enough to say.  Returns
 * 1 when block 0 carries the superblock magic, 0 when not, -errno.
 */
static int peek_primary(struct bdev *bdev, uint32_t *bs, uint64_t *backup)
{
	uint32_t len = bdev_block_size(bdev);
	const struct diofs_super *d;
	void *buf;
	int err;

	*bs = 0;
	*backup = 0;
	if (len < sizeof(struct diofs_super))
		len = sizeof(struct diofs_super);
	if (bdev_size(bdev) < len)
		return 0;
	buf = alloc_buf(bdev, len);
	if (!buf)
		return -ENOMEM;
	err = read_blocks(bdev, buf, len, 0);
	if (err)
		goto out;
	d = buf;
	err = le32toh(d->hdr.magic) == DIOFS_MAGIC_SUPER;
	if (err) {
		*bs = le32toh(d->block_size);
		*backup = le64toh(d->backup_blkno);
		if (!is_pow2(*bs) || *bs < DIOFS_MIN_BLOCK_SIZE ||
		    *bs > DIOFS_MAX_BLOCK_SIZE) {
			*bs = 0;
			*backup = 0;
		}
	}
out:
	free(buf);
	return err;
}

int super_probe(struct bdev *bdev)
{
	uint32_t bs;
	uint64_t backup;

	return peek_primary(bdev, &bs, &backup);
}

/* Rule 3: the errors that the backup must not paper over. */
static int is_final(int err)
{
	return err == -EOPNOTSUPP || err == -EFBIG || err == -ENOMEM;
}

int super_read(struct bdev *bdev, struct super *sb, char *msg, size_t msglen)
{
	static const uint32_t sizes[] = { 4096, 1024, 2048, 8192, 16384,
					  32768, 65536 };
	uint64_t dev_size = bdev_size(bdev);
	char why[160], dummy[160];
	uint64_t backup, blk;
	uint32_t bs;
	size_t i;
	int magic, err;

	magic = peek_primary(bdev, &bs, &backup);
	if (magic < 0) {
		set_msg(msg, msglen, "cannot read the superblock: %s",
		       strerror(-magic));
		return magic;
	}
	if (magic && bs && bs < bdev_block_size(bdev)) {
		set_msg(msg, msglen,
		       "block size %u is smaller than the device's %u-byte sectors",
		       bs, bdev_block_size(bdev));
		return -EOPNOTSUPP;
	}
	if (magic && bs) {
		err = super_read_at(bdev, bs, 0, sb, why, sizeof(why));
		if (!err || is_final(err)) {
			set_msg(msg, msglen, "%s", err ? why : "");
			return err;
		}
	} else if (magic) {
		err = -EUCLEAN;
		set_msg(why, sizeof(why), "superblock at block 0 is corrupt");
	} else {
		err = -EINVAL;
		set_msg(why, sizeof(why), "not a diofs filesystem");
	}

	/* The primary is unusable: try the backup where it may be. */
	if (bs && backup &&
	    !super_read_at(bdev, bs, backup, sb, dummy, sizeof(dummy)))
		goto found;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		bs = sizes[i];
		if (bs < bdev_block_size(bdev) || dev_size / bs < 2)
			continue;
		blk = dev_size / bs - 1;
		if (blk == backup)
			continue;
		if (!super_read_at(bdev, bs, blk, sb, dummy, sizeof(dummy)))
			goto found;
	}
	if (err == -EINVAL)
		set_msg(msg, msglen, "not a diofs filesystem (no superblock at the start or the end of the device)");
	else
		set_msg(msg, msglen, "%s, and no intact backup superblock", why);
	return err;

found:
	set_msg(msg, msglen, "%s; using the backup superblock at block %" PRIu64,
	       why, sb->backup_blkno);
	return 0;
}

/* ---- writing ------------------------------------------------------------- */

static int write_at(struct bdev_queue *q, const void *buf, size_t len,
		    uint64_t off)
{
	ssize_t n = bdev_pwrite(q, buf, len, off);

	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EIO;
}

/* Rule 2: primary, flush, backup, flush. */
static int write_both(struct bdev *bdev, struct bdev_queue *q,
		      const struct super *sb)
{
	uint32_t bs = sb->block_size;
	void *buf;
	int err;

	buf = alloc_buf(bdev, bs);
	if (!buf)
		return -ENOMEM;
	super_encode(sb, buf, 0);
	err = write_at(q, buf, bs, 0);
	if (!err)
		err = bdev_flush(bdev);
	if (!err) {
		super_encode(sb, buf, sb->backup_blkno);
		err = write_at(q, buf, bs, sb->backup_blkno * bs);
	}
	if (!err)
		err = bdev_flush(bdev);
	free(buf);
	return err;
}

int super_write(struct bdev *bdev, struct super *sb)
{
	struct bdev_queue *q;
	int err;

	err = bdev_queue_open(bdev, 1, &q);
	if (err)
		return err;
	sb->write_time = now_sec();
	err = write_both(bdev, q, sb);
	bdev_queue_close(q);
	return err;
}

int super_update(struct super *sb, struct cache *c, struct txn *t)
{
	uint64_t where[2] = { 0, sb->backup_blkno };
	struct mbuf *b;
	int i, err;

	sb->write_time = now_sec();
	for (i = 0; i < 2; i++) {
		err = cache_read(c, where[i], DIOFS_MAGIC_SUPER, &b);
		/* A damaged copy is rewritten whole. */
		if (err == -EUCLEAN)
			err = cache_new(c, where[i], DIOFS_MAGIC_SUPER, &b);
		if (err)
			return err;
		err = txn_add(t, b);
		if (!err)
			super_encode(sb, b->data, where[i]);
		cache_release(c, b);
		if (err)
			return err;
	}
	return 0;
}

/* ---- planning and formatting --------------------------------------------- */

static uint64_t default_journal(uint64_t blocks, uint32_t bs)
{
	uint64_t j = blocks / 128;

	if (j < SUPER_JOURNAL_MIN)
		j = SUPER_JOURNAL_MIN;
	if (j > SUPER_JOURNAL_MAX_BYTES / bs)
		j = SUPER_JOURNAL_MAX_BYTES / bs;
	if (j > blocks / 8)
		j = blocks / 8;
	if (j < SUPER_JOURNAL_LEAST)
		j = SUPER_JOURNAL_LEAST;
	return j;
}

int super_plan(uint64_t dev_size, uint32_t dev_block,
	       const struct format_opts *opts, struct super *sb, char *msg,
	       size_t msglen)
{
	uint32_t bs = opts->block_size ? opts->block_size
				       : DIOFS_DEFAULT_BLOCK_SIZE;
	uint64_t size = opts->size ? opts->size : dev_size;
	uint64_t blocks, gdt, avail, ngroups, wanted, ipg, ipg_max, len0, g;
	uint32_t bits = DIOFS_BITMAP_BITS(bs), bpg, ipb, meta;

	memset(sb, 0, sizeof(*sb));
	if (!is_pow2(bs) || bs < DIOFS_MIN_BLOCK_SIZE ||
	    bs > DIOFS_MAX_BLOCK_SIZE) {
		set_msg(msg, msglen, "invalid block size %u: use a power of two from %u to %u",
		       bs, DIOFS_MIN_BLOCK_SIZE, DIOFS_MAX_BLOCK_SIZE);
		return -EINVAL;
	}
	if (bs < dev_block) {
		set_msg(msg, msglen,
		       "block size %u is smaller than the device's %u-byte sectors",
		       bs, dev_block);
		return -EINVAL;
	}
	if (size > dev_size) {
		set_msg(msg, msglen,
		       "requested size %" PRIu64 " is larger than the device (%" PRIu64 " bytes)",
		       size, dev_size);
		return -EFBIG;
	}
	if (opts->label && strlen(opts->label) > DIOFS_LABEL_MAX) {
		set_msg(msg, msglen, "label is longer than %d bytes",
		       DIOFS_LABEL_MAX);
		return -EINVAL;
	}
	bpg = opts->blocks_per_group ? opts->blocks_per_group : bits;
	if (bpg < 64 || bpg > bits) {
		set_msg(msg, msglen, "blocks per group must be from 64 to %u",
		       bits);
		return -EINVAL;
	}
	blocks = size / bs;
	if (blocks < SUPER_MIN_BLOCKS)
		goto too_small;

	sb->version = DIOFS_VERSION;
	sb->block_size = bs;
	sb->compat = DIOFS_FEAT_COMPAT_JOURNAL;
	sb->incompat = DIOFS_FEAT_INCOMPAT_XATTR_RUNS;
	sb->inode_size = DIOFS_INODE_SIZE;
	sb->blocks_count = blocks;
	sb->backup_blkno = blocks - 1;
	sb->blocks_per_group = bpg;
	sb->gdt_start = 1;
	sb->root_ino = DIOFS_ROOT_INO;
	sb->first_ino = DIOFS_FIRST_INO;
	sb->journal_seq = 1;
	ipb = DIOFS_INODES_PER_BLOCK(bs);

	/* The table is sized for every group the device could hold, which
	 * over-counts by at most one block and breaks the circle between
	 * its size and where group 0 starts. */
	gdt = div_up(div_up(blocks, bpg), DIOFS_DESCS_PER_BLOCK(bs));
	sb->gdt_blocks = gdt;
	sb->journal_start = 1 + gdt;
	sb->journal_blocks = opts->journal_blocks ? opts->journal_blocks
						  : default_journal(blocks, bs);
	if (sb->journal_blocks < SUPER_JOURNAL_LEAST) {
		set_msg(msg, msglen,
		       "a journal of %" PRIu64 " blocks is too small: give at least %u blocks (%u KiB)",
		       sb->journal_blocks, SUPER_JOURNAL_LEAST,
		       SUPER_JOURNAL_LEAST * (bs / 1024));
		return -EINVAL;
	}
	if (sb->journal_blocks >= blocks)
		goto too_small;
	sb->group_start = sb->journal_start + sb->journal_blocks;
	if (sb->group_start + SUPER_MIN_GROUP_DATA >= sb->backup_blkno)
		goto too_small;
	avail = sb->backup_blkno - sb->group_start;

	/* Inodes: spread what is wanted over the groups, in whole
	 * inode-table blocks, within one bitmap block and half a group. */
	ngroups = div_up(avail, bpg);
	len0 = avail < bpg ? avail : bpg;
	wanted = opts->inodes ? opts->inodes
			      : size / FORMAT_BYTES_PER_INODE;
	ipg = div_up(div_up(wanted, ngroups), ipb) * ipb;
	/* Group 0 also holds the reserved inodes: fewer than these plus
	 * FORMAT_MIN_FREE_INODES would leave little or no room for files. */
	if (ipg < DIOFS_FIRST_INO + FORMAT_MIN_FREE_INODES)
		ipg = div_up(DIOFS_FIRST_INO + FORMAT_MIN_FREE_INODES, ipb) * ipb;
	ipg_max = bits / ipb * ipb;
	if (len0 / 2 > 2 && (len0 / 2 - 2) * ipb < ipg_max)
		ipg_max = (len0 / 2 - 2) * ipb;
	if (ipg_max < div_up(DIOFS_FIRST_INO, ipb) * ipb)
		goto too_small;
	if (ipg > ipg_max) {
		if (opts->inodes) {
			set_msg(msg, msglen,
			       "too many inodes requested: at most %" PRIu64 " fit",
			       ipg_max * ngroups);
			return -EINVAL;
		}
		ipg = ipg_max;
	}
	sb->inodes_per_group = (uint32_t)ipg;
	derive(sb);
	meta = super_group_meta(sb);

	/* Every full group, plus a partial last one if it has room. */
	sb->group_count = avail / bpg;
	if (avail % bpg >= meta + SUPER_MIN_GROUP_DATA)
		sb->group_count++;
	if (sb->group_count == 0)
		goto too_small;
	sb->inodes_count = sb->group_count * ipg;
	sb->free_inodes = sb->inodes_count - DIOFS_FIRST_INO;
	for (g = 0; g < sb->group_count; g++)
		sb->free_blocks += super_group_len(sb, g) - meta;
	if (opts->label)
		strcpy(sb->label, opts->label);
	return check_geometry(sb, msg, msglen);

too_small:
	set_msg(msg, msglen,
	       "%" PRIu64 " bytes is too small for diofs with %u-byte blocks",
	       size, bs);
	return -ENOSPC;
}

static void random_bytes(uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n <= 0) {
			/* Only an interrupted call or a kernel without
			 * getrandom gets here; time keeps the bytes varied. */
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			*p ^= (uint8_t)(ts.tv_nsec ^ (ts.tv_nsec >> 8));
			n = 1;
		}
		p += n;
		len -= (size_t)n;
	}
}

static void set_bits(uint8_t *bitmap, uint64_t from, uint64_t to)
{
	for (; from < to; from++)
		bitmap[from / 8] |= (uint8_t)(1u << (from % 8));
}

/* A run of blocks built in memory and written with one request. */
struct fmt_out {
	struct bdev_queue *q;
	uint32_t bs;
	uint8_t *buf;
	size_t cap;		/* blocks buf holds */
	size_t n;		/* blocks in buf */
	uint64_t first;		/* block number of buf[0] */
};

static int out_flush(struct fmt_out *o)
{
	int err = 0;

	if (o->n)
		err = write_at(o->q, o->buf, o->n * o->bs, o->first * o->bs);
	o->n = 0;
	return err;
}

/* The next block of the run, zeroed; starts a new run at blkno if needed. */
static int out_block(struct fmt_out *o, uint64_t blkno, uint8_t **block)
{
	int err;

	if (o->n && (o->n == o->cap || o->first + o->n != blkno)) {
		err = out_flush(o);
		if (err)
			return err;
	}
	if (!o->n)
		o->first = blkno;
	*block = o->buf + o->n++ * o->bs;
	memset(*block, 0, o->bs);
	return 0;
}

static void fill_desc(const struct super *sb, uint64_t g,
		      struct diofs_group_desc *d)
{
	uint64_t first = super_group_first(sb, g);
	uint32_t meta = super_group_meta(sb);

	d->block_bitmap = htole64(first);
	d->inode_bitmap = htole64(first + 1);
	d->inode_table = htole64(first + 2);
	d->free_blocks = htole32((uint32_t)(super_group_len(sb, g) - meta));
	if (g == 0) {
		d->free_inodes = htole32(sb->inodes_per_group - DIOFS_FIRST_INO);
		d->dirs = htole32(1);
		d->itable_init = htole32((uint32_t)div_up(DIOFS_FIRST_INO,
							   sb->inodes_per_block));
	} else {
		d->free_inodes = htole32(sb->inodes_per_group);
		d->flags = htole32(DIOFS_BG_BLOCK_UNINIT | DIOFS_BG_INODE_UNINIT);
	}
}

static void fill_root(const struct super *sb, const struct format_opts *opts,
		      struct diofs_inode *ino)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ino->mode = htole32(S_IFDIR | 0755);
	ino->uid = htole32(opts->root_uid);
	ino->gid = htole32(opts->root_gid);
	ino->links = htole32(2);
	ino->ino = htole64(DIOFS_ROOT_INO);
	ino->atime = ino->mtime = ino->ctime = ino->crtime =
		htole64((uint64_t)ts.tv_sec);
	ino->atime_nsec = ino->mtime_nsec = ino->ctime_nsec =
		ino->crtime_nsec = htole32((uint32_t)ts.tv_nsec);
	ino->parent = htole64(DIOFS_ROOT_INO);
}

static int write_structures(struct fmt_out *o, const struct super *sb,
			    const struct format_opts *opts)
{
	uint32_t bs = sb->block_size, ipb = sb->inodes_per_block;
	uint64_t k, g, first = super_group_first(sb, 0);
	uint32_t itable_init = (uint32_t)div_up(DIOFS_FIRST_INO, ipb);
	uint8_t *blk;
	int err;

	/* Rule 2: the old primary goes first. */
	err = out_block(o, 0, &blk);
	if (!err)
		err = out_flush(o);
	for (k = 0; !err && k < sb->gdt_blocks; k++) {
		err = out_block(o, sb->gdt_start + k, &blk);
		for (g = k * sb->descs_per_block;
		     !err && g < sb->group_count &&
		     g < (k + 1) * sb->descs_per_block; g++)
			fill_desc(sb, g,
				  (struct diofs_group_desc *)(blk + 32) +
				  (g % sb->descs_per_block));
		if (!err)
			blkhdr_stamp(blk, bs, DIOFS_MAGIC_GDT, sb->gdt_start + k,
				     sb->uuid);
	}

	/* Group 0: bitmaps, then the inode-table blocks of the reserved
	 * inodes, root included. */
	if (!err)
		err = out_block(o, first, &blk);
	if (!err) {
		set_bits(blk + 32, 0, super_group_meta(sb));
		set_bits(blk + 32, super_group_len(sb, 0),
			 DIOFS_BITMAP_BITS(bs));
		blkhdr_stamp(blk, bs, DIOFS_MAGIC_BBITMAP, first, sb->uuid);
		err = out_block(o, first + 1, &blk);
	}
	if (!err) {
		set_bits(blk + 32, 0, DIOFS_FIRST_INO);
		set_bits(blk + 32, sb->inodes_per_group, DIOFS_BITMAP_BITS(bs));
		blkhdr_stamp(blk, bs, DIOFS_MAGIC_IBITMAP, first + 1, sb->uuid);
	}
	for (k = 0; !err && k < itable_init; k++) {
		err = out_block(o, first + 2 + k, &blk);
		if (err)
			break;
		if (k == DIOFS_ROOT_INO / ipb)
			fill_root(sb, opts, (struct diofs_inode *)
				  (blk + 32 + (DIOFS_ROOT_INO % ipb) *
				   DIOFS_INODE_SIZE));
		blkhdr_stamp(blk, bs, DIOFS_MAGIC_ITABLE, first + 2 + k,
			     sb->uuid);
	}
	if (!err)
		err = out_flush(o);
	return err;
}

int super_format(struct bdev *bdev, const struct format_opts *opts,
		 struct super *sb_out, char *msg, size_t msglen)
{
	struct fmt_out o = { 0 };
	struct super sb;
	int err;

	if (bdev_read_only(bdev)) {
		set_msg(msg, msglen, "the device is read-only");
		return -EROFS;
	}
	err = super_plan(bdev_size(bdev), bdev_block_size(bdev), opts, &sb,
			 msg, msglen);
	if (err)
		return err;
	if (opts->uuid)
		memcpy(sb.uuid, opts->uuid, sizeof(sb.uuid));
	else {
		random_bytes(sb.uuid, sizeof(sb.uuid));
		sb.uuid[6] = (sb.uuid[6] & 0x0f) | 0x40;	/* version 4 */
		sb.uuid[8] = (sb.uuid[8] & 0x3f) | 0x80;	/* RFC 4122 */
	}
	random_bytes(sb.hash_seed, sizeof(sb.hash_seed));
	sb.mkfs_time = now_sec();
	sb.write_time = sb.mkfs_time;

	o.bs = sb.block_size;
	o.cap = SUPER_IO_CHUNK / o.bs;
	if (o.cap == 0)
		o.cap = 1;
	o.buf = alloc_buf(bdev, o.cap * o.bs);
	if (!o.buf) {
		err = -ENOMEM;
		goto out_msg;
	}
	err = bdev_queue_open(bdev, 1, &o.q);
	if (err)
		goto out_buf;
	err = write_structures(&o, &sb, opts);
	if (!err)
		err = journal_format(bdev, &sb);
	if (!err)
		err = bdev_flush(bdev);
	if (!err)
		err = write_both(bdev, o.q, &sb);
	bdev_queue_close(o.q);
out_buf:
	free(o.buf);
out_msg:
	if (err) {
		set_msg(msg, msglen, "cannot write the filesystem: %s",
		       strerror(-err));
		return err;
	}
	if (sb_out) {
		sb.bdev = bdev;
		*sb_out = sb;
	}
	return 0;
}
