/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_crash: the crash-replay harness.  It shows that whatever an fsync
 * or a sync promised survives a power cut at any moment, and that no
 * state a power cut can leave is inconsistent or shows stale device
 * contents inside a file.
 *
 * Each case records, then replays:
 *
 *   record   fill a test device with GARBAGE, format it and keep a copy
 *            (the snapshot), mount with the case's options and run a
 *            seeded workload of a few hundred operations over a small
 *            tree.  The device logs every completed write and every flush;
 *            a model follows the files and what each fsync and sync
 *            promised.
 *   replay   build crash states from the log: at each flush, the snapshot
 *            with every write before the flush, then random subsets of the
 *            writes up to the next flush, each whole or torn.  Each state
 *            gets a test device of its own.
 *   check    mount (the journal replays), unmount, fsck without repair
 *            must find nothing; mount again, walk the whole tree and read
 *            every file, then look every promise up by path.
 *
 * Rules:
 *  1. A flush makes durable every write logged before it.  Of the writes
 *     logged between two flushes any subset may have reached the device,
 *     and each of them only in part, sector by sector: a device sector is
 *     the unit the device writes whole.
 *  2. Positions are counts of log entries.  An fsync or a sync that
 *     returned when the log held P entries promises its file's size, data,
 *     extended attributes and name (its path from the root), each until
 *     the log position M at which the workload next changes it.  A state
 *     made at the flush at index F holds every write before F and some of
 *     those before the next flush at F', the last of them at index L (or
 *     none: L < F).  The power went after L and before F', perhaps after
 *     an fsync returned without a flush of its own, so the state is held
 *     to every promise with P <= F' and M > L.
 *  3. fsync promises the names of its file (the inode joins every
 *     transaction that changes its names), but not the directories on the
 *     way to them: after a directory is renamed, its new path is promised
 *     only for names bound after the rename, or once a sync has returned.
 *     fdatasync promises size and data, not extended attributes, and only
 *     at names an earlier promise made durable.  fsync of a file that has
 *     no name left is exercised but promises nothing the harness can see.
 *  4. A rename over an existing name, when both files were durable,
 *     leaves that name on one of the two with its whole contents; a rename
 *     of a durable file to a new name leaves the file at one of its two
 *     names.  A rename with RENAME_WHITEOUT is atomic with its whiteout:
 *     where the rename is done, the old name is a whiteout (a character
 *     device 0/0 of mode 0); where it is not, the old name is none.
 *  5. Every byte of every file reachable in any state is zero, or was
 *     written to that file at that offset by the workload: pattern.h seeds
 *     name the file and the version.  So no GARBAGE, no other file's data
 *     and no metadata shows through a file.
 *  6. Every state mounts, unmounts and mounts again, and fsck finds
 *     nothing in it once the first mount has replayed it.
 *  7. A state that breaks a rule is bad: the checker says which state,
 *     which rule and where, and goes on to the next state.  A case fails
 *     if any state is bad, except harness_catches_missing_commit_flush,
 *     which records with the commit flush left out and fails if none is.
 *     checker_reports_each_kind spoils a good state in one way at a time
 *     and fails unless the checker names that problem.
 *  8. The workload and the subsets are seeded, and the commit interval is
 *     out of reach, so commits come only from the workload and a run
 *     repeats itself; only the deferred times, which follow the clock,
 *     may add or drop a write here and there.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "diofs/bdev.h"
#include "diofs/dio.h"
#include "diofs/fs.h"
#include "diofs/inode.h"
#include "diofs/super.h"
#include "checker.h"

#include "fsenv.h"
#include "pattern.h"

#define DEV_SIZE	(16 * MiB)
#define CRASH_TIMEOUT	900	/* seconds: a case mounts thousands of times */
#define WORKLOAD_OPS	500
#define CASE_STATES	4000	/* crash states per replay case */
#define COMMIT_SECS	3600	/* rule 8: commits come from the workload */
#define FILE_MAX	(64 * KiB)
#define MAX_FILES	128
#define MAX_DIRS	16
#define MAX_NAMES	512
#define MAX_LIVE_NAMES	28
#define MAX_OPEN	3
#define MAX_DEPTH	3
#define WALK_DEPTH	8	/* deeper than the workload builds: a loop */
#define NXATTR		4
#define XATTR_SMALL	300	/* more than the inode holds inline */
#define XATTR_MAX	20000	/* values in runs of blocks of their own */
#define PATH_LEN	64
#define MSG_LEN		2048
#define NEVER		UINT64_MAX

/* The geometries recorded: 4 KiB and 1 KiB blocks on 512-byte sectors,
 * and 4 KiB blocks on 4 KiB sectors, where nothing smaller tears. */
static const struct geom *const crash_geoms[] = {
	&geoms[1],	/* 4 KiB on 512 */
	&geoms[0],	/* 1 KiB on 512 */
	&geoms[2],	/* 4 KiB on 4 KiB */
};
#define NCRASH_GEOMS ((int)(sizeof(crash_geoms) / sizeof(crash_geoms[0])))

static const struct fs_cred cred = { 0, 0, 022 };

/* ---- the model ------------------------------------------------------------- */

/* One version of a file's contents; never changed once made. */
struct content {
	uint64_t size;
	unsigned char *data;
};

struct xattr_state {
	bool set;
	uint16_t len;
	unsigned seed;
};

struct mfile {
	char name[12];		/* its first name, for messages */
	uint64_t ino, gen;
	struct content **vers;	/* every version, the current one last */
	unsigned nvers;
	unsigned nwrites;	/* data seeds used: 1 .. nwrites */
	unsigned nxwrites;	/* xattr seeds used */
	struct xattr_state x[NXATTR];
	unsigned nlink;
	bool open;		/* held open while it has no name */
};

struct mdir {
	unsigned parent;
	char name[12];
	uint64_t ino;
	unsigned depth;
	bool live;
	uint64_t moved_at;	/* log position of its last rename, or 0 */
	bool moved_synced;	/* a sync returned after that rename */
	unsigned whiteouts;	/* left in it by renames; never removed */
};

/* A name of a file (directories name themselves). */
struct mname {
	unsigned dir, file;
	char name[12];
	bool live;
	uint64_t bound_at;	/* log position when the name was made */
};

/* Rule 2: what one fsync or sync promised about one name of one file. */
struct promise {
	unsigned file;
	char path[PATH_LEN];
	const struct content *c;
	struct xattr_state x[NXATTR];
	bool datasync;		/* fdatasync: not the xattrs (rule 3) */
	uint64_t at;
	uint64_t path_until, data_until, xattr_until;
};

/* Rule 4: path[0] holds c[0], or path[1] holds c[1]; with a whiteout,
 * white is one exactly when path[1] holds c[1]. */
struct either {
	unsigned file[2];
	char path[2][PATH_LEN];
	char white[PATH_LEN];	/* "": no whiteout */
	const struct content *c[2];
	uint64_t at;		/* both versions durable from here */
	uint64_t renamed_at;
	uint64_t until;
};

struct model {
	struct mfile files[MAX_FILES];
	unsigned nfiles;
	struct mdir dirs[MAX_DIRS];
	unsigned ndirs;
	struct mname names[MAX_NAMES];
	unsigned nnames;
	struct promise *promises;
	size_t npromises, promises_cap;
	struct either *eithers;
	size_t neithers, eithers_cap;
	unsigned next_name;
};

/* Data seeds name the file and its version (rule 5); xattr values have
 * seeds of their own. */
static unsigned data_seed(unsigned file, unsigned version)
{
	return file << 12 | version;
}

static unsigned xattr_seed(unsigned file, unsigned n)
{
	return file << 12 | 0x800 | n;
}

static const char *const xattr_names[NXATTR] = {
	"user.a", "user.b", "user.c", "user.d",
};

static const struct content *current(const struct model *m, unsigned f)
{
	return m->files[f].vers[m->files[f].nvers - 1];
}

static void path_append(char *buf, size_t len, const char *name)
{
	size_t used = strlen(buf);

	ck_assert((size_t)snprintf(buf + used, len - used, "/%s", name) <
		  len - used);
}

static void dir_path(const struct model *m, unsigned d, char *buf,
		     size_t len)
{
	if (d == 0) {
		buf[0] = '\0';
		return;
	}
	dir_path(m, m->dirs[d].parent, buf, len);
	path_append(buf, len, m->dirs[d].name);
}

static void entry_path(const struct model *m, unsigned dir, const char *name,
		       char *buf, size_t len)
{
	dir_path(m, dir, buf, len);
	path_append(buf, len, name);
}

static void name_path(const struct model *m, unsigned n, char *buf,
		      size_t len)
{
	entry_path(m, m->names[n].dir, m->names[n].name, buf, len);
}

static unsigned add_file(struct model *m, const char *name, uint64_t ino,
			 uint64_t gen)
{
	struct mfile *mf = &m->files[m->nfiles];

	ck_assert_uint_lt(m->nfiles, MAX_FILES);
	snprintf(mf->name, sizeof(mf->name), "%s", name);
	mf->ino = ino;
	mf->gen = gen;
	mf->vers = xalloc(sizeof(*mf->vers));
	mf->vers[0] = xalloc(sizeof(**mf->vers));
	mf->vers[0]->data = xalloc(0);	/* empty, but something to compare */
	mf->nvers = 1;
	return m->nfiles++;
}

static unsigned add_name(struct model *m, unsigned dir, const char *name,
			 unsigned file, uint64_t at)
{
	struct mname *mn = &m->names[m->nnames];

	ck_assert_uint_lt(m->nnames, MAX_NAMES);
	mn->dir = dir;
	mn->file = file;
	snprintf(mn->name, sizeof(mn->name), "%s", name);
	mn->live = true;
	mn->bound_at = at;
	m->files[file].nlink++;
	return m->nnames++;
}

