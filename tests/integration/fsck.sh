#!/usr/bin/env bash
# Integration test of fsck.diofs on image files: a fresh filesystem is
# clean; a torn superblock, bitmap or inode-table block is found by -n
# (exit 4, nothing written), repaired by -y (exit 1) and clean afterwards
# (exit 0); -p skips a clean filesystem; usage errors exit 16, missing
# files and files without diofs 8, with one line; -V; -C progress lines;
# a fresh 1 TiB image checks in seconds.  When the daemon can mount (always under CI=true), a filesystem
# that was mounted and used is clean, and a mounted one is refused.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# lib.sh: the programs' paths, mount_fs/unmount_fs and the EXIT clean-up.
# shellcheck source=lib.sh
. "$here/lib.sh"
for tool in "$MKFS_BIN" "$FSCK_BIN"; do
	if [[ ! -x $tool ]]; then
		echo "$tool is not built (run make first)" >&2
		exit 99
	fi
done

T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/diofs-fsck.XXXXXX")
trap lib_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
work=$T_DIR

passed=0
failed=0
ok() {
	echo "ok: $1"
	passed=$((passed + 1))
}
bad() {
	echo "FAIL: $1" >&2
	failed=$((failed + 1))
}

# run NAME WANT CMD...: the command must exit with WANT; its stdout and
# stderr are left in $out and $err.
run() {
	local name=$1 want=$2 rc=0
	shift 2
	"$@" >"$work/out" 2>"$work/err" || rc=$?
	out=$(cat "$work/out")
	err=$(cat "$work/err")
	if [[ $rc -ne $want ]]; then
		bad "$name: exit code $rc, expected $want: $out $err"
		return 1
	fi
	return 0
}

# run_op_error NAME CMD...: exit 8 with exactly one line on stderr.
run_op_error() {
	local name=$1
	shift
	run "$name" 8 "$@" || return 0
	if [[ $(wc -l <"$work/err") -ne 1 ]]; then
		bad "$name: expected one line on stderr, got: $err"
	else
		ok "$name: $err"
	fi
}

# Little-endian unsigned field of SIZE bytes at byte OFF of FILE.
field() {
	od -An -t "u$3" -j "$2" -N "$3" "$1" | tr -d ' '
}

# Flip the bits of MASK in byte OFF of FILE, in place.
flip() {
	local file=$1 off=$2 mask=$3 byte
	byte=$(od -An -t u1 -j "$off" -N 1 "$file" | tr -d ' ')
	printf "\\$(printf '%03o' $((byte ^ mask)))" |
		dd of="$file" bs=1 seek="$off" conv=notrunc status=none
}

# damage NAME IMG OFF: IMG with byte OFF flipped must be found by -n
# without being changed, repaired by -y, and clean afterwards.
damage() {
	local name=$1 img=$2 off=$3 sum
	flip "$img" "$off" 0x5a
	sum=$(cksum <"$img")
	if run "$name: -n" 4 "$FSCK_BIN" -n "$img"; then
		if [[ $(cksum <"$img") != "$sum" ]]; then
			bad "$name: -n changed the image"
		elif ! grep -q "corrupt\|checksum" <<<"$out"; then
			bad "$name: -n does not name the damage: $out"
		else
			ok "$name: -n finds it: $(head -n1 <<<"$out")"
		fi
	fi
	if run "$name: -y" 1 "$FSCK_BIN" -y "$img"; then
		ok "$name: -y repairs it"
	fi
	if run "$name: -n after -y" 0 "$FSCK_BIN" -n "$img"; then
		ok "$name: clean after the repair"
	fi
}

# run_usage_error NAME CMD...: exit 16 with exactly one line on stderr.
run_usage_error() {
	local name=$1
	shift
	run "$name" 16 "$@" || return 0
	if [[ $(wc -l <"$work/err") -ne 1 ]]; then
		bad "$name: expected one line on stderr, got: $err"
	else
		ok "$name: $err"
	fi
}

