#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# programs.sh: real programs on a mounted diofs (loop device): cp -a and
# diff -r of up to 64 MiB of /usr/share/doc, a tar round trip, rsync,
# parallel tar extractions, git, sqlite3, a C build with make and gcc, and a
# sparse file checked with SEEK_DATA and SEEK_HOLE.  The filesystem is
# unmounted, checked with fsck.diofs and remounted between the stages that
# write and the ones that compare.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_init
for tool in git sqlite3 gcc make tar rsync; do
	command -v "$tool" >/dev/null || skip_or_fail "$tool is not installed"
done

new_image "$T_DIR/img" 2G
attach_loop "$T_DIR/img"
dev=$LOOP_DEV
make_fs "$dev"
m=$T_DIR/mnt
mkdir "$m"
mount_fs "$dev" "$m"

remount() {
	unmount_fs "$m"
	mount_fs "$dev" "$m"
}

# Entries of /usr/share/doc, by name, up to about $1 KiB in all.
doc_subset() {
	local total=0 kb entry
	for entry in /usr/share/doc/*; do
		kb=$(du -sk "$entry" | cut -f1)
		[ $((total + kb)) -gt "$1" ] && continue
		total=$((total + kb))
		printf '%s\n' "${entry#/usr/share/doc/}"
	done
}

step "cp -a of /usr/share/doc, diff -r"
mkdir "$m/doc"
mapfile -t docs < <(doc_subset 65536)
[ "${#docs[@]}" -gt 0 ] || fail "/usr/share/doc is empty"
(cd /usr/share/doc && cp -a -- "${docs[@]}" "$m/doc/")
remount
for d in "${docs[@]}"; do
	diff -r --no-dereference "/usr/share/doc/$d" "$m/doc/$d" >/dev/null ||
		fail "diff -r /usr/share/doc/$d"
done
step "copied $(find "$m/doc" | wc -l) files and directories"

step "tar c | tar x round trip, diff -r"
mkdir "$m/untar"
tar -C "$m/doc" -cf - . | tar -C "$m/untar" -xf -
remount
diff -r --no-dereference "$m/doc" "$m/untar" >/dev/null || fail "diff -r after tar"

step "rsync -a and a second rsync that finds nothing to do"
rsync -a "$m/doc/" "$m/rsync/"
diff -r --no-dereference "$m/doc" "$m/rsync" >/dev/null || fail "diff -r after rsync"
changed=$(rsync -a --itemize-changes "$m/doc/" "$m/rsync/" | wc -l)
[ "$changed" -eq 0 ] || fail "second rsync changed $changed entries (times or sizes not kept)"
rm -rf "$m/rsync"

step "four tar extractions at once with a reader; removal and copy at once"
mapfile -t small < <(doc_subset 8192)
tar -C /usr/share/doc -cf "$T_DIR/par.tar" -- "${small[@]}"
pids=()
for i in 1 2 3 4; do
	(mkdir "$m/par$i" && tar -C "$m/par$i" -xf "$T_DIR/par.tar") &
	pids+=($!)
done
for ((i = 0; i < 5; i++)); do find "$m" -type f >/dev/null; done
for pid in "${pids[@]}"; do wait "$pid" || fail "a parallel tar extraction failed"; done
pids=()
rm -rf "$m/par1" & pids+=($!)
rm -rf "$m/par2" & pids+=($!)
cp -a "$m/par3" "$m/par5" & pids+=($!)
ls -lR "$m/par4" >/dev/null & pids+=($!)
for pid in "${pids[@]}"; do wait "$pid" || fail "parallel rm, cp or ls failed"; done
remount
for i in 3 4 5; do
	for d in "${small[@]}"; do
		diff -r --no-dereference "/usr/share/doc/$d" "$m/par$i/$d" >/dev/null ||
			fail "diff -r /usr/share/doc/$d $m/par$i/$d"
	done
done
[ ! -e "$m/par1" ] && [ ! -e "$m/par2" ] || fail "parallel rm -rf left files"
rm -rf "$m/par3" "$m/par4" "$m/par5"

step "git init, add, commit, gc, fsck"
repo=$m/repo
mkdir "$repo"
cp -a "$m/doc/${docs[0]}" "$repo/"
for ((i = 0; i < 200; i++)); do
	printf 'file %d\n%s\n' "$i" "$(seq "$i")" >"$repo/gen-$i.txt"
done
(
	cd "$repo"
	git init -q
	git config user.name "diofs test"
	git config user.email "diofs@example.invalid"
	git add -A
	git commit -q -m "first"
	for ((i = 0; i < 200; i += 3)); do echo change >>"gen-$i.txt"; done
	git mv gen-1.txt moved.txt
	git rm -q gen-2.txt
	git commit -q -a -m "second"
	git gc -q
	git fsck --full --strict
	[ -z "$(git status --porcelain)" ] || { git status; exit 1; }
	[ "$(git rev-list --count HEAD)" -eq 2 ]
) || fail "git"
remount
(
	cd "$repo"
	git fsck --full --strict
	[ -z "$(git status --porcelain)" ]
	[ "$(git show HEAD:gen-0.txt | tail -n1)" = change ]
) || fail "git after remount"

step "sqlite3: 100000 rows in one transaction, integrity_check"
db=$m/test.db
{
	echo "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, n INTEGER);"
	echo "CREATE INDEX t_n ON t (n);"
	echo "BEGIN;"
	seq 1 100000 | awk '{ printf "INSERT INTO t (v, n) VALUES (\x27row %d\x27, %d);\n", $1, ($1 * 7919) % 100003 }'
	echo "COMMIT;"
} | sqlite3 "$db"
[ "$(sqlite3 "$db" 'PRAGMA integrity_check;')" = ok ] || fail "sqlite integrity_check"
[ "$(sqlite3 "$db" 'SELECT count(*) FROM t;')" -eq 100000 ] || fail "sqlite row count"
sqlite3 "$db" "PRAGMA journal_mode=WAL; UPDATE t SET v = 'updated' WHERE id % 10 = 0;" >/dev/null
remount
[ "$(sqlite3 "$db" 'PRAGMA integrity_check;')" = ok ] || fail "sqlite integrity_check after remount"
[ "$(sqlite3 "$db" "SELECT count(*) FROM t WHERE v = 'updated';")" -eq 10000 ] ||
	fail "sqlite WAL update lost"

step "make and gcc build a small C program"
src=$m/proj
mkdir "$src"
cat >"$src/util.c" <<'EOF'
#include "util.h"
long triangle(long n)
{
	return n * (n + 1) / 2;
}
EOF
cat >"$src/util.h" <<'EOF'
long triangle(long n);
EOF
cat >"$src/main.c" <<'EOF'
#include <stdio.h>
#include "util.h"
int main(void)
{
	printf("triangle(100) = %ld\n", triangle(100));
	return 0;
}
EOF
printf '%s\n' \
	'prog: main.o util.o' \
	'	$(CC) -o $@ main.o util.o' \
	'%.o: %.c util.h' \
	'	$(CC) -O2 -Wall -c -o $@ $<' \
	'clean:' \
	'	rm -f prog *.o' >"$src/Makefile"
make -s -C "$src" >/dev/null || fail "make"
[ "$("$src/prog")" = "triangle(100) = 5050" ] || fail "the built program's output"
out=$(make -C "$src")
[[ $out == *"is up to date"* ]] || fail "make rebuilt an up-to-date tree: $out"
sleep 1
sed -i 's/n \* (n + 1) \/ 2/n * (n - 1) \/ 2/' "$src/util.c"
make -s -C "$src" >/dev/null || fail "rebuild"
[ "$("$src/prog")" = "triangle(100) = 4950" ] || fail "rebuild after an edit"
remount
[ "$("$src/prog")" = "triangle(100) = 4950" ] || fail "the program after remount"
out=$(make -C "$src")
[[ $out == *"is up to date"* ]] || fail "make after remount rebuilt: $out"

step "sparse file: SEEK_DATA, SEEK_HOLE, cmp"
sparse=$m/sparse
ref=$T_DIR/sparse.ref
head -c 65536 /dev/urandom >"$T_DIR/chunk"
for f in "$sparse" "$ref"; do
	dd if="$T_DIR/chunk" of="$f" bs=64K seek=100 conv=notrunc status=none
	dd if="$T_DIR/chunk" of="$f" bs=64K seek=300 conv=notrunc status=none
	truncate -s 64M "$f"
done
cmp "$sparse" "$ref" || fail "sparse file contents"
remount
cmp "$sparse" "$ref" || fail "sparse file contents after remount"
pyrun "
f = os.open(sys.argv[1], os.O_RDONLY)
K = 65536
size = os.fstat(f).st_size
assert size == 64 << 20, size
# data runs from [100K, 101K) and [300K, 301K) in 64 KiB units
d = os.lseek(f, 0, os.SEEK_DATA)
assert d <= 100 * K and d > 90 * K, 'first data at %d' % d
h = os.lseek(f, d, os.SEEK_HOLE)
assert h >= 101 * K and h < 110 * K, 'hole after first data at %d' % h
d2 = os.lseek(f, h, os.SEEK_DATA)
assert d2 <= 300 * K and d2 > 290 * K, 'second data at %d' % d2
h2 = os.lseek(f, d2, os.SEEK_HOLE)
assert h2 >= 301 * K and h2 < 310 * K, 'hole after second data at %d' % h2
assert os.lseek(f, 0, os.SEEK_HOLE) == 0, 'a hole at 0'
assert os.lseek(f, size - 1, os.SEEK_HOLE) in (size - 1, size), 'trailing hole'
try:
    os.lseek(f, size, os.SEEK_DATA)
    sys.exit('SEEK_DATA at EOF must fail')
except OSError as e:
    assert e.errno == errno.ENXIO, e
try:
    os.lseek(f, h2 + K, os.SEEK_DATA)
    sys.exit('SEEK_DATA in the trailing hole must fail')
except OSError as e:
    assert e.errno == errno.ENXIO, e
st = os.fstat(f)
assert st.st_blocks * 512 < 4 << 20, 'sparse file uses %d blocks' % st.st_blocks
" "$sparse" || fail "SEEK_DATA / SEEK_HOLE"
cp --sparse=always "$sparse" "$T_DIR/sparse.copy"
cmp "$T_DIR/sparse.copy" "$ref" || fail "cp --sparse=always of the sparse file"

step "remove everything"
rm -rf "$m/doc" "$m/untar" "$m/repo" "$m/proj" "$db"* "$sparse"
[ -z "$(ls -A "$m")" ] || fail "left behind: $(ls -A "$m")"
unmount_fs "$m"

step "all checks passed"