static void drop_name(struct model *m, unsigned n)
{
	m->names[n].live = false;
	m->files[m->names[n].file].nlink--;
}

static bool path_matches(const char *path, const char *changed, bool prefix)
{
	size_t n = strlen(changed);

	if (!prefix)
		return !strcmp(path, changed);
	return !strncmp(path, changed, n) && path[n] == '/';
}

/* The binding of changed (or, with prefix, of everything below it)
 * changes at log position at: what was promised about it ends there. */
static void path_changed(struct model *m, const char *changed, bool prefix,
			 uint64_t at)
{
	size_t i;
	int k;

	for (i = 0; i < m->npromises; i++) {
		struct promise *p = &m->promises[i];

		if (p->path_until == NEVER &&
		    path_matches(p->path, changed, prefix))
			p->path_until = at;
	}
	for (i = 0; i < m->neithers; i++)
		for (k = 0; k < 3; k++)
			if (m->eithers[i].until == NEVER &&
			    path_matches(k < 2 ? m->eithers[i].path[k] :
					 m->eithers[i].white, changed, prefix))
				m->eithers[i].until = at;
}

/* A new current version of file f, of size bytes, made at log position
 * at: a copy of the last one, cut or grown with zeros. */
static struct content *change_data(struct model *m, unsigned f, uint64_t size,
				   uint64_t at)
{
	struct mfile *mf = &m->files[f];
	const struct content *old = current(m, f);
	struct content *c = xalloc(sizeof(*c));
	size_t i;

	c->size = size;
	c->data = xalloc(size);
	memcpy(c->data, old->data, old->size < size ? old->size : size);
	mf->vers = realloc(mf->vers, (mf->nvers + 1) * sizeof(*mf->vers));
	ck_assert_ptr_nonnull(mf->vers);
	mf->vers[mf->nvers++] = c;
	for (i = 0; i < m->npromises; i++)
		if (m->promises[i].file == f &&
		    m->promises[i].data_until == NEVER)
			m->promises[i].data_until = at;
	for (i = 0; i < m->neithers; i++)
		if ((m->eithers[i].file[0] == f ||
		     m->eithers[i].file[1] == f) &&
		    m->eithers[i].until == NEVER)
			m->eithers[i].until = at;
	return c;
}

static void change_xattrs(struct model *m, unsigned f, uint64_t at)
{
	size_t i;

	for (i = 0; i < m->npromises; i++)
		if (m->promises[i].file == f &&
		    m->promises[i].xattr_until == NEVER)
			m->promises[i].xattr_until = at;
}

/* Rule 3: whether fsync of a file promises name n's path. */
static bool path_promised(const struct model *m, unsigned n)
{
	unsigned d = m->names[n].dir;

	for (; d != 0; d = m->dirs[d].parent)
		if (m->dirs[d].moved_at >= m->names[n].bound_at &&
		    !m->dirs[d].moved_synced)
			return false;
	return true;
}

/* The promise still whole about name path of file f, or NULL. */
static const struct promise *name_promise(const struct model *m, unsigned f,
					  const char *path)
{
	size_t i;

	for (i = m->npromises; i-- > 0;) {
		const struct promise *p = &m->promises[i];

		if (p->file == f && p->path_until == NEVER &&
		    !strcmp(p->path, path))
			return p;
	}
	return NULL;
}

static void promise(struct model *m, unsigned n, bool datasync, uint64_t at)
{
	unsigned f = m->names[n].file;
	const struct promise *old;
	struct promise *p;
	char path[PATH_LEN];

	name_path(m, n, path, sizeof(path));
	/* One still whole for this name says as much from earlier on. */
	old = name_promise(m, f, path);
	if (old && old->data_until == NEVER &&
	    (datasync || (!old->datasync && old->xattr_until == NEVER)))
		return;
	/* Rule 3: fdatasync makes no name durable. */
	if (datasync && !old)
		return;
	if (m->npromises == m->promises_cap) {
		m->promises_cap = m->promises_cap ? 2 * m->promises_cap : 256;
		m->promises = realloc(m->promises,
				      m->promises_cap * sizeof(*p));
		ck_assert_ptr_nonnull(m->promises);
	}
	p = &m->promises[m->npromises++];
	memset(p, 0, sizeof(*p));
	p->file = f;
	memcpy(p->path, path, sizeof(path));
	p->c = current(m, f);
	memcpy(p->x, m->files[f].x, sizeof(p->x));
	p->datasync = datasync;
	p->at = at;
	p->path_until = p->data_until = p->xattr_until = NEVER;
}

/* The promise still whole about file f's data (at path, if not NULL). */
static const struct promise *clean_promise(const struct model *m, unsigned f,
					   const char *path)
{
	const struct promise *p;
	size_t i;

	if (path) {
		p = name_promise(m, f, path);
		return p && p->data_until == NEVER ? p : NULL;
	}
	for (i = m->npromises; i-- > 0;) {
		p = &m->promises[i];
		if (p->file == f && p->data_until == NEVER)
			return p;
	}
	return NULL;
}

static void add_either(struct model *m, const struct promise *a,
		       const char *path_a, const struct promise *b,
		       const char *path_b, const char *white,
		       uint64_t renamed_at)
{
	struct either *e;

	if (m->neithers == m->eithers_cap) {
		m->eithers_cap = m->eithers_cap ? 2 * m->eithers_cap : 64;
		m->eithers = realloc(m->eithers, m->eithers_cap * sizeof(*e));
		ck_assert_ptr_nonnull(m->eithers);
	}
	e = &m->eithers[m->neithers++];
	e->file[0] = a->file;
	e->file[1] = b->file;
	snprintf(e->path[0], PATH_LEN, "%s", path_a);
	snprintf(e->path[1], PATH_LEN, "%s", path_b);
	snprintf(e->white, PATH_LEN, "%s", white ? white : "");
	e->c[0] = a->c;
	e->c[1] = b->c;
	e->at = a->at > b->at ? a->at : b->at;
	e->renamed_at = renamed_at;
	e->until = NEVER;
}

/* The model's side of renaming name src to name in dir (over name over,
 * or -1), done at log position at, leaving a whiteout or not (rule 4). */
static void model_rename(struct model *m, unsigned src, unsigned dir,
			 const char *name, int over, bool whiteout,
			 uint64_t at)
{
	unsigned f = m->names[src].file;
	char from[PATH_LEN], to[PATH_LEN];
	const struct promise *old = NULL, *moved, *whole;

	name_path(m, src, from, sizeof(from));
	entry_path(m, dir, name, to, sizeof(to));
	moved = clean_promise(m, f, from);
	whole = clean_promise(m, f, NULL);
	if (over >= 0)
		old = clean_promise(m, m->names[over].file, to);
	path_changed(m, from, false, at);
	path_changed(m, to, false, at);
	if (whiteout)
		m->dirs[m->names[src].dir].whiteouts++;
	drop_name(m, src);
	if (over >= 0)
		drop_name(m, (unsigned)over);
	add_name(m, dir, name, f, at);
	if (old && whole)
		add_either(m, old, to, whole, to, whiteout ? from : NULL, at);
	else if (over < 0 && moved)
		add_either(m, moved, from, moved, to, whiteout ? from : NULL,
			   at);
}

static const struct mfile *file_by_id(const struct model *m, uint64_t ino,
				      uint64_t gen)
{
	unsigned f;

	for (f = 0; f < m->nfiles; f++)
		if (m->files[f].ino == ino && m->files[f].gen == gen)
			return &m->files[f];
	return NULL;
}

static void model_free(struct model *m)
{
	unsigned f, v;

	for (f = 0; f < m->nfiles; f++) {
		for (v = 0; v < m->files[f].nvers; v++) {
			free(m->files[f].vers[v]->data);
			free(m->files[f].vers[v]);
		}
		free(m->files[f].vers);
	}
	free(m->promises);
	free(m->eithers);
	free(m);
}

/* ---- recording ------------------------------------------------------------- */

struct recording {
	const struct geom *g;
	struct bdev *bdev;
	struct fs *fs;
	struct dio_ctx *ctx;
	unsigned char *snapshot;	/* the device right after format */
	struct model *m;
	unsigned char *buf;		/* FILE_MAX bytes */
};

static uint64_t logpos(struct recording *r)
{
	return bdev_test_log_count(r->bdev);
}

static void record_start(struct recording *r, const struct geom *g,
			 bool skip_commit_flush)
{
	struct bdev_test_opts bo = { .size = DEV_SIZE, .block_size = g->dev_bs };
	/* The smallest journal mkfs allows on 1 KiB blocks: it wraps and
	 * checkpoints many times in one recording. */
	struct format_opts fo = {
		.block_size = g->fs_bs,
		.journal_blocks = g->fs_bs == 1024 ? 64 : 0,
	};
	struct fs_mount_opts mo = {
		.commit_secs = COMMIT_SECS,
		.test_skip_commit_flush = skip_commit_flush,
	};
	struct mdir *root;
	const char *why = NULL;
	char msg[256] = "";
	int err;

	memset(r, 0, sizeof(*r));
	snprintf(where, sizeof(where), "fs %u dev %u%s", g->fs_bs, g->dev_bs,
		 skip_commit_flush ? " no commit flush" : "");
	r->g = g;
	ck_assert_int_eq(bdev_test_create(&bo, &r->bdev), 0);
	memset(bdev_test_data(r->bdev), GARBAGE, DEV_SIZE);
	err = super_format(r->bdev, &fo, NULL, msg, sizeof(msg));
	ck_assert_msg(err == 0, "%s: format: %d %s", where, err, msg);
	r->snapshot = xalloc(DEV_SIZE);
	memcpy(r->snapshot, bdev_test_data(r->bdev), DEV_SIZE);
	bdev_test_log_clear(r->bdev);
	err = fs_mount_bdev(r->bdev, &mo, &r->fs, &why);
	ck_assert_msg(err == 0, "%s: mount: %d (%s)", where, err,
		      why ? why : "no message");
	ck_assert_int_eq(dio_ctx_create(r->bdev, NULL, &r->ctx), 0);
	r->m = xalloc(sizeof(*r->m));
	r->buf = xalloc(FILE_MAX);
	root = &r->m->dirs[r->m->ndirs++];
	root->ino = DIOFS_ROOT_INO;
	root->live = true;
	root->moved_synced = true;
}

