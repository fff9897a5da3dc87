/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal: the write-ahead log of metadata blocks (journal.h).
 *
 * NOTES ON THE DESIGN OF THE JOURNAL
 *
 * The journal area is one superblock (struct diofs_jsuper) followed by a
 * ring of log blocks.  A transaction is written at the head of the ring as
 *
 *   [descriptor: home block numbers] [image] [image] ... [descriptor] ...
 *   [revoke: block numbers] ... [commit: count, crc32c of all the above]
 *
 * every record carrying the transaction's sequence number.  Images are
 * verbatim metadata blocks.  The journal keeps a copy of every image
 * committed since the last checkpoint, by home block number (the latest
 * wins), so a checkpoint writes committed contents home without looking at
 * the cache, whose blocks a running transaction may be changing.
 *
 *   journal_commit():      records ─▶ flush ─▶ commit record ─▶ flush
 *                          ─▶ images kept for the checkpoint
 *   journal_checkpoint():  images home (but block 0) ─▶ flush ─▶ block 0
 *                          ─▶ flush ─▶ journal superblock (tail = head)
 *                          ─▶ flush ─▶ log space free again
 *   journal_recover():     scan from the tail while records verify and
 *                          commits match ─▶ images in sequence order, a
 *                          revoke dropping the earlier images of its block
 *                          ─▶ home (write) or an overlay (memory)
 *
 * Rules:
 *  1. Log positions are indexes into the ring; log block i is device block
 *     start + 1 + i.  used counts the blocks from tail to head.
 *  2. A revoke is logged only for a block with an image in the live log
 *     (tail to head): nothing older can replay over it.  A block freed by a
 *     transaction is not reused before that transaction is durable (the
 *     allocator's rule), so no transaction both logs and revokes a block.
 *  3. After a replay or an invalid journal superblock, the next sequence
 *     number skips past anything the log may still hold: last + 2 after a
 *     replay (the torn transaction, if any, was last + 1), and for a fresh
 *     journal the current time in seconds times 2^20, above any sequence a
 *     journal of an earlier mkfs could have reached.
 *  4. j->error is sticky (journal.h rule 5).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diofs/crc.h"
#include "diofs/format.h"
#include "diofs/journal.h"
#include "diofs/super.h"
#include "diofs/util.h"
#include "diofs/stats.h"

#define JOURNAL_QUEUE_DEPTH	64
#define JOURNAL_MAX_IOV		64	/* blocks merged into one request */
#define JOURNAL_READ_AHEAD	256	/* log blocks read at once by replay */

struct jimg {
	struct jimg *next;
	uint64_t blkno;
	void *data;
};

struct journal {
	struct bdev *bdev;
	struct bdev_queue *q;
	uint32_t bs;
	size_t align;
	uint8_t uuid[16];
	uint64_t start;			/* the journal superblock */
	uint64_t nlog;			/* log blocks */
	uint64_t tail, tail_seq;	/* as the journal superblock says */
	uint64_t head, head_seq;	/* where the next transaction goes */
	uint64_t used;			/* rule 1 */
	struct jimg **hash;		/* committed images, by home block */
	size_t hash_mask;
	size_t nimg;
	bool skip_commit_flush;
	bool overlaid;			/* the images overlay the device */
	int error;			/* rule 4 */
};

static uint64_t log_dev(const struct journal *j, uint64_t pos)
{
	return j->start + 1 + pos;
}

static uint64_t log_next(const struct journal *j, uint64_t pos)
{
	return pos + 1 == j->nlog ? 0 : pos + 1;
}

static void *block_alloc(const struct journal *j, size_t nblocks)
{
	void *p;

	if (posix_memalign(&p, j->align, nblocks * j->bs))
		return NULL;
	memset(p, 0, nblocks * j->bs);
	return p;
}

/* ---- committed images ------------------------------------------------- */

static struct jimg **img_slot(struct journal *j, uint64_t blkno)
{
	struct jimg **pp = &j->hash[(blkno * 0x9E3779B97F4A7C15ull >> 20) &
				    j->hash_mask];

	while (*pp && (*pp)->blkno != blkno)
		pp = &(*pp)->next;
	return pp;
}

/* Keep data as blkno's latest image; 0 or -ENOMEM (data freed then). */
static int img_put(struct journal *j, uint64_t blkno, void *data)
{
	struct jimg **pp = img_slot(j, blkno), *im = *pp;

	if (im) {
		free(im->data);
		im->data = data;
		return 0;
	}
	im = malloc(sizeof(*im));
	if (!im) {
		free(data);
		return -ENOMEM;
	}
	im->next = NULL;
	im->blkno = blkno;
	im->data = data;
	*pp = im;
	j->nimg++;
	return 0;
}

/* Drop blkno's image; whether there was one. */
static bool img_drop(struct journal *j, uint64_t blkno)
{
	struct jimg **pp = img_slot(j, blkno), *im = *pp;

	if (!im)
		return false;
	*pp = im->next;
	free(im->data);
	free(im);
	j->nimg--;
	return true;
}

static void img_clear(struct journal *j)
{
	size_t i;

	for (i = 0; i <= j->hash_mask; i++) {
		while (j->hash[i]) {
			struct jimg *im = j->hash[i];

			j->hash[i] = im->next;
			free(im->data);
			free(im);
		}
	}
	j->nimg = 0;
}

static int cmp_img(const void *a, const void *b)
{
	const struct jimg *x = *(struct jimg *const *)a;
	const struct jimg *y = *(struct jimg *const *)b;

	return x->blkno < y->blkno ? -1 : x->blkno > y->blkno;
}

/* The images sorted by home block (block 0 first), or NULL. */
static struct jimg **img_sorted(struct journal *j)
{
	struct jimg **v = malloc((j->nimg ? j->nimg : 1) * sizeof(*v));
	size_t i, n = 0;

	if (!v)
		return NULL;
	for (i = 0; i <= j->hash_mask; i++)
		for (struct jimg *im = j->hash[i]; im; im = im->next)
			v[n++] = im;
	qsort(v, n, sizeof(*v), cmp_img);
	return v;
}

/* bdev overlay (bdev_set_overlay): the replayed images over the device. */
static void overlay_patch(void *arg, void *buf, size_t len, uint64_t off)
{
	struct journal *j = arg;
	uint64_t b, end = off + len;

	for (b = off / j->bs; b * j->bs < end; b++) {
		struct jimg *im = *img_slot(j, b);
		uint64_t s, e;

		if (!im)
			continue;
		s = b * j->bs > off ? b * j->bs : off;
		e = (b + 1) * j->bs < end ? (b + 1) * j->bs : end;
		memcpy((char *)buf + (s - off),
		       (char *)im->data + (s - b * j->bs), e - s);
	}
}

/* ---- writing ---------------------------------------------------------- */

/*
 * Write bufs[i] to device block dev[i], merging runs of consecutive
 * blocks into one request each.
 */
static int write_blocks(struct journal *j, const uint64_t *dev,
			void *const *bufs, size_t n)
{
	struct bdev_req *reqs;
	struct iovec *iov;
	size_t i, nreq = 0;
	int err;

	if (!n)
		return 0;
	reqs = calloc(n, sizeof(*reqs));
	iov = calloc(n, sizeof(*iov));
	if (!reqs || !iov) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct bdev_req *r = nreq ? &reqs[nreq - 1] : NULL;

		iov[i].iov_base = bufs[i];
		iov[i].iov_len = j->bs;
		if (r && dev[i] == dev[i - 1] + 1 &&
		    r->iovcnt < JOURNAL_MAX_IOV) {
			r->iovcnt++;
			continue;
		}
		r = &reqs[nreq++];
		r->op = BDEV_WRITE;
		r->offset = dev[i] * j->bs;
		r->iov = &iov[i];
		r->iovcnt = 1;
	}
	err = bdev_run(j->q, reqs, nreq);
out:
	free(iov);
	free(reqs);
	return err;
}

