#!/usr/bin/env bash
# Integration test of mkfs.diofs on image files: formatting, the refusals
# that protect existing data, -n, -s, and the one-line errors.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
builddir=${abs_top_builddir:-$here/../..}
MKFS=$builddir/src/mkfs/mkfs.diofs
if [[ ! -x $MKFS ]]; then
	echo "mkfs.diofs not built at $MKFS" >&2
	exit 99
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/diofs-mkfs-test.XXXXXX")
cleanup() {
	rm -rf -- "$work"
}
trap cleanup EXIT

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

# run_fail NAME CMD...: the command must exit 1 with exactly one line on
# stderr and nothing on stdout; the line is left in $err.
run_fail() {
	local name=$1 rc=0
	shift
	"$@" >"$work/out" 2>"$work/err" || rc=$?
	err=$(cat "$work/err")
	if [[ $rc -ne 1 ]]; then
		bad "$name: exit code $rc, expected 1 ($err)"
	elif [[ $(wc -l <"$work/err") -ne 1 ]]; then
		bad "$name: expected one line on stderr, got: $err"
	elif [[ -s $work/out ]]; then
		bad "$name: unexpected output: $(cat "$work/out")"
	else
		ok "$name: $err"
	fi
}

img=$work/a.img
truncate -s 256M "$img"

# A plain format, with label and UUID in the summary.
uuid=0c2f8d41-9a57-4e0b-8a43-6c1d2b3e4f50
if out=$("$MKFS" -L scratch -U "$uuid" "$img") &&
   grep -q "label: *scratch" <<<"$out" && grep -q "UUID: *$uuid" <<<"$out" &&
   grep -q "block size: *4096" <<<"$out"; then
	ok "format an image"
else
	bad "format an image: $out"
fi

# A second format needs -f.
run_fail "second format refused" "$MKFS" "$img"
[[ $err == *"already holds a diofs filesystem"*"-f"* ]] ||
	bad "second format: message does not say diofs and -f: $err"
if "$MKFS" -q -f -b 1024 "$img" >"$work/out" 2>&1 && [[ ! -s $work/out ]]; then
	ok "second format with -f (and -q prints nothing)"
else
	bad "second format with -f: $(cat "$work/out")"
fi

# Another filesystem is protected too.
if command -v mkfs.ext4 >/dev/null; then
	ext=$work/ext4.img
	truncate -s 64M "$ext"
	mkfs.ext4 -F -q "$ext"
	run_fail "ext4 image refused" "$MKFS" "$ext"
	[[ $err == *ext4*"-f"* ]] || bad "ext4: message does not name ext4 and -f: $err"
	if "$MKFS" -q -f "$ext"; then
		ok "ext4 image formatted with -f"
	else
		bad "ext4 image with -f"
	fi
	if command -v blkid >/dev/null; then
		if blkid -p "$ext" >/dev/null 2>&1; then
			bad "ext4 signature left behind after -f: $(blkid -p "$ext")"
		else
			ok "old ext4 signature wiped"
		fi
	fi
	run_fail "diofs left by -f is recognized" "$MKFS" "$ext"
else
	bad "mkfs.ext4 is not installed (Debian package e2fsprogs)"
fi

# -n writes nothing, on an existing image and on one that does not exist.
ext=$work/dry.img
truncate -s 64M "$ext"
printf 'some bytes that must survive' | dd of="$ext" bs=1 seek=4096 conv=notrunc status=none
before=$(sha256sum <"$ext")
if out=$("$MKFS" -n "$ext") && grep -q "Nothing was written" <<<"$out" &&
   [[ $(sha256sum <"$ext") == "$before" ]]; then
	ok "-n leaves the image untouched"
else
	bad "-n changed the image or failed: $out"
fi
if "$MKFS" -q -n -s 1G "$work/none.img" && [[ ! -e $work/none.img ]]; then
	ok "-n -s creates no file"
else
	bad "-n -s created a file or failed"
fi

# -s creates the image, sparse and of the right size, even a large one.
new=$work/new.img
if "$MKFS" -q -s 512M "$new" && [[ $(stat -c %s "$new") -eq $((512 << 20)) ]]; then
	ok "-s 512M creates a 512 MiB image"
else
	bad "-s 512M"
fi
grow=$work/grow.img
truncate -s 100M "$grow"
if "$MKFS" -q -s 300M "$grow" && [[ $(stat -c %s "$grow") -eq $((300 << 20)) ]]; then
	ok "-s grows an existing smaller image"
else
	bad "-s 300M on a 100 MiB image: $(stat -c %s "$grow") bytes"
fi
rm -f "$grow"
big=$work/big.img
start=$SECONDS
if "$MKFS" -q -s 1T "$big" && [[ $(stat -c %s "$big") -eq $((1 << 40)) ]] &&
   (( SECONDS - start < 10 )) && (( $(stat -c %b "$big") * 512 < 64 << 20 )); then
	ok "-s 1T creates a sparse 1 TiB image in $((SECONDS - start))s"
else
	bad "-s 1T: $((SECONDS - start))s, $(stat -c %b "$big" 2>/dev/null) sectors"
fi
rm -f "$big"

# Bad options and arguments: one line, exit code 1, nothing created.
run_fail "unknown option" "$MKFS" -z "$img"
run_fail "unknown long option" "$MKFS" --bogus "$img"
run_fail "missing argument" "$MKFS" "$img" -b
run_fail "block size not a power of two" "$MKFS" -b 3000 "$img"
run_fail "block size too large" "$MKFS" -b 128K "$img"
run_fail "bad size" "$MKFS" -s 12Q "$work/q.img"
run_fail "bad UUID" "$MKFS" -U not-a-uuid "$img"
run_fail "label too long" "$MKFS" -L "$(printf 'x%.0s' {1..64})" "$img"
run_fail "no device" "$MKFS"
run_fail "two devices" "$MKFS" "$img" "$new"
run_fail "missing image without -s" "$MKFS" "$work/missing.img"
run_fail "device too small" "$MKFS" -s 16K "$work/tiny.img"
[[ ! -e $work/q.img && ! -e $work/missing.img && ! -e $work/tiny.img ]] ||
	bad "a failed run left an image behind"
run_fail "too many inodes" "$MKFS" -f -N 100000000000 "$img"

# -N below the reserved inodes plus room for files is raised, with one
# line on stderr (none with -q); the filesystem has free inodes.
few=$work/few.img
truncate -s 64M "$few"
if out=$("$MKFS" -N 1 "$few" 2>"$work/err") &&
   [[ $(wc -l <"$work/err") -eq 1 ]] && grep -q "making" "$work/err" &&
   free=$(sed -n 's/^ *inodes: *[0-9]* (\([0-9]*\) free)$/\1/p' <<<"$out") &&
   (( free >= 16 )); then
	ok "-N 1 is raised to a usable count: $(cat "$work/err")"
else
	bad "-N 1: $out $(cat "$work/err")"
fi
if "$MKFS" -q -f -N 1 "$few" >"$work/out" 2>&1 && [[ ! -s $work/out ]]; then
	ok "-q -N 1 prints nothing"
else
	bad "-q -N 1: $(cat "$work/out")"
fi
rm -f "$few"

if out=$("$MKFS" -V) && [[ $out == mkfs.diofs* ]]; then
	ok "-V prints the version"
else
	bad "-V"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