static unsigned live_names(const struct model *m)
{
	unsigned n, k = 0;

	for (n = 0; n < m->nnames; n++)
		k += m->names[n].live;
	return k;
}

/* A random live name, -1 if there is none. */
static int pick_name(const struct model *m)
{
	unsigned k = live_names(m), n;
	uint64_t i;

	if (!k)
		return -1;
	i = rnd_below(k);
	for (n = 0; n < m->nnames; n++)
		if (m->names[n].live && i-- == 0)
			return (int)n;
	return -1;
}

/* A random file that has a name or is held open, -1 if there is none. */
static int pick_file(const struct model *m)
{
	unsigned f, k = 0;
	uint64_t i;

	for (f = 0; f < m->nfiles; f++)
		k += m->files[f].nlink > 0 || m->files[f].open;
	if (!k)
		return -1;
	i = rnd_below(k);
	for (f = 0; f < m->nfiles; f++)
		if ((m->files[f].nlink > 0 || m->files[f].open) && i-- == 0)
			return (int)f;
	return -1;
}

static unsigned pick_dir(const struct model *m, unsigned below_depth)
{
	unsigned d, k = 0;
	uint64_t i;

	for (d = 0; d < m->ndirs; d++)
		k += m->dirs[d].live && m->dirs[d].depth < below_depth;
	i = rnd_below(k);
	for (d = 0; d < m->ndirs; d++)
		if (m->dirs[d].live && m->dirs[d].depth < below_depth &&
		    i-- == 0)
			return d;
	return 0;
}

static void new_name(struct model *m, char prefix, char *buf, size_t len)
{
	snprintf(buf, len, "%c%u", prefix, m->next_name++);
}

static unsigned do_create(struct recording *r, unsigned d)
{
	struct model *m = r->m;
	uint64_t at = logpos(r);
	char name[12], path[PATH_LEN];
	struct fs_attr a;
	unsigned f;
	int err;

	new_name(m, 'f', name, sizeof(name));
	err = fs_mknod(r->fs, m->dirs[d].ino, name, S_IFREG | 0644, 0, &cred,
		       &a);
	ck_assert_msg(err == 0, "%s: create %s: %d", where, name, err);
	fs_forget(r->fs, a.ino, 1);
	entry_path(m, d, name, path, sizeof(path));
	path_changed(m, path, false, at);
	f = add_file(m, name, a.ino, a.generation);
	add_name(m, d, name, f, at);
	return f;
}

/* Write len bytes of file f's next version at off. */
static void do_write(struct recording *r, unsigned f, uint64_t off,
		     size_t len)
{
	struct model *m = r->m;
	struct mfile *mf = &m->files[f];
	uint64_t at = logpos(r), size = current(m, f)->size;
	struct iovec iov = { r->buf, len };
	struct content *c;
	ssize_t n;

	ck_assert_uint_lt(mf->nwrites + 1, 0x800);
	fill_pat(r->buf, len, off, data_seed(f, ++mf->nwrites));
	n = fs_write(r->fs, r->ctx, mf->ino, off, &iov, 1);
	ck_assert_msg(n == (ssize_t)len, "%s: write %zu at %" PRIu64 " to %s: %zd",
		      where, len, off, mf->name, n);
	c = change_data(m, f, off + len > size ? off + len : size, at);
	memcpy(c->data + off, r->buf, len);
}

static void do_fsync(struct recording *r, unsigned f, bool datasync)
{
	struct model *m = r->m;
	unsigned n;
	int err;

	err = fs_fsync(r->fs, m->files[f].ino, datasync);
	ck_assert_msg(err == 0, "%s: %s %s: %d", where,
		      datasync ? "fdatasync" : "fsync", m->files[f].name, err);
	for (n = 0; n < m->nnames; n++)
		if (m->names[n].live && m->names[n].file == f &&
		    path_promised(m, n))
			promise(m, n, datasync, logpos(r));
}

static void do_rename(struct recording *r, unsigned src, unsigned d,
		      const char *name, int over, unsigned flags)
{
	struct model *m = r->m;
	uint64_t at = logpos(r);
	int err;

	err = fs_rename(r->fs, m->dirs[m->names[src].dir].ino,
			m->names[src].name, m->dirs[d].ino, name, flags, &cred);
	ck_assert_msg(err == 0, "%s: rename %s to %s (flags %u): %d", where,
		      m->names[src].name, name, flags, err);
	model_rename(m, src, d, name, over, flags & RENAME_WHITEOUT, at);
}

static void op_create(struct recording *r)
{
	unsigned f = do_create(r, pick_dir(r->m, MAX_DEPTH + 1));

	if (rnd_below(2))
		do_write(r, f, 0, 1 + rnd_below(3 * r->g->fs_bs));
}

/* Aligned or not, over data, into holes, appending, past the end. */
static void op_write(struct recording *r, int f)
{
	uint64_t bs = r->g->fs_bs, size, off, len;

	if (f < 0)
		return;
	size = current(r->m, (unsigned)f)->size;
	switch (rnd_below(4)) {
	case 0:
		off = rnd_below(FILE_MAX / bs) * bs;
		len = (1 + rnd_below(4)) * bs;
		break;
	case 1:
		off = rnd_below(size + 1);
		len = 1 + rnd_below(2 * bs);
		break;
	case 2:
		off = size;
		len = 1 + rnd_below(3 * bs);
		break;
	default:
		off = size + 1 + rnd_below(2 * bs);
		len = 1 + rnd_below(bs);
		break;
	}
	if (off >= FILE_MAX)
		off = rnd_below(FILE_MAX);
	if (off + len > FILE_MAX)
		len = FILE_MAX - off;
	do_write(r, (unsigned)f, off, len);
}

static void op_append(struct recording *r, int f)
{
	uint64_t size;

	if (f < 0)
		return;
	size = current(r->m, (unsigned)f)->size;
	if (size < FILE_MAX)
		do_write(r, (unsigned)f, size,
			 1 + rnd_below(FILE_MAX - size < 2 * r->g->fs_bs ?
				       FILE_MAX - size : 2 * r->g->fs_bs));
}

static void op_truncate(struct recording *r, int f)
{
	struct fs_setattr sa = { .mask = FS_SET_SIZE };
	uint64_t bs = r->g->fs_bs, size, at = logpos(r);
	struct fs_attr a;
	int err;

	if (f < 0)
		return;
	size = current(r->m, (unsigned)f)->size;
	if (rnd_below(2))
		sa.size = rnd_below(size + 1);
	else
		sa.size = size + 1 + rnd_below(3 * bs);
	if (rnd_below(3) == 0)
		sa.size -= sa.size % bs;
	if (sa.size > FILE_MAX)
		sa.size = FILE_MAX;
	err = fs_setattr(r->fs, r->ctx, r->m->files[f].ino, &sa, &a);
	ck_assert_msg(err == 0, "%s: truncate %s to %" PRIu64 ": %d", where,
		      r->m->files[f].name, sa.size, err);
	/* To the same size, it changes no byte: the promises still hold. */
	if (sa.size != size)
		change_data(r->m, (unsigned)f, sa.size, at);
}

/* Preallocate (growing the file or not), punch a hole, zero a range. */
static void op_fallocate(struct recording *r, int f)
{
	static const int modes[] = {
		0,
		FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_ZERO_RANGE,
	};
	uint64_t bs = r->g->fs_bs, size, off, len, end, at = logpos(r);
	int mode = modes[rnd_below(4)], err;
	struct content *c;

	if (f < 0)
		return;
	size = current(r->m, (unsigned)f)->size;
	off = rnd_below(FILE_MAX);
	len = 1 + rnd_below(4 * bs);
	if (rnd_below(2)) {
		off -= off % bs;
		len = (len + bs - 1) / bs * bs;
	}
	if (off + len > FILE_MAX)
		len = FILE_MAX - off;
	err = fs_fallocate(r->fs, r->ctx, r->m->files[f].ino, mode, off, len);
	ck_assert_msg(err == 0, "%s: fallocate %s mode %d %" PRIu64 "+%" PRIu64 ": %d",
		      where, r->m->files[f].name, mode, off, len, err);
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		end = off + len < size ? off + len : size;
		if (off < end) {
			c = change_data(r->m, (unsigned)f, size, at);
			memset(c->data + off, 0, end - off);
		}
	} else if (mode & FALLOC_FL_ZERO_RANGE) {
		c = change_data(r->m, (unsigned)f,
				off + len > size ? off + len : size, at);
		memset(c->data + off, 0, len);
	} else if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > size) {
		change_data(r->m, (unsigned)f, off + len, at);
	}
	/* Preallocation inside the file changes no byte of it, so what was
	 * promised about it still holds. */
}

/* A file to a new name, or over another file's name; one in three
 * leaves a whiteout behind. */
static void op_rename(struct recording *r)
{
	struct model *m = r->m;
	int src = pick_name(m), over = pick_name(m);
	unsigned flags = rnd_below(3) == 0 ? RENAME_WHITEOUT : 0;
	char name[12];

	if (src < 0 || m->nnames + 1 >= MAX_NAMES)
		return;
	if (over >= 0 && rnd_below(3) == 0 &&
	    m->names[over].file != m->names[src].file) {
		do_rename(r, (unsigned)src, m->names[over].dir,
			  m->names[over].name, over, flags);
		return;
	}
	new_name(m, 'f', name, sizeof(name));
	do_rename(r, (unsigned)src, pick_dir(m, MAX_DEPTH + 1), name, -1,
		  flags);
}