static void jsuper_encode(const struct journal *j, void *block)
{
	struct diofs_jsuper *js = block;

	memset(block, 0, j->bs);
	js->version = htole32(DIOFS_JOURNAL_VERSION);
	js->block_size = htole32(j->bs);
	js->nblocks = htole64(j->nlog + 1);
	js->tail = htole64(j->tail);
	js->tail_seq = htole64(j->tail_seq);
	blkhdr_stamp(block, j->bs, DIOFS_MAGIC_JSUPER, j->start, j->uuid);
}

/* Rule 3: a sequence number above anything an earlier journal wrote. */
static uint64_t fresh_seq(void)
{
	return ((uint64_t)time(NULL) << 20) + 1;
}

/* A journal over sb's area with an empty ring, no I/O yet. */
static int journal_alloc(struct bdev *bdev, const struct super *sb,
			 struct journal **out)
{
	struct journal *j = calloc(1, sizeof(*j));
	size_t buckets = 64;
	int err;

	if (!j)
		return -ENOMEM;
	j->bdev = bdev;
	j->bs = sb->block_size;
	j->align = bdev_mem_align(bdev);
	if (j->align < sizeof(void *))
		j->align = sizeof(void *);
	memcpy(j->uuid, sb->uuid, sizeof(j->uuid));
	j->start = sb->journal_start;
	j->nlog = sb->journal_blocks - 1;
	while (buckets < j->nlog && buckets < (1u << 20))
		buckets *= 2;
	j->hash = calloc(buckets, sizeof(*j->hash));
	if (!j->hash) {
		free(j);
		return -ENOMEM;
	}
	j->hash_mask = buckets - 1;
	err = bdev_queue_open(bdev, JOURNAL_QUEUE_DEPTH, &j->q);
	if (err) {
		free(j->hash);
		free(j);
		return err;
	}
	*out = j;
	return 0;
}