# ---- usage and operational errors -------------------------------------------

img=$work/a.img
truncate -s 64M "$img"
"$MKFS_BIN" -q "$img"

run_usage_error "no arguments" "$FSCK_BIN"
run_usage_error "-n with -y" "$FSCK_BIN" -n -y "$img"
run_usage_error "unknown option" "$FSCK_BIN" -Z "$img"
run_usage_error "two devices" "$FSCK_BIN" -n "$img" "$img"
run_usage_error "-C without a number" "$FSCK_BIN" -n -C x "$img"
run_usage_error "-C with a closed descriptor" "$FSCK_BIN" -n -C 9 "$img"
run_usage_error "-C without an argument" "$FSCK_BIN" -C
if run "-V" 0 "$FSCK_BIN" -V && [[ $out == "fsck.diofs (diofs) "[0-9]* ]]; then
	ok "-V prints the version: $out"
fi
run_op_error "missing image" "$FSCK_BIN" -n "$work/none.img"
head -c 4M /dev/zero >"$work/zero.img"
run_op_error "zeros" "$FSCK_BIN" -n "$work/zero.img"
grep -q "not a diofs" <<<"$err" || bad "zeros: message does not say 'not a diofs': $err"
head -c 1M /dev/urandom >"$work/random.img"
run_op_error "random bytes" "$FSCK_BIN" -y "$work/random.img"

# ---- a fresh filesystem -------------------------------------------------------

if run "fresh -n" 0 "$FSCK_BIN" -n "$img" && grep -q "no errors" <<<"$out"; then
	ok "a fresh filesystem is clean"
fi
run "fresh -y" 0 "$FSCK_BIN" -y "$img" && ok "-y on a clean filesystem exits 0"
if run "fresh -p" 0 "$FSCK_BIN" -p "$img" && grep -q "clean" <<<"$out"; then
	ok "-p skips a clean filesystem: $out"
fi
if run "fresh -p -f" 0 "$FSCK_BIN" -p -f "$img" && grep -q "no errors" <<<"$out"; then
	ok "-p -f checks it anyway"
fi

# ---- damage ------------------------------------------------------------------

bs=$(field "$img" 36 4)
gstart=$(field "$img" 96 8)
damage "primary superblock" "$img" 64
damage "block bitmap" "$img" $((gstart * bs + 100))
damage "inode bitmap" "$img" $(((gstart + 1) * bs + 100))
damage "inode-table block" "$img" $(((gstart + 2) * bs + bs - 2))
damage "descriptor block" "$img" $((bs + 40))

# -p checks, without -f, a filesystem whose superblock is not marked
# clean: here the primary copy is torn.
flip "$img" 64 0x01
if run "-p on damage" 1 "$FSCK_BIN" -p "$img"; then
	ok "-p repairs a filesystem that is not marked clean"
fi

# ---- progress ----------------------------------------------------------------------