/* The atomic replace: write a new file, fsync it, rename it over a
 * durable one (leaving a whiteout, one time in three). */
static void op_replace(struct recording *r)
{
	struct model *m = r->m;
	int target = pick_name(m);
	unsigned f, tmp, n;
	char path[PATH_LEN];

	if (target < 0 || m->nfiles == MAX_FILES || m->nnames + 2 >= MAX_NAMES)
		return;
	f = m->names[target].file;
	name_path(m, (unsigned)target, path, sizeof(path));
	if (!clean_promise(m, f, path))
		do_fsync(r, f, false);
	tmp = do_create(r, m->names[target].dir);
	do_write(r, tmp, 0, 1 + rnd_below(FILE_MAX / 2));
	do_fsync(r, tmp, false);
	for (n = m->nnames; n-- > 0;)
		if (m->names[n].live && m->names[n].file == tmp)
			break;
	do_rename(r, n, m->names[target].dir, m->names[target].name, target,
		  rnd_below(3) == 0 ? RENAME_WHITEOUT : 0);
}

static void op_link(struct recording *r)
{
	struct model *m = r->m;
	int n = pick_name(m);
	uint64_t at = logpos(r);
	char name[12], path[PATH_LEN];
	struct fs_attr a;
	unsigned d, f;
	int err;

	if (n < 0 || m->nnames + 1 >= MAX_NAMES)
		return;
	f = m->names[n].file;
	if (m->files[f].nlink >= 3)
		return;
	d = pick_dir(m, MAX_DEPTH + 1);
	new_name(m, 'f', name, sizeof(name));
	err = fs_link(r->fs, m->files[f].ino, m->dirs[d].ino, name, &a);
	ck_assert_msg(err == 0, "%s: link %s as %s: %d", where,
		      m->files[f].name, name, err);
	fs_forget(r->fs, a.ino, 1);
	entry_path(m, d, name, path, sizeof(path));
	path_changed(m, path, false, at);
	add_name(m, d, name, f, at);
}

static void do_unlink(struct recording *r, unsigned n)
{
	struct model *m = r->m;
	uint64_t at = logpos(r);
	char path[PATH_LEN];
	int err;

	err = fs_unlink(r->fs, m->dirs[m->names[n].dir].ino,
			m->names[n].name);
	ck_assert_msg(err == 0, "%s: unlink %s: %d", where, m->names[n].name,
		      err);
	name_path(m, n, path, sizeof(path));
	path_changed(m, path, false, at);
	drop_name(m, n);
}

static void op_unlink(struct recording *r)
{
	int n = pick_name(r->m);

	if (n >= 0)
		do_unlink(r, (unsigned)n);
}

/* Open a file with one name and remove the name: it lives on, unnamed,
 * until op_release (or the replay at the next mount) frees it. */
static void op_open_unlink(struct recording *r)
{
	struct model *m = r->m;
	int n = pick_name(m);
	unsigned f, k, nopen = 0;

	for (k = 0; k < m->nfiles; k++)
		nopen += m->files[k].open;
	if (n < 0 || nopen >= MAX_OPEN)
		return;
	f = m->names[n].file;
	if (m->files[f].nlink != 1)
		return;
	ck_assert_int_eq(fs_open(r->fs, m->files[f].ino, O_RDWR), 0);
	m->files[f].open = true;
	do_unlink(r, (unsigned)n);
}

static void op_release(struct recording *r)
{
	struct model *m = r->m;
	unsigned f;

	for (f = 0; f < m->nfiles; f++)
		if (m->files[f].open) {
			fs_release(r->fs, m->files[f].ino);
			m->files[f].open = false;
			return;
		}
}

static void op_setxattr(struct recording *r, int f)
{
	struct mfile *mf;
	uint64_t at = logpos(r);
	unsigned k = (unsigned)rnd_below(NXATTR), seed;
	/* one value in four is large enough for a run of its own */
	size_t len = 1 + rnd_below(rnd_below(4) ? XATTR_SMALL : XATTR_MAX);
	int err;

	if (f < 0)
		return;
	mf = &r->m->files[f];
	ck_assert_uint_lt(mf->nxwrites + 1, 0x800);
	seed = xattr_seed((unsigned)f, ++mf->nxwrites);
	fill_pat(r->buf, len, 0, seed);
	err = fs_setxattr(r->fs, mf->ino, xattr_names[k], r->buf, len, 0);
	ck_assert_msg(err == 0, "%s: setxattr %s %s: %d", where, mf->name,
		      xattr_names[k], err);
	mf->x[k] = (struct xattr_state){ true, (uint16_t)len, seed };
	change_xattrs(r->m, (unsigned)f, at);
}

static void op_removexattr(struct recording *r, int f)
{
	struct mfile *mf;
	uint64_t at = logpos(r);
	unsigned k = (unsigned)rnd_below(NXATTR);
	int err;

	if (f < 0 || !r->m->files[f].x[k].set)
		return;
	mf = &r->m->files[f];
	err = fs_removexattr(r->fs, mf->ino, xattr_names[k]);
	ck_assert_msg(err == 0, "%s: removexattr %s %s: %d", where, mf->name,
		      xattr_names[k], err);
	mf->x[k].set = false;
	change_xattrs(r->m, (unsigned)f, at);
}

static void op_mkdir(struct recording *r)
{
	struct model *m = r->m;
	unsigned parent = pick_dir(m, MAX_DEPTH);
	struct mdir *md;
	struct fs_attr a;
	char name[12];
	int err;

	if (m->ndirs == MAX_DIRS)
		return;
	new_name(m, 'd', name, sizeof(name));
	err = fs_mkdir(r->fs, m->dirs[parent].ino, name, S_IFDIR | 0755, &cred,
		       &a);
	ck_assert_msg(err == 0, "%s: mkdir %s: %d", where, name, err);
	fs_forget(r->fs, a.ino, 1);
	md = &m->dirs[m->ndirs++];
	md->parent = parent;
	snprintf(md->name, sizeof(md->name), "%s", name);
	md->ino = a.ino;
	md->depth = m->dirs[parent].depth + 1;
	md->live = true;
	md->moved_synced = true;	/* never moved */
}

static bool dir_empty(const struct model *m, unsigned d)
{
	unsigned k;

	if (m->dirs[d].whiteouts)
		return false;

	for (k = 0; k < m->ndirs; k++)
		if (m->dirs[k].live && k != 0 && m->dirs[k].parent == d)
			return false;
	for (k = 0; k < m->nnames; k++)
		if (m->names[k].live && m->names[k].dir == d)
			return false;
	return true;
}

/* Rename a directory within its parent, or remove it when empty. */
static void op_dir_change(struct recording *r)
{
	struct model *m = r->m;
	unsigned d = pick_dir(m, MAX_DEPTH + 1);
	struct mdir *md = &m->dirs[d];
	uint64_t at = logpos(r);
	char name[12], path[PATH_LEN];
	int err;

	if (d == 0)
		return;
	dir_path(m, d, path, sizeof(path));
	if (dir_empty(m, d) && rnd_below(2)) {
		err = fs_rmdir(r->fs, m->dirs[md->parent].ino, md->name);
		ck_assert_msg(err == 0, "%s: rmdir %s: %d", where, path, err);
		md->live = false;
	} else {
		new_name(m, 'd', name, sizeof(name));
		err = fs_rename(r->fs, m->dirs[md->parent].ino, md->name,
				m->dirs[md->parent].ino, name, 0, NULL);
		ck_assert_msg(err == 0, "%s: rename %s to %s: %d", where, path,
			      name, err);
		snprintf(md->name, sizeof(md->name), "%s", name);
		md->moved_at = at;
		md->moved_synced = false;
	}
	path_changed(m, path, false, at);
	path_changed(m, path, true, at);
}

static void op_fsync(struct recording *r, int f)
{
	if (f >= 0)
		do_fsync(r, (unsigned)f, rnd_below(4) == 0);
}

/* fsyncdir and syncfs: everything is durable once it returns. */
static void op_sync(struct recording *r)
{
	struct model *m = r->m;
	unsigned n, d;
	int err;

	err = fs_sync(r->fs);
	ck_assert_msg(err == 0, "%s: sync: %d", where, err);
	for (d = 0; d < m->ndirs; d++)
		m->dirs[d].moved_synced = true;
	for (n = 0; n < m->nnames; n++)
		if (m->names[n].live)
			promise(m, n, false, logpos(r));
}

/* A few hundred operations, chosen by weight; then unmount. */
static void record_workload(struct recording *r)
{
	struct model *m = r->m;
	unsigned i, w;

	for (i = 0; i < WORKLOAD_OPS; i++) {
		w = (unsigned)rnd_below(100);
		if (w < 10 || pick_file(m) < 0) {
			if (live_names(m) < MAX_LIVE_NAMES &&
			    m->nfiles < MAX_FILES && m->nnames + 1 < MAX_NAMES)
				op_create(r);
		} else if (w < 32) {
			op_write(r, pick_file(m));
		} else if (w < 38) {
			op_append(r, pick_file(m));
		} else if (w < 44) {
			op_truncate(r, pick_file(m));
		} else if (w < 51) {
			op_fallocate(r, pick_file(m));
		} else if (w < 57) {
			op_rename(r);
		} else if (w < 60) {
			op_replace(r);
		} else if (w < 64) {
			op_link(r);
		} else if (w < 68) {
			op_unlink(r);
		} else if (w < 70) {
			op_open_unlink(r);
		} else if (w < 72) {
			op_release(r);
		} else if (w < 77) {
			op_setxattr(r, pick_file(m));
		} else if (w < 79) {
			op_removexattr(r, pick_file(m));
		} else if (w < 82) {
			op_mkdir(r);
		} else if (w < 84) {
			op_dir_change(r);
		} else if (w < 96) {
			op_fsync(r, pick_file(m));
		} else {
			op_sync(r);
		}
	}
	for (i = 0; i < MAX_OPEN; i++)
		op_release(r);
	dio_ctx_destroy(r->ctx);
	r->ctx = NULL;
	ck_assert_msg(fs_unmount(r->fs) == 0, "%s: unmount", where);
	r->fs = NULL;
}