int journal_format(struct bdev *bdev, const struct super *sb)
{
	struct journal *j;
	void *buf;
	int err;

	if (sb->journal_blocks < 2)
		return -EINVAL;
	err = journal_alloc(bdev, sb, &j);
	if (err)
		return err;
	j->tail_seq = j->head_seq = fresh_seq();
	buf = block_alloc(j, 1);
	if (!buf) {
		err = -ENOMEM;
	} else {
		jsuper_encode(j, buf);
		err = write_blocks(j, &j->start, &buf, 1);
	}
	free(buf);
	journal_close(j);
	return err;
}

/* ---- open and close --------------------------------------------------- */

/* Check the journal superblock in buf; -EUCLEAN / -EOPNOTSUPP with msg. */
static int jsuper_decode(struct journal *j, const void *buf, char *msg,
			 size_t msglen)
{
	const struct diofs_jsuper *js = buf;

	if (blkhdr_verify(buf, j->bs, DIOFS_MAGIC_JSUPER, j->start, j->uuid)) {
		set_msg(msg, msglen, "the journal superblock is damaged");
		return -EUCLEAN;
	}
	if (le32toh(js->version) > DIOFS_JOURNAL_VERSION) {
		set_msg(msg, msglen,
		       "the journal has format version %u, newer than this diofs knows (%u): use a newer diofs",
		       le32toh(js->version), DIOFS_JOURNAL_VERSION);
		return -EOPNOTSUPP;
	}
	if (le32toh(js->block_size) != j->bs ||
	    le64toh(js->nblocks) != j->nlog + 1 ||
	    le64toh(js->tail) >= j->nlog) {
		set_msg(msg, msglen,
		       "the journal superblock does not match the filesystem");
		return -EUCLEAN;
	}
	j->tail = j->head = le64toh(js->tail);
	j->tail_seq = j->head_seq = le64toh(js->tail_seq);
	return 0;
}

int journal_open(struct bdev *bdev, const struct super *sb,
		 struct journal **out, char *msg, size_t msglen)
{
	bool recover = sb->incompat & DIOFS_FEAT_INCOMPAT_RECOVER;
	struct journal *j;
	ssize_t n;
	void *buf;
	int err;