# -C 3: lines "PASS DONE TOTAL DEVICE" with DONE growing to TOTAL in every
# pass, passes in order; stderr, not a terminal here, stays empty.
many=$work/many.img
truncate -s 1G "$many"
"$MKFS_BIN" -q -b 1024 "$many"
if run "-C 3" 0 "$FSCK_BIN" -n -C 3 "$many" 3>"$work/prog"; then
	if [[ -s $work/err ]]; then
		bad "-C 3: stderr is not empty: $err"
	elif why=$(awk -v dev="$many" '
		NF != 4 || $1 !~ /^[0-9]+$/ || $2 !~ /^[0-9]+$/ ||
		    $3 !~ /^[0-9]+$/ || $4 != dev { print "bad line: " $0; exit 1 }
		$1 < pass { print "pass goes back: " $0; exit 1 }
		$1 > pass { if (pass && last != max) { print "pass " pass " ends at " last "/" max; exit 1 }
			    pass = $1; last = -1; max = $3; passes++ }
		$3 != max || $2 < last || $2 > $3 { print "bad step: " $0; exit 1 }
		{ last = $2 }
		END { if (!NR) { print "no lines"; exit 1 }
		      if (last != max) { print "last pass ends at " last "/" max; exit 1 }
		      if (passes < 3) { print passes " passes"; exit 1 } }
		' "$work/prog"); then
		ok "-C 3 writes $(wc -l <"$work/prog") progress lines, $(awk '{print $1}' "$work/prog" | uniq | tr '\n' ' ')passes, each up to its total"
	else
		bad "-C 3: $why"
	fi
fi
if run "no terminal" 0 "$FSCK_BIN" -n "$many" && [[ ! -s $work/err ]]; then
	ok "without a terminal or -C, stderr stays empty"
elif [[ -s $work/err ]]; then
	bad "without a terminal: stderr has: $err"
fi
rm -f "$many"

# ---- a large, fresh filesystem --------------------------------------------------

big=$work/big.img
if truncate -s 1T "$big" 2>/dev/null; then
	"$MKFS_BIN" -q "$big"
	start=$SECONDS
	if run "1 TiB -n" 0 "$FSCK_BIN" -n "$big" && (( SECONDS - start < 10 )); then
		ok "a fresh 1 TiB filesystem checks in $((SECONDS - start))s"
	else
		bad "1 TiB check took $((SECONDS - start))s"
	fi
	rm -f "$big"
else
	echo "note: no 1 TiB sparse file here; the size test is left out"
fi

# ---- a filesystem that was used ------------------------------------------------------

mount_ok() {
	local fd
	[[ -x $DIOFS_BIN ]] && command -v fusermount3 >/dev/null &&
		[[ -c /dev/fuse ]] && { exec {fd}<>/dev/fuse; } 2>/dev/null &&
		exec {fd}>&-
}

if mount_ok; then
	used=$work/used.img
	mnt=$work/mnt
	truncate -s 128M "$used"
	"$MKFS_BIN" -q -b 1024 "$used"
	mkdir "$mnt"
	mount_fs "$used" "$mnt"
	mkdir -p "$mnt/a/b/c" "$mnt/d"
	for i in $(seq 1 300); do
		head -c $((i * 37)) /dev/urandom >"$mnt/a/f$i"
	done
	ln "$mnt/a/f1" "$mnt/d/hard"
	ln -s f2 "$mnt/a/short"
	ln -s "$(printf 'x%.0s' $(seq 1 200))" "$mnt/a/long"
	head -c 3M /dev/urandom >"$mnt/d/big"
	mv "$mnt/a/b" "$mnt/d/b"
	rm "$mnt"/a/f1[0-9]*
	run_op_error "mounted image" "$FSCK_BIN" -n "$used"
	grep -q "in use (mounted?)" <<<"$err" ||
		bad "mounted image: message does not say 'in use (mounted?)': $err"
	unmount_fs "$mnt"
	if run "used -n" 0 "$FSCK_BIN" -n "$used"; then
		ok "a filesystem that was mounted and used is clean"
	fi

	# mkfs -N 1 raises the count to one that leaves room for files.
	few=$work/few.img
	truncate -s 64M "$few"
	"$MKFS_BIN" -q -N 1 "$few"
	mount_fs "$few" "$mnt"
	n=0
	for i in $(seq 1 16); do
		: >"$mnt/f$i" 2>/dev/null && n=$((n + 1))
	done
	unmount_fs "$mnt"
	if [[ $n -eq 16 ]] && run "-N 1 -n" 0 "$FSCK_BIN" -n "$few" &&
	   grep -q " 32/32 inodes" <<<"$out"; then
		ok "mkfs -N 1 leaves room for 16 files: $(head -n1 <<<"$out")"
	else
		bad "mkfs -N 1: $n of 16 files created; $out"
	fi
elif [[ ${CI:-} == true ]]; then
	bad "cannot mount (no daemon, fusermount3 or usable /dev/fuse); CI=true requires it"
else
	echo "note: cannot mount here; the mounted part is left out"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