static void record_free(struct recording *r)
{
	bdev_close(r->bdev);
	model_free(r->m);
	free(r->snapshot);
	free(r->buf);
}

/* ---- checking one crash state ------------------------------------------------ */

enum bad_kind {
	BAD_MOUNT,	/* the mount that replays fails */
	BAD_UNMOUNT,
	BAD_FSCK,	/* fsck finds problems, or cannot run */
	BAD_REMOUNT,
	BAD_IO,		/* readdir, getattr or read fails */
	BAD_UNKNOWN,	/* a file the workload never made */
	BAD_STALE,	/* GARBAGE inside a file */
	BAD_FOREIGN,	/* bytes no write to that file put there */
	BAD_LOST,	/* a promised name does not resolve */
	BAD_SIZE,	/* a promised size differs */
	BAD_DATA,	/* promised data differs */
	BAD_XATTR,	/* promised extended attributes differ */
	BAD_RENAME,	/* a renamed file is at neither name, or its
			 * whiteout does not follow the rename */
	NBAD
};

static const char *const bad_names[NBAD] = {
	[BAD_MOUNT] = "mount fails",
	[BAD_UNMOUNT] = "unmount fails",
	[BAD_FSCK] = "fsck finds problems",
	[BAD_REMOUNT] = "second mount fails",
	[BAD_IO] = "readdir, getattr or read fails",
	[BAD_UNKNOWN] = "a file the workload never made there",
	[BAD_STALE] = "stale device bytes (0xA5) inside a file",
	[BAD_FOREIGN] = "bytes no write to that file put there",
	[BAD_LOST] = "fsynced name missing",
	[BAD_SIZE] = "fsynced size differs",
	[BAD_DATA] = "fsynced data differs",
	[BAD_XATTR] = "fsynced xattrs differ",
	[BAD_RENAME] = "renamed file at neither name, or whiteout wrong",
};

/* A crash state: where it was made (rule 2) and what it holds. */
struct state {
	unsigned number;
	size_t flush;		/* log index of its flush; SIZE_MAX: the start */
	unsigned subset;	/* 0: the writes before the flush only */
	uint64_t power_until;	/* F' */
	uint64_t applied_end;	/* L + 1 */
	char writes[160];	/* the subset: +i whole, ~i torn */
};

/* What the checker found in one state: the kinds, and the first problem
 * of each kind in full. */
struct verdict {
	unsigned kinds;
	enum bad_kind first;
	char msg[NBAD][MSG_LEN];
};

struct replay {
	struct recording *r;
	const struct state *st;
	struct verdict *v;
	struct fs *fs;
	struct dio_ctx *ctx;
	unsigned char *buf;	/* FILE_MAX + 1 bytes */
	uint64_t visited[MAX_FILES];
	unsigned nvisited;
	unsigned long promises_checked, eithers_checked;
};

static void bad(struct replay *rp, enum bad_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void bad(struct replay *rp, enum bad_kind kind, const char *fmt, ...)
{
	const struct state *st = rp->st;
	struct verdict *v = rp->v;
	va_list ap;
	int n;

	if (v->kinds & 1u << kind)
		return;
	if (!v->kinds)
		v->first = kind;
	v->kinds |= 1u << kind;
	n = snprintf(v->msg[kind], MSG_LEN,
		     "%s: state %u (flush at log %zd, subset %u%s%s): %s: ",
		     where, st->number,
		     st->flush == SIZE_MAX ? (ssize_t)-1 : (ssize_t)st->flush,
		     st->subset, st->subset ? ", writes" : "", st->writes,
		     bad_names[kind]);
	if (n > 0 && n < MSG_LEN) {
		va_start(ap, fmt);
		vsnprintf(v->msg[kind] + n, MSG_LEN - (size_t)n, fmt, ap);
		va_end(ap);
	}
}

/* Which write of the recording bytes look like: for failure messages. */
static void describe_bytes(const struct model *m, const unsigned char *p,
			   size_t n, uint64_t off, char *buf, size_t len)
{
	unsigned f, ver;
	size_t i, want = n < 8 ? n : 8;

	if (p[0] == GARBAGE) {
		snprintf(buf, len, "stale device bytes");
		return;
	}
	if (p[0] == 0) {
		snprintf(buf, len, "zeros");
		return;
	}
	for (f = 0; f < m->nfiles; f++)
		for (ver = 1; ver <= m->files[f].nwrites; ver++) {
			for (i = 0; i < want; i++)
				if (p[i] != pat(off + i, data_seed(f, ver)))
					break;
			if (i == want) {
				snprintf(buf, len, "data of %s version %u",
					 m->files[f].name, ver);
				return;
			}
		}
	snprintf(buf, len, "no write of the workload at this offset");
}

/* Mount the state's device; rule 6's complaint when it does not. */
static int state_mount(struct replay *rp, struct bdev *dev, enum bad_kind kind)
{
	struct fs_mount_opts mo = { .commit_secs = COMMIT_SECS };
	const char *why = NULL;
	int err;

	err = fs_mount_bdev(dev, &mo, &rp->fs, &why);
	if (err) {
		rp->fs = NULL;
		bad(rp, kind, "%d (%s)", err, why ? why : "no message");
	}
	return err;
}

static void state_unmount(struct replay *rp)
{
	int err;

	if (rp->ctx)
		dio_ctx_destroy(rp->ctx);
	rp->ctx = NULL;
	err = fs_unmount(rp->fs);
	rp->fs = NULL;
	if (err)
		bad(rp, BAD_UNMOUNT, "%d", err);
}

static void state_fsck(struct replay *rp, struct bdev *dev)
{
	struct fsck_opts o = { .repair = 0 };
	struct fsck_result res;
	char *out = NULL;
	size_t outlen = 0;
	int err;

	memset(&res, 0, sizeof(res));
	o.out = open_memstream(&out, &outlen);
	ck_assert_ptr_nonnull(o.out);
	err = fsck_run(dev, &o, &res);
	fclose(o.out);
	if (err)
		bad(rp, BAD_FSCK, "cannot run: %d %s", err, res.msg);
	else if (res.found)
		bad(rp, BAD_FSCK, "%" PRIu64 " problems:\n%s", res.found, out);
	free(out);
}

/* Read all of inode ino (size bytes) into rp->buf: 0 or -errno. */
static int read_whole(struct replay *rp, uint64_t ino, uint64_t size)
{
	struct iovec iov = { rp->buf, FILE_MAX + 1 };
	ssize_t n;

	if (size > FILE_MAX)
		return -EFBIG;
	n = fs_read(rp->fs, rp->ctx, ino, 0, &iov, 1);
	if (n < 0)
		return (int)n;
	return (uint64_t)n == size ? 0 : -EIO;
}

/* Rule 5: every byte is zero or one of file mf's at its offset. */
static void check_own_bytes(struct replay *rp, const struct mfile *mf,
			    const char *path, uint64_t size)
{
	const struct model *m = rp->r->m;
	unsigned f = (unsigned)(mf - m->files), ver = 0, v;
	const unsigned char *stale, *p = rp->buf;
	char what[96];
	uint64_t x, run;

	stale = memchr(p, GARBAGE, size);
	if (stale) {
		x = (uint64_t)(stale - p);
		for (run = 0; x + run < size && p[x + run] == GARBAGE; run++)
			;
		bad(rp, BAD_STALE, "%s (%s, ino %" PRIu64 ", size %" PRIu64 "): %" PRIu64 " bytes of 0xA5 at %" PRIu64,
		    path, mf->name, mf->ino, size, run, x);
		return;
	}
	/* The common case: one whole version of the model. */
	for (v = mf->nvers; v-- > 0;)
		if (mf->vers[v]->size == size &&
		    !memcmp(mf->vers[v]->data, p, size))
			return;
	for (x = 0; x < size; x++) {
		if (!p[x] || (ver && p[x] == pat(x, data_seed(f, ver))))
			continue;
		for (ver = mf->nwrites; ver > 0; ver--)
			if (p[x] == pat(x, data_seed(f, ver)))
				break;
		if (ver)
			continue;
		describe_bytes(m, p + x, size - x, x, what, sizeof(what));
		bad(rp, BAD_FOREIGN, "%s (%s, ino %" PRIu64 ", size %" PRIu64 "): byte %" PRIu64 " is 0x%02x: %s",
		    path, mf->name, mf->ino, size, x, p[x], what);
		return;
	}
}

static void check_file(struct replay *rp, uint64_t ino, const char *path)
{
	const struct mfile *mf;
	struct fs_attr a;
	unsigned i;
	int err;

	for (i = 0; i < rp->nvisited; i++)
		if (rp->visited[i] == ino)
			return;
	if (rp->nvisited < MAX_FILES)
		rp->visited[rp->nvisited++] = ino;
	err = fs_getattr(rp->fs, ino, &a);
	if (err) {
		bad(rp, BAD_IO, "getattr %s (ino %" PRIu64 "): %d", path, ino,
		    err);
		return;
	}
	if (!S_ISREG(a.mode)) {
		bad(rp, BAD_UNKNOWN, "%s: its entry names a regular file, ino %" PRIu64 " has mode 0%o",
		    path, a.ino, (unsigned)a.mode);
		return;
	}
	mf = file_by_id(rp->r->m, a.ino, a.generation);
	if (!mf) {
		bad(rp, BAD_UNKNOWN, "%s: ino %" PRIu64 " generation %" PRIu64 " size %" PRIu64,
		    path, a.ino, a.generation, a.size);
		return;
	}
	err = read_whole(rp, ino, a.size);
	if (err) {
		bad(rp, BAD_IO, "read %s (%s, ino %" PRIu64 ", size %" PRIu64 "): %d",
		    path, mf->name, ino, a.size, err);
		return;
	}
	check_own_bytes(rp, mf, path, a.size);
}

struct listing {
	struct {
		char name[DIOFS_NAME_MAX + 1];
		uint64_t ino;
		mode_t type;
	} *e;
	size_t n, cap;
};

static int list_one(void *arg, const char *name, uint64_t ino, mode_t type,
		    uint64_t next_cookie)
{
	struct listing *l = arg;

	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 32;
		l->e = realloc(l->e, l->cap * sizeof(*l->e));
		ck_assert_ptr_nonnull(l->e);
	}
	snprintf(l->e[l->n].name, sizeof(l->e[l->n].name), "%s", name);
	l->e[l->n].ino = ino;
	l->e[l->n].type = type;
	l->n++;
	return 0;
}