	if (sb->journal_blocks < 2) {
		set_msg(msg, msglen, "the filesystem has no journal area");
		return -EUCLEAN;
	}
	err = journal_alloc(bdev, sb, &j);
	if (err) {
		set_msg(msg, msglen, "cannot set up the journal");
		return err;
	}
	buf = block_alloc(j, 1);
	if (!buf) {
		err = -ENOMEM;
		set_msg(msg, msglen, "cannot set up the journal");
		goto out_close;
	}
	n = bdev_pread(j->q, buf, j->bs, j->start * j->bs);
	if (n != (ssize_t)j->bs) {
		err = n < 0 ? (int)n : -EIO;
		set_msg(msg, msglen, "cannot read the journal superblock");
		goto out_buf;
	}
	err = jsuper_decode(j, buf, msg, msglen);
	if (err == -EUCLEAN && !recover) {
		/* Nothing to replay: a journal of an older mkfs, or one
		 * that is damaged but empty, simply starts afresh. */
		j->tail = j->head = 0;
		j->tail_seq = j->head_seq = fresh_seq();
		err = 0;
	} else if (err == -EUCLEAN) {
		set_msg(msg, msglen,
		       "the journal superblock is damaged and the journal needs recovery: run fsck.diofs -y");
	}
	if (err)
		goto out_buf;
	free(buf);
	*out = j;
	return 0;

out_buf:
	free(buf);
out_close:
	journal_close(j);
	return err;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->overlaid)
		bdev_set_overlay(j->bdev, NULL, NULL);
	bdev_queue_close(j->q);
	img_clear(j);
	free(j->hash);
	free(j);
}

void journal_skip_commit_flush(struct journal *j, bool skip)
{
	j->skip_commit_flush = skip;
}

uint64_t journal_max_transaction(const struct journal *j)
{
	/* Half the ring: a transaction must fit after a checkpoint, and
	 * its descriptors take up to one block in DIOFS_JREC_SLOTS. */
	return j->nlog / 2;
}

bool journal_wants_checkpoint(const struct journal *j)
{
	return j->used > j->nlog / 2;
}

int journal_reset(struct journal *j)
{
	void *buf;
	int err;

	if (j->error)
		return j->error;
	buf = block_alloc(j, 1);
	if (!buf)
		return -ENOMEM;
	j->tail = j->head;
	j->tail_seq = j->head_seq;
	j->used = 0;
	jsuper_encode(j, buf);
	err = write_blocks(j, &j->start, &buf, 1);
	if (!err)
		err = bdev_flush(j->bdev);
	free(buf);
	if (err)
		j->error = err;
	return err;
}

/* ---- commit and checkpoint ---------------------------------------------- */

static void record_init(const struct journal *j, void *block, uint64_t seq,
			uint32_t count)
{
	struct diofs_jrec *r = block;

	memset(block, 0, j->bs);
	r->seq = htole64(seq);
	r->count = htole32(count);
}

static le64 *record_slots(void *block)
{
	return (le64 *)((char *)block + sizeof(struct diofs_jrec));
}

int journal_commit(struct journal *j, struct journal_block *blocks,
		   size_t n, const uint64_t *revoked, size_t nrevoked)
{
	uint32_t slots = DIOFS_JREC_SLOTS(j->bs), crc = 0;
	size_t ndesc = (n + slots - 1) / slots, nkeep = 0, nrec, need, i, k = 0;
	uint64_t *keep = NULL, *dev = NULL, pos = j->head, seq = j->head_seq;
	void **bufs = NULL;
	uint8_t *recs = NULL;
	struct diofs_jrec *cr;
	int err = j->error;

	if (err)
		goto out;
	/* Rule 2: only blocks the live log holds need a revoke record. */
	keep = malloc((nrevoked ? nrevoked : 1) * sizeof(*keep));
	if (!keep) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nrevoked; i++)
		if (img_drop(j, revoked[i]))
			keep[nkeep++] = revoked[i];
	nrec = ndesc + (nkeep + slots - 1) / slots + 1;
	need = nrec + n;
	if (need > journal_max_transaction(j)) {
		err = -ENOSPC;
		goto out;
	}
	/* The caller checkpoints first when journal_wants_checkpoint(). */
	if (need > j->nlog - j->used) {
		err = -ENOSPC;
		goto out;
	}
	recs = block_alloc(j, nrec);
	dev = malloc(need * sizeof(*dev));
	bufs = malloc(need * sizeof(*bufs));
	if (!recs || !dev || !bufs) {
		err = -ENOMEM;
		goto out;
	}

	/* Descriptors, each followed by the images it names. */
	for (i = 0; i < n; i += slots) {
		size_t m = n - i < slots ? n - i : slots, t;
		void *d = recs + (k - i) * j->bs;

		record_init(j, d, seq, (uint32_t)m);
		for (t = 0; t < m; t++)
			record_slots(d)[t] = htole64(blocks[i + t].blkno);
		blkhdr_stamp(d, j->bs, DIOFS_MAGIC_JDESC, log_dev(j, pos),
			     j->uuid);
		dev[k] = log_dev(j, pos);
		bufs[k++] = d;
		pos = log_next(j, pos);
		for (t = 0; t < m; t++) {
			dev[k] = log_dev(j, pos);
			bufs[k++] = blocks[i + t].data;
			pos = log_next(j, pos);
		}
	}
	for (i = 0; i < nkeep; i += slots) {
		size_t m = nkeep - i < slots ? nkeep - i : slots, t;
		void *r = recs + (k - n) * j->bs;

		record_init(j, r, seq, (uint32_t)m);
		for (t = 0; t < m; t++)
			record_slots(r)[t] = htole64(keep[i + t]);
		blkhdr_stamp(r, j->bs, DIOFS_MAGIC_JREVOKE, log_dev(j, pos),
			     j->uuid);
		dev[k] = log_dev(j, pos);
		bufs[k++] = r;
		pos = log_next(j, pos);
	}
	for (i = 0; i < k; i++)
		crc = diofs_crc32c(crc, bufs[i], j->bs);
	cr = (struct diofs_jrec *)(recs + (nrec - 1) * j->bs);
	record_init(j, cr, seq, (uint32_t)k);
	cr->crc = htole32(crc);
	cr->time = htole64((uint64_t)time(NULL));
	blkhdr_stamp(cr, j->bs, DIOFS_MAGIC_JCOMMIT, log_dev(j, pos), j->uuid);
	dev[k] = log_dev(j, pos);
	bufs[k] = cr;

	/* Rule 2 of journal.h: everything before the commit record is on
	 * stable media before the commit record is written. */
	err = write_blocks(j, dev, bufs, k);
	if (!err && !j->skip_commit_flush)
		err = bdev_flush(j->bdev);
	if (!err)
		err = write_blocks(j, &dev[k], &bufs[k], 1);
	if (!err)
		err = bdev_flush(j->bdev);
	if (err) {
		j->error = err;
		goto out;
	}

	/* Durable: the images now wait for the checkpoint. */
	for (i = 0; i < n; i++) {
		int e = img_put(j, blocks[i].blkno, blocks[i].data);

		blocks[i].data = NULL;
		if (e && !err)
			err = j->error = e;
	}
	j->head = log_next(j, pos);
	j->head_seq++;
	j->used += need;
	stats_count(bdev_stats(j->bdev), STATS_JOURNAL_COMMITS, 1);
	stats_count(bdev_stats(j->bdev), STATS_JOURNAL_BLOCKS, n);
out:
	for (i = 0; i < n; i++) {
		free(blocks[i].data);
		blocks[i].data = NULL;
	}
	free(bufs);
	free(dev);
	free(recs);
	free(keep);
	return err;
}

/*
 * Rule 4 of journal.h: write imgs home, then the primary superblock, then
 * the journal superblock with the new tail, each step durable before the
 * next.  The primary goes alone: it must never be the stale one of two
 * valid copies once the journal that would correct it is gone.
 */