/* Rule 5 over every file under directory ino. */
static void walk(struct replay *rp, uint64_t ino, const char *path,
		 unsigned depth)
{
	struct listing l = { 0 };
	char sub[PATH_LEN + DIOFS_NAME_MAX + 2];
	size_t i;
	int err;

	if (depth > WALK_DEPTH) {
		bad(rp, BAD_IO, "%s: deeper than %u directories", path,
		    WALK_DEPTH);
		return;
	}
	err = fs_readdir(rp->fs, ino, 0, list_one, &l);
	if (err)
		bad(rp, BAD_IO, "readdir %s: %d", path[0] ? path : "/", err);
	for (i = 0; i < l.n; i++) {
		snprintf(sub, sizeof(sub), "%.*s/%s", PATH_LEN, path,
			 l.e[i].name);
		if (S_ISDIR(l.e[i].type))
			walk(rp, l.e[i].ino, sub, depth + 1);
		else if (S_ISREG(l.e[i].type))
			check_file(rp, l.e[i].ino, sub);
	}
	free(l.e);
}

/* Look path up from the root: 0 and its attributes, or -errno. */
static int resolve(struct replay *rp, const char *path, struct fs_attr *a)
{
	char part[PATH_LEN];
	const char *p = path, *end;
	uint64_t ino = DIOFS_ROOT_INO;
	int err;

	while (*p == '/') {
		p++;
		end = strchrnul(p, '/');
		snprintf(part, sizeof(part), "%.*s", (int)(end - p), p);
		err = fs_lookup(rp->fs, ino, part, a);
		if (err)
			return err;
		fs_forget(rp->fs, a->ino, 1);
		ino = a->ino;
		p = end;
	}
	return 0;
}

/* Whether path holds exactly c; if not, why in buf. */
static bool holds(struct replay *rp, const char *path,
		  const struct content *c, enum bad_kind *kind, char *buf,
		  size_t len)
{
	struct fs_attr a;
	char what[96];
	uint64_t x;
	int err;

	err = resolve(rp, path, &a);
	if (err || !S_ISREG(a.mode)) {
		*kind = BAD_LOST;
		snprintf(buf, len, "lookup: %d, mode 0%o", err,
			 err ? 0 : (unsigned)a.mode);
		return false;
	}
	if (a.size != c->size) {
		*kind = BAD_SIZE;
		snprintf(buf, len, "ino %" PRIu64 " size %" PRIu64 ", want %" PRIu64,
			 a.ino, a.size, c->size);
		return false;
	}
	err = read_whole(rp, a.ino, a.size);
	if (err) {
		*kind = BAD_IO;
		snprintf(buf, len, "ino %" PRIu64 " read: %d", a.ino, err);
		return false;
	}
	for (x = 0; x < c->size; x++)
		if (rp->buf[x] != c->data[x])
			break;
	if (x == c->size)
		return true;
	describe_bytes(rp->r->m, rp->buf + x, c->size - x, x, what,
		       sizeof(what));
	*kind = BAD_DATA;
	snprintf(buf, len, "ino %" PRIu64 " size %" PRIu64 ": byte %" PRIu64 " is 0x%02x, want 0x%02x: %s",
		 a.ino, a.size, x, rp->buf[x], c->data[x], what);
	return false;
}

static void check_xattrs(struct replay *rp, const struct promise *p)
{
	unsigned char val[XATTR_MAX + 1];
	struct fs_attr a;
	ssize_t n;
	size_t i;
	unsigned k;

	if (resolve(rp, p->path, &a))
		return;		/* holds() has said so */
	for (k = 0; k < NXATTR; k++) {
		n = fs_getxattr(rp->fs, a.ino, xattr_names[k], val,
				sizeof(val));
		if (!p->x[k].set) {
			if (n != -ENODATA)
				bad(rp, BAD_XATTR, "%s: %s: %zd, want it absent (promised at log %" PRIu64 ")",
				    p->path, xattr_names[k], n, p->at);
			continue;
		}
		if (n != p->x[k].len) {
			bad(rp, BAD_XATTR, "%s: %s: %zd bytes, want %u (promised at log %" PRIu64 ")",
			    p->path, xattr_names[k], n, p->x[k].len, p->at);
			continue;
		}
		for (i = 0; i < (size_t)n; i++)
			if (val[i] != pat(i, p->x[k].seed))
				break;
		if (i < (size_t)n)
			bad(rp, BAD_XATTR, "%s: %s: byte %zu differs (promised at log %" PRIu64 ")",
			    p->path, xattr_names[k], i, p->at);
	}
}

/* Whether path is a whiteout: a character device 0/0 of mode 0. */
static bool is_whiteout(struct replay *rp, const char *path)
{
	struct fs_attr a;

	return resolve(rp, path, &a) == 0 && a.mode == S_IFCHR && a.rdev == 0;
}

/* Rules 2 and 4: what was promised before the power went, and whose
 * next change has no write in the state. */
static void check_promises(struct replay *rp)
{
	const struct model *m = rp->r->m;
	const struct state *st = rp->st;
	enum bad_kind kind;
	char why[256], why2[256];
	bool done;
	size_t i;

	for (i = 0; i < m->npromises; i++) {
		const struct promise *p = &m->promises[i];

		if (p->at > st->power_until ||
		    p->path_until < st->applied_end ||
		    p->data_until < st->applied_end)
			continue;
		rp->promises_checked++;
		if (!holds(rp, p->path, p->c, &kind, why, sizeof(why))) {
			bad(rp, kind, "%s (%s), promised at log %" PRIu64 " with size %" PRIu64 ": %s",
			    p->path, m->files[p->file].name, p->at, p->c->size,
			    why);
			continue;
		}
		if (!p->datasync && p->xattr_until >= st->applied_end)
			check_xattrs(rp, p);
	}
	for (i = 0; i < m->neithers; i++) {
		const struct either *e = &m->eithers[i];

		if (e->at > st->power_until || e->until < st->applied_end)
			continue;
		rp->eithers_checked++;
		if (holds(rp, e->path[0], e->c[0], &kind, why, sizeof(why))) {
			done = false;
		} else if (holds(rp, e->path[1], e->c[1], &kind, why2,
				 sizeof(why2))) {
			done = true;
		} else {
			bad(rp, BAD_RENAME, "renamed at log %" PRIu64 ": %s (%s, size %" PRIu64 "): %s; %s (%s, size %" PRIu64 "): %s",
		    e->renamed_at, e->path[0], m->files[e->file[0]].name,
		    e->c[0]->size, why, e->path[1], m->files[e->file[1]].name,
		    e->c[1]->size, why2);
			continue;
		}
		if (e->white[0] && is_whiteout(rp, e->white) != done)
			bad(rp, BAD_RENAME, "renamed at log %" PRIu64 " with a whiteout: the rename is %s, but %s is %s",
			    e->renamed_at, done ? "done" : "not done",
			    e->white, done ? "no whiteout" : "a whiteout");
	}
}

/*
 * Rules 2 to 6 on the device of one crash state: mount, unmount, fsck,
 * mount, walk, promises, unmount.  Returns 0 for a good state and
 * -EUCLEAN for a bad one, with rp->v saying why.
 */
static int check_state(struct replay *rp, struct bdev *dev)
{
	if (state_mount(rp, dev, BAD_MOUNT))
		return -EUCLEAN;
	state_unmount(rp);
	state_fsck(rp, dev);
	if (state_mount(rp, dev, BAD_REMOUNT) == 0) {
		ck_assert_int_eq(dio_ctx_create(dev, NULL, &rp->ctx), 0);
		rp->nvisited = 0;
		walk(rp, DIOFS_ROOT_INO, "", 0);
		check_promises(rp);
		state_unmount(rp);
	}
	return rp->v->kinds ? -EUCLEAN : 0;
}

/* ---- building crash states ------------------------------------------------------ */

/* Rule 1: write e onto img, whole or (torn) only some of its sectors. */
static void apply_write(unsigned char *img, const struct bdev_log_entry *e,
			uint32_t sector, bool torn)
{
	size_t nsec = e->len / sector, s, keep;
	bool *mask;

	if (!torn || nsec < 2) {
		memcpy(img + e->offset, e->data, e->len);
		return;
	}
	mask = xalloc(nsec * sizeof(*mask));
	keep = 0;
	for (s = 0; s < nsec; s++)
		keep += mask[s] = rnd() & 1;
	if (keep == 0)
		mask[rnd_below(nsec)] = true;
	else if (keep == nsec)
		mask[rnd_below(nsec)] = false;
	for (s = 0; s < nsec; s++)
		if (mask[s])
			memcpy(img + e->offset + s * sector,
			       e->data + s * sector, sector);
	free(mask);
}

static void note_write(char *buf, size_t len, char how, size_t i)
{
	size_t used = strlen(buf);

	if (used + 24 < len)
		snprintf(buf + used, len - used, " %c%zu", how, i);
	else if (used + 5 < len && !strstr(buf, " ..."))
		snprintf(buf + used, len - used, " ...");
}

/*
 * Subset k (from 1) of the writes logged in [first, end) onto img: every
 * fourth one the writes in log order up to a random one (the last maybe
 * torn), the others a random choice, with some writes torn.  The last
 * point's first subset is every write, whole: the final state.  Returns
 * one past the log index of the last write applied.
 */
static size_t apply_subset(struct recording *r, size_t first, size_t end,
			 unsigned k, bool final, unsigned char *img,
			 char *desc, size_t desclen)
{
	uint32_t sector = r->g->dev_bs;
	size_t n = end - first, i, upto = first + rnd_below(n);
	unsigned p = 1 + (unsigned)rnd_below(3);	/* in quarters */
	bool in_order = k % 4 == 0, take, torn;
	size_t applied_end = 0;
	const struct bdev_log_entry *e;

	desc[0] = '\0';
	for (i = first; i < end; i++) {
		e = bdev_test_log_entry(r->bdev, i);
		if (final) {
			take = true, torn = false;
		} else if (in_order) {
			take = i <= upto;
			torn = i == upto && rnd_below(2);
		} else {
			take = rnd_below(4) < p;
			torn = take && rnd_below(4) == 0;
		}
		if (!take && i == end - 1 && !applied_end) {
			take = true;	/* not the flush's state again */
			torn = rnd_below(2);
		}
		if (!take)
			continue;
		applied_end = i + 1;
		torn = torn && e->len / sector >= 2;
		apply_write(img, e, sector, torn);
		if (!final)
			note_write(desc, desclen, torn ? '~' : '+', i);
	}
	if (final)
		snprintf(desc, desclen, " all");
	return applied_end;
}

/* A flush of the log (or the start), and the writes up to the next. */
struct point {
	size_t flush;		/* SIZE_MAX: the start */
	size_t first, end;
	unsigned subsets;
};

struct tally {
	unsigned states, bad, flush_points;
	unsigned kinds[NBAD];
	char *example[NBAD];	/* the first problem of each kind */
	size_t log_entries;
	unsigned long promises_checked, eithers_checked;
	double seconds;
};

/* Where the power may go: the start and every flush, each with its
 * share of the case's states; a share is at most 12 per write, and a
 * single write has no subset but itself, whole or torn. */
static struct point *crash_points(struct recording *r, size_t nlog,
				  unsigned nstates, unsigned *npoints)
{
	struct point *pts = xalloc((nlog + 1) * sizeof(*pts));
	unsigned n = 0, left, given;
	size_t i, w, cap;

	pts[n++] = (struct point){ .flush = SIZE_MAX, .first = 0 };
	for (i = 0; i < nlog; i++)
		if (bdev_test_log_entry(r->bdev, i)->kind == BDEV_LOG_FLUSH) {
			pts[n - 1].end = i;
			pts[n++] = (struct point){ .flush = i, .first = i + 1 };
		}
	pts[n - 1].end = nlog;
	left = nstates > n ? nstates - n : 0;
	do {
		given = 0;
		for (i = 0; i < n && left; i++) {
			w = pts[i].end - pts[i].first;
			cap = 12 * w;
			if (w == 1)
				cap = bdev_test_log_entry(r->bdev, pts[i].first)->len >
				      r->g->dev_bs ? 3 : 1;
			if (pts[i].subsets < cap) {
				pts[i].subsets++;
				left--;
				given++;
			}
		}
	} while (left && given);
	*npoints = n;
	return pts;
}

/* A fresh device holding img: each state is checked on its own. */
static struct bdev *state_device(struct recording *r, const unsigned char *img)
{
	struct bdev_test_opts bo = { .size = DEV_SIZE, .block_size = r->g->dev_bs };
	struct bdev *dev;

	ck_assert_int_eq(bdev_test_create(&bo, &dev), 0);
	memcpy(bdev_test_data(dev), img, DEV_SIZE);
	return dev;
}

static void count_bad(struct tally *t, const struct verdict *v)
{
	unsigned k;

	t->bad++;
	for (k = 0; k < NBAD; k++) {
		if (!(v->kinds & 1u << k))
			continue;
		if (!t->kinds[k]++) {
			t->example[k] = strdup(v->msg[k]);
			ck_assert_ptr_nonnull(t->example[k]);
		}
	}
}

/*
 * Replay r's log as crash states: at each point, the state with the
 * writes before its flush, then its subsets.  With stop_at_bad, return at
 * the first bad state.  The first problem of the first bad state goes to
 * first_bad.
 */
static void replay_states(struct recording *r, unsigned nstates,
			  bool stop_at_bad, struct tally *t, char *first_bad)
{
	size_t nlog = bdev_test_log_count(r->bdev), i;
	struct replay rp = { .r = r };
	unsigned char *base = xalloc(DEV_SIZE);
	struct verdict *v = xalloc(sizeof(*v));
	struct state st;
	struct point *pts;
	struct bdev *dev;
	unsigned npoints, p, k;

	memcpy(base, r->snapshot, DEV_SIZE);
	pts = crash_points(r, nlog, nstates, &npoints);
	rp.buf = xalloc(FILE_MAX + 1);
	rp.v = v;
	rp.st = &st;
	t->flush_points = npoints;
	t->log_entries = nlog;
	for (p = 0; p < npoints; p++) {
		for (k = 0; k <= pts[p].subsets; k++) {
			memset(&st, 0, sizeof(st));
			v->kinds = 0;
			st.number = t->states++;
			st.flush = pts[p].flush;
			st.subset = k;
			st.power_until = pts[p].end;
			st.applied_end = pts[p].first ? pts[p].first - 1 : 0;
			dev = state_device(r, base);
			if (k)
				st.applied_end = apply_subset(r, pts[p].first,
					pts[p].end, k, p == npoints - 1 && k == 1,
					bdev_test_data(dev), st.writes,
					sizeof(st.writes));
			if (check_state(&rp, dev)) {
				if (!t->bad)
					snprintf(first_bad, MSG_LEN, "%s",
						 v->msg[v->first]);
				count_bad(t, v);
			}
			bdev_close(dev);
			if (t->bad && stop_at_bad)
				goto out;
		}
		for (i = pts[p].first; i < pts[p].end; i++)
			apply_write(base, bdev_test_log_entry(r->bdev, i),
				    r->g->dev_bs, false);
	}
out:
	t->promises_checked = rp.promises_checked;
	t->eithers_checked = rp.eithers_checked;
	free(rp.buf);
	free(pts);
	free(base);
	free(v);
}

static void print_tally(const struct tally *t)
{
	unsigned k;

	fprintf(stderr, "%s: %u crash states checked (%u flush points, %zu log entries) in %.1f s; %lu fsync promises and %lu renames checked; %u bad\n",
		where, t->states, t->flush_points, t->log_entries, t->seconds,
		t->promises_checked, t->eithers_checked, t->bad);
	for (k = 0; k < NBAD; k++)
		if (t->kinds[k])
			fprintf(stderr, "%s:   %u states: %s; the first:\n    %s\n",
				where, t->kinds[k], bad_names[k], t->example[k]);
}

static void tally_free(struct tally *t)
{
	unsigned k;

	for (k = 0; k < NBAD; k++)
		free(t->example[k]);
}