static int write_home(struct journal *j, struct jimg **v, size_t n,
		      void *tail_block)
{
	uint64_t *dev = malloc((n ? n : 1) * sizeof(*dev));
	void **bufs = malloc((n ? n : 1) * sizeof(*bufs));
	size_t i, first = n && v[0]->blkno == 0 ? 1 : 0;
	int err;

	if (!dev || !bufs) {
		err = -ENOMEM;
		goto out;
	}
	for (i = first; i < n; i++) {
		dev[i - first] = v[i]->blkno;
		bufs[i - first] = v[i]->data;
	}
	err = write_blocks(j, dev, bufs, n - first);
	if (!err && n > first)
		err = bdev_flush(j->bdev);
	if (!err && first) {
		dev[0] = 0;
		bufs[0] = v[0]->data;
		err = write_blocks(j, dev, bufs, 1);
		if (!err)
			err = bdev_flush(j->bdev);
	}
	if (!err && tail_block) {
		err = write_blocks(j, &j->start, &tail_block, 1);
		if (!err)
			err = bdev_flush(j->bdev);
	}
out:
	free(bufs);
	free(dev);
	return err;
}

/* Write every image home and move the tail to the head. */
static int checkpoint_all(struct journal *j)
{
	struct jimg **v = img_sorted(j);
	uint64_t tail = j->tail, tail_seq = j->tail_seq;
	void *buf = block_alloc(j, 1);
	int err;

	if (!v || !buf) {
		err = -ENOMEM;
		goto out;
	}
	j->tail = j->head;
	j->tail_seq = j->head_seq;
	jsuper_encode(j, buf);
	err = write_home(j, v, j->nimg, buf);
	if (err) {
		j->tail = tail;
		j->tail_seq = tail_seq;
		j->error = err;
		goto out;
	}
	img_clear(j);
	j->used = 0;
out:
	free(buf);
	free(v);
	return err;
}

int journal_checkpoint(struct journal *j)
{
	if (j->error)
		return j->error;
	if (!j->used && !j->nimg)
		return 0;
	stats_count(bdev_stats(j->bdev), STATS_CHECKPOINTS, 1);
	return checkpoint_all(j);
}

/* ---- recovery --------------------------------------------------------- */

/* Reads log blocks in runs of JOURNAL_READ_AHEAD. */
struct log_reader {
	struct journal *j;
	uint8_t *buf;
	uint64_t first;		/* log position of buf's first block */
	uint64_t count;		/* blocks in buf */
};

static int log_block(struct log_reader *rd, uint64_t pos, void **out)
{
	struct journal *j = rd->j;
	ssize_t n;

	if (pos < rd->first || pos >= rd->first + rd->count) {
		uint64_t cnt = j->nlog - pos;

		if (cnt > JOURNAL_READ_AHEAD)
			cnt = JOURNAL_READ_AHEAD;
		n = bdev_pread(j->q, rd->buf, cnt * j->bs,
			       log_dev(j, pos) * j->bs);
		if (n != (ssize_t)(cnt * j->bs))
			return n < 0 ? (int)n : -EIO;
		rd->first = pos;
		rd->count = cnt;
	}
	*out = rd->buf + (pos - rd->first) * j->bs;
	return 0;
}

/* One transaction's contents while it is read, before its commit. */
struct pending {
	struct journal_block *img;
	size_t nimg, cap_img;
	uint64_t *rev;
	size_t nrev, cap_rev;
	uint64_t *tags;		/* one descriptor's block numbers */
};

static void pending_clear(struct pending *p)
{
	size_t i;

	for (i = 0; i < p->nimg; i++)
		free(p->img[i].data);
	p->nimg = p->nrev = 0;
}

/*
 * Read the transaction seq at *pos.  1: it committed (*pos is past it,
 * its contents in p); 0: it is not there or is torn (*torn says which);
 * -errno on I/O error or no memory.
 */
static int read_transaction(struct log_reader *rd, uint64_t *pos,
			    uint64_t seq, struct pending *p, bool *torn)
{
	struct journal *j = rd->j;
	uint32_t slots = DIOFS_JREC_SLOTS(j->bs), crc = 0, count = 0;
	uint64_t at = *pos;
	void *b;
	int err;

	*torn = false;
	while (count < j->nlog) {
		const struct diofs_jrec *r;
		uint32_t magic, m, t;

		err = log_block(rd, at, &b);
		if (err)
			return err;
		r = b;
		magic = le32toh(r->hdr.magic);
		if (blkhdr_verify(b, j->bs, magic, log_dev(j, at), j->uuid) ||
		    le64toh(r->seq) != seq)
			return 0;
		if (magic == DIOFS_MAGIC_JCOMMIT) {
			if (le32toh(r->count) != count ||
			    le32toh(r->crc) != crc) {
				*torn = true;
				return 0;
			}
			*pos = log_next(j, at);
			return 1;
		}
		m = le32toh(r->count);
		if ((magic != DIOFS_MAGIC_JDESC &&
		     magic != DIOFS_MAGIC_JREVOKE) || m > slots) {
			*torn = count > 0;
			return 0;
		}
		*torn = true;
		crc = diofs_crc32c(crc, b, j->bs);
		count++;
		at = log_next(j, at);
		if (magic == DIOFS_MAGIC_JREVOKE) {
			err = grow_array((void **)&p->rev, &p->cap_rev, p->nrev + m,
				   sizeof(*p->rev));
			if (err)
				return err;
			for (t = 0; t < m; t++)
				p->rev[p->nrev++] = le64toh(record_slots(b)[t]);
			continue;
		}
		err = grow_array((void **)&p->img, &p->cap_img, p->nimg + m,
			   sizeof(*p->img));
		if (err)
			return err;
		/* Reading the images may move the read-ahead window off the
		 * descriptor: take its block numbers first. */
		for (t = 0; t < m; t++)
			p->tags[t] = le64toh(record_slots(b)[t]);
		for (t = 0; t < m; t++) {
			void *img, *copy;

			err = log_block(rd, at, &img);
			if (err)
				return err;
			copy = block_alloc(j, 1);
			if (!copy)
				return -ENOMEM;
			memcpy(copy, img, j->bs);
			crc = diofs_crc32c(crc, copy, j->bs);
			p->img[p->nimg].blkno = p->tags[t];
			p->img[p->nimg++].data = copy;
			count++;
			at = log_next(j, at);
		}
	}
	return 0;
}

int journal_recover(struct journal *j, bool write,
		    struct journal_replay *info, char *msg, size_t msglen)
{
	struct log_reader rd = { .j = j, .first = 0, .count = 0 };
	struct pending p = { 0 };
	uint64_t pos = j->tail, seq = j->tail_seq;
	bool torn = false;
	size_t i;
	int err = 0;

	memset(info, 0, sizeof(*info));
	rd.buf = block_alloc(j, JOURNAL_READ_AHEAD);
	p.tags = malloc(DIOFS_JREC_SLOTS(j->bs) * sizeof(*p.tags));
	if (!rd.buf || !p.tags) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		err = read_transaction(&rd, &pos, seq, &p, &torn);
		if (err <= 0)
			break;
		/* Rule 2: images first, then the revokes drop older ones. */
		for (i = 0; i < p.nimg; i++) {
			err = img_put(j, p.img[i].blkno, p.img[i].data);
			p.img[i].data = NULL;
			if (err)
				break;
		}
		p.nimg = 0;
		for (i = 0; !err && i < p.nrev; i++)
			info->revoked += img_drop(j, p.rev[i]);
		p.nrev = 0;
		if (err)
			break;
		info->transactions++;
		seq++;
	}
	info->torn = torn;
	info->blocks = j->nimg;
	if (err < 0) {
		set_msg(msg, msglen, "cannot read the journal");
		goto out;
	}
	err = 0;
	/* Rule 3: skip the torn transaction's number. */
	j->head = pos;
	j->head_seq = seq + 1;
	if (!write) {
		bdev_set_overlay(j->bdev, overlay_patch, j);
		j->overlaid = true;
		goto out;
	}
	err = journal_checkpoint(j);
	if (!err)
		err = journal_reset(j);
	if (err)
		set_msg(msg, msglen, "cannot write the replayed journal in place");
out:
	pending_clear(&p);
	free(p.img);
	free(p.rev);
	free(p.tags);
	free(rd.buf);
	return err;
}