/* Record a workload on geometry g, then replay it (rule 7). */
static void crash_case(const struct geom *g, bool skip_commit_flush,
		       uint64_t seed, unsigned nstates, bool stop_at_bad,
		       struct tally *t, char *first_bad)
{
	struct recording r;
	struct timespec t0, t1;
	size_t i, whiteouts = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(t, 0, sizeof(*t));
	rng_state = seed;
	record_start(&r, g, skip_commit_flush);
	record_workload(&r);
	for (i = 0; i < r.m->neithers; i++)
		whiteouts += r.m->eithers[i].white[0] != '\0';
	fprintf(stderr, "%s: recorded %u operations: %u files, %u directories, %zu promises, %zu renames to hold (%zu with a whiteout)\n",
		where, WORKLOAD_OPS, r.m->nfiles, r.m->ndirs - 1,
		r.m->npromises, r.m->neithers, whiteouts);
	replay_states(&r, nstates, stop_at_bad, t, first_bad);
	record_free(&r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	t->seconds = (double)(t1.tv_sec - t0.tv_sec) +
		     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_tally(t);
}

/* ---- spoiling a good state, to show the checker sees each problem --------------- */

/* The last promise still whole, about a file that holds data. */
static const struct promise *final_promise(const struct model *m)
{
	size_t i;

	for (i = m->npromises; i-- > 0;) {
		const struct promise *p = &m->promises[i];

		if (p->path_until == NEVER && p->data_until == NEVER &&
		    p->xattr_until == NEVER && !p->datasync && p->c->size > 0)
			return p;
	}
	ck_abort_msg("%s: the workload left no promise to spoil", where);
	return NULL;
}

static uint64_t promised_ino(struct replay *rp)
{
	struct fs_attr a;

	ck_assert_int_eq(resolve(rp, final_promise(rp->r->m)->path, &a), 0);
	return a.ino;
}

static void spoil_write(struct replay *rp, const unsigned char *bytes,
			size_t len)
{
	struct iovec iov = { (void *)bytes, len };

	ck_assert_int_eq(fs_write(rp->fs, rp->ctx, promised_ino(rp), 0, &iov,
				  1), (ssize_t)len);
}

/* The directory holding path's last name, and that name. */
static uint64_t parent_of(struct replay *rp, const char *path,
			  const char **name)
{
	char dir[PATH_LEN];
	struct fs_attr a;

	*name = strrchr(path, '/') + 1;
	if (*name - 1 == path)
		return DIOFS_ROOT_INO;
	snprintf(dir, sizeof(dir), "%.*s", (int)(*name - 1 - path), path);
	ck_assert_int_eq(resolve(rp, dir, &a), 0);
	return a.ino;
}

static void spoil_data(struct replay *rp, struct bdev *dev)
{
	const struct promise *p = final_promise(rp->r->m);
	unsigned char b = p->c->data[0] ? 0 : pat(0, data_seed(p->file, 1));

	spoil_write(rp, &b, 1);
}

static void spoil_size(struct replay *rp, struct bdev *dev)
{
	struct fs_setattr sa = { .mask = FS_SET_SIZE };
	struct fs_attr a;

	sa.size = final_promise(rp->r->m)->c->size + 1;
	ck_assert_int_eq(fs_setattr(rp->fs, rp->ctx, promised_ino(rp), &sa,
				    &a), 0);
}

static void spoil_name(struct replay *rp, struct bdev *dev)
{
	const char *name;
	uint64_t dir = parent_of(rp, final_promise(rp->r->m)->path, &name);

	ck_assert_int_eq(fs_unlink(rp->fs, dir, name), 0);
}

static void spoil_xattr(struct replay *rp, struct bdev *dev)
{
	unsigned char val[XATTR_MAX + 1] = { 0 };

	ck_assert_int_eq(fs_setxattr(rp->fs, promised_ino(rp), xattr_names[0],
				     val, sizeof(val), 0), 0);
}

static void spoil_stale(struct replay *rp, struct bdev *dev)
{
	unsigned char garbage[16];

	memset(garbage, GARBAGE, sizeof(garbage));
	spoil_write(rp, garbage, sizeof(garbage));
}

/* Bytes of a file the workload never made. */
static void spoil_foreign(struct replay *rp, struct bdev *dev)
{
	unsigned char other[16];

	fill_pat(other, sizeof(other), 0, data_seed(MAX_FILES, 1));
	spoil_write(rp, other, sizeof(other));
}

/* Take the renamed file away from both its names. */
static void spoil_rename(struct replay *rp, struct bdev *dev)
{
	const struct model *m = rp->r->m;
	const char *name;
	uint64_t dir;
	size_t i;

	for (i = m->neithers; i-- > 0;)
		if (m->eithers[i].until == NEVER)
			break;
	ck_assert_msg(i < m->neithers, "%s: the workload left no rename to spoil",
		      where);
	dir = parent_of(rp, m->eithers[i].path[1], &name);
	ck_assert_int_eq(fs_rename(rp->fs, dir, name, DIOFS_ROOT_INO,
				   "elsewhere", 0, NULL), 0);
}

/* Take away the whiteout of the last rename that left one. */
static void spoil_whiteout(struct replay *rp, struct bdev *dev)
{
	const struct model *m = rp->r->m;
	const char *name;
	uint64_t dir;
	size_t i;

	for (i = m->neithers; i-- > 0;)
		if (m->eithers[i].until == NEVER && m->eithers[i].white[0])
			break;
	ck_assert_msg(i < m->neithers,
		      "%s: the workload left no whiteout rename to spoil", where);
	dir = parent_of(rp, m->eithers[i].white, &name);
	ck_assert_int_eq(fs_unlink(rp->fs, dir, name), 0);
}

static void spoil_stranger(struct replay *rp, struct bdev *dev)
{
	struct fs_attr a;

	ck_assert_int_eq(fs_mknod(rp->fs, DIOFS_ROOT_INO, "stranger",
				  S_IFREG | 0644, 0, &cred, &a), 0);
	fs_forget(rp->fs, a.ino, 1);
}

/* Both copies of the superblock. */
static void spoil_super(struct replay *rp, struct bdev *dev)
{
	uint32_t bs = rp->r->g->fs_bs;

	memset(bdev_test_data(dev), 0, bs);
	memset(bdev_test_data(dev) + DEV_SIZE - bs, 0, bs);
}

static const struct spoiler {
	enum bad_kind kind;
	void (*spoil)(struct replay *rp, struct bdev *dev);
	bool mounted;		/* spoil runs on the mounted filesystem */
} spoilers[] = {
	{ BAD_DATA, spoil_data, true },
	{ BAD_SIZE, spoil_size, true },
	{ BAD_LOST, spoil_name, true },
	{ BAD_XATTR, spoil_xattr, true },
	{ BAD_STALE, spoil_stale, true },
	{ BAD_FOREIGN, spoil_foreign, true },
	{ BAD_RENAME, spoil_rename, true },
	{ BAD_RENAME, spoil_whiteout, true },
	{ BAD_UNKNOWN, spoil_stranger, true },
	{ BAD_MOUNT, spoil_super, false },
};
#define NSPOILERS ((int)(sizeof(spoilers) / sizeof(spoilers[0])))

/* The final state, with every write of the log whole. */
static unsigned char *final_image(struct recording *r, size_t nlog)
{
	unsigned char *img = xalloc(DEV_SIZE);
	const struct bdev_log_entry *e;
	size_t i;

	memcpy(img, r->snapshot, DEV_SIZE);
	for (i = 0; i < nlog; i++) {
		e = bdev_test_log_entry(r->bdev, i);
		if (e->kind == BDEV_LOG_WRITE)
			apply_write(img, e, r->g->dev_bs, false);
	}
	return img;
}

/* ---- cases ---------------------------------------------------------------------------- */

START_TEST(t_replay_after_crash)
{
	char *first_bad = xalloc(MSG_LEN);
	struct tally t;

	crash_case(crash_geoms[_i], false, 0x9E3779B97F4A7C15ull + (uint64_t)_i,
		   CASE_STATES, false, &t, first_bad);
	tally_free(&t);
	ck_assert_msg(t.bad == 0, "%u of %u crash states bad; the first: %s",
		      t.bad, t.states, first_bad);
	free(first_bad);
}
END_TEST

/* Rule 7: a journal whose commit record may reach the device before the
 * blocks it covers must be caught. */
START_TEST(t_harness_catches_missing_commit_flush)
{
	char *first_bad = xalloc(MSG_LEN);
	struct tally t;

	crash_case(crash_geoms[0], true, 0x9E3779B97F4A7C15ull, CASE_STATES,
		   true, &t, first_bad);
	ck_assert_msg(t.bad > 0,
		      "%s: no bad state in %u, although commit records were not ordered after their blocks",
		      where, t.states);
	tally_free(&t);
	free(first_bad);
}
END_TEST

/* The final state is good; spoiled in one way, the checker says so. */
START_TEST(t_checker_reports_each_kind)
{
	const struct spoiler *sp = &spoilers[_i];
	struct fs_mount_opts mo = { .commit_secs = COMMIT_SECS };
	struct verdict *v = xalloc(sizeof(*v));
	struct replay rp = { .v = v };
	struct recording r;
	struct state st = { 0 };
	unsigned char *img;
	const char *why = NULL;
	struct bdev *dev;
	size_t nlog;

	rng_state = 0x9E3779B97F4A7C15ull;
	record_start(&r, crash_geoms[0], false);
	record_workload(&r);
	nlog = bdev_test_log_count(r.bdev);
	img = final_image(&r, nlog);
	rp.r = &r;
	rp.st = &st;
	rp.buf = xalloc(FILE_MAX + 1);
	st.flush = nlog - 1;
	st.power_until = st.applied_end = nlog;

	dev = state_device(&r, img);
	ck_assert_msg(check_state(&rp, dev) == 0, "%s", v->msg[v->first]);
	bdev_close(dev);

	dev = state_device(&r, img);
	if (sp->mounted) {
		ck_assert_int_eq(fs_mount_bdev(dev, &mo, &rp.fs, &why), 0);
		ck_assert_int_eq(dio_ctx_create(dev, NULL, &rp.ctx), 0);
	}
	sp->spoil(&rp, dev);
	if (sp->mounted) {
		dio_ctx_destroy(rp.ctx);
		rp.ctx = NULL;
		ck_assert_int_eq(fs_unmount(rp.fs), 0);
		rp.fs = NULL;
	}
	ck_assert_int_eq(check_state(&rp, dev), -EUCLEAN);
	ck_assert_msg(v->kinds & 1u << sp->kind,
		      "%s: spoiled for \"%s\", the checker found: %s", where,
		      bad_names[sp->kind], v->msg[v->first]);
	bdev_close(dev);
	free(rp.buf);
	free(img);
	free(v);
	record_free(&r);
}
END_TEST

static Suite *crash_suite(void)
{
	Suite *s = suite_create("crash");
	TCase *tc;

	tc = tcase_create("replay_after_crash");
	tcase_set_timeout(tc, CRASH_TIMEOUT);
	tcase_add_loop_test(tc, t_replay_after_crash, 0, NCRASH_GEOMS);
	suite_add_tcase(s, tc);
	tc = tcase_create("harness_catches_missing_commit_flush");
	tcase_set_timeout(tc, CRASH_TIMEOUT);
	tcase_add_test(tc, t_harness_catches_missing_commit_flush);
	suite_add_tcase(s, tc);
	tc = tcase_create("checker_reports_each_kind");
	tcase_set_timeout(tc, CRASH_TIMEOUT);
	tcase_add_loop_test(tc, t_checker_reports_each_kind, 0, NSPOILERS);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	/* Every state makes and drops a device: keep them on the heap, where
	 * the next one reuses the pages instead of faulting in fresh ones. */
	mallopt(M_MMAP_THRESHOLD, 2 * DEV_SIZE);
	mallopt(M_TRIM_THRESHOLD, 16 * DEV_SIZE);
	sr = srunner_create(crash_suite());

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
