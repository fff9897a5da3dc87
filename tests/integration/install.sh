#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# install.sh: make install and make uninstall of the build tree, only ever
# into temporary DESTDIRs of its own (no root, no FUSE needed).
#
# Checked for the configured directories and for three other layouts given
# on make's command line:
#  - bindir holds diofs-stat; sbindir holds diofs, mkfs.diofs, fsck.diofs
#    and the mount helpers mount.diofs, mount.fuse.diofs and
#    mount.fuseblk.diofs (links to diofs), mandir every page of
#    dist_man_MANS, diofs(5) among them;
#  - rootsbindir (configure --with-rootsbindir, /sbin by default), where
#    mount(8) and fsck(8) look for helpers, holds the mount helpers and
#    fsck.diofs, links to the programs in sbindir, whatever the prefix;
#  - prefix /usr with sbin a link to usr/sbin (merged /usr, as Debian 12):
#    rootsbindir is sbindir, and the programs there stay programs;
#  - an empty rootsbindir (--without-rootsbindir): nothing outside sbindir;
#  - nothing else is installed, a second install changes nothing, and
#    make uninstall leaves no file behind, but keeps a file in rootsbindir
#    that is not the link install made.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v make >/dev/null || skip_or_fail "make is not installed"
[ -f "$abs_top_builddir/Makefile" ] ||
	fail "$abs_top_builddir is not a configured build tree"
for tool in "$DIOFS_BIN" "$MKFS_BIN" "$FSCK_BIN"; do
	[ -x "$tool" ] || fail "$tool is not built (run make first)"
done

T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/diofs-$TEST_NAME.XXXXXX")
trap 'rm -rf "$T_DIR"' EXIT

# make in the build tree, without the flags of a make that runs this test
bmake() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make --no-print-directory -C "$abs_top_builddir" "$@"
}

# makevar NAME [VAR=VALUE...]: the value of a variable of the Makefile.
makevar() {
	local name=$1
	shift
	printf 'print-%%:\n\t@printf "%%s\\n" "$($*)"\n' |
		bmake -s -f Makefile -f - "$@" "print-$name"
}

# run_make LOG TARGET [VAR=VALUE...]: make, and show its output on failure.
run_make() {
	local log=$T_DIR/$1
	shift
	if ! bmake "$@" >"$log" 2>&1; then
		cat "$log" >&2
		fail "make $* failed"
	fi
}

# What is in DIR apart from directories, sorted.
listing() {
	find "$1" ! -type d | sort
}

expect_prog() {
	[ -f "$1" ] && [ ! -h "$1" ] && [ -x "$1" ] ||
		fail "$1 is not an installed program"
}

expect_link() {
	[ -h "$1" ] || fail "$1 is not a symbolic link"
	[ "$(readlink "$1")" = "$2" ] ||
		fail "$1 points to $(readlink "$1"), not $2"
}

man_pages=$(makevar dist_man_MANS)
[[ " $man_pages " == *" man/diofs.5 "* ]] ||
	fail "diofs.5 is not among the installed pages ($man_pages)"

# check_layout NAME PRE [VAR=VALUE...]: install into a fresh DESTDIR
# $T_DIR/NAME in which PRE (a shell command, run there) has made what a
# system would already have, check what went where, install again,
# uninstall, and check that only what PRE made is left.
check_layout() {
	local name=$1 pre=$2 dest=$T_DIR/$1 sbin bin root man page want
	shift 2

	step "$name: make install DESTDIR=$dest $*"
	mkdir "$dest"
	(cd "$dest" && eval "$pre")
	listing "$dest" >"$T_DIR/$name.before"
	sbin=$(makevar sbindir "$@")
	bin=$(makevar bindir "$@")
	root=$(makevar rootsbindir "$@")
	man=$(makevar mandir "$@")
	run_make "$name.install" install DESTDIR="$dest" "$@"

	for prog in diofs mkfs.diofs fsck.diofs; do
		expect_prog "$dest$sbin/$prog"
	done
	expect_prog "$dest$bin/diofs-stat"
	for helper in $mount_helpers; do
		expect_link "$dest$sbin/$helper" diofs
	done
	"$dest$sbin/mount.diofs" -V | grep -q '^diofs ' ||
		fail "$sbin/mount.diofs -V does not run diofs"
	{
		cat "$T_DIR/$name.before"
		for prog in diofs mkfs.diofs fsck.diofs $mount_helpers; do
			echo "$dest$sbin/$prog"
		done
		echo "$dest$bin/diofs-stat"
		for page in $man_pages; do
			echo "$dest$man/man${page##*.}/${page##*/}"
		done
		if [ -n "$root" ] && ! [ "$dest$root" -ef "$dest$sbin" ]; then
			for helper in $mount_helpers; do
				echo "$dest$root/$helper"
				expect_link "$dest$root/$helper" "$sbin/diofs"
			done
			echo "$dest$root/fsck.diofs"
			expect_link "$dest$root/fsck.diofs" "$sbin/fsck.diofs"
			[ "$dest$(readlink "$dest$root/fsck.diofs")" -ef \
			  "$dest$sbin/fsck.diofs" ] ||
				fail "$root/fsck.diofs does not lead to $sbin/fsck.diofs"
		fi
	} | sort >"$T_DIR/$name.want"
	listing "$dest" >"$T_DIR/$name.got"
	diff -u "$T_DIR/$name.want" "$T_DIR/$name.got" ||
		fail "$name: make install did not install exactly the expected files"

	step "$name: a second make install changes nothing"
	run_make "$name.install2" install DESTDIR="$dest" "$@"
	listing "$dest" | diff -u "$T_DIR/$name.want" - ||
		fail "$name: a second make install changed what is installed"
	expect_prog "$dest$sbin/fsck.diofs"

	step "$name: make uninstall DESTDIR=$dest $*"
	run_make "$name.uninstall" uninstall DESTDIR="$dest" "$@"
	listing "$dest" | diff -u "$T_DIR/$name.before" - ||
		fail "$name: make uninstall left files behind"
}

mount_helpers="mount.diofs mount.fuse.diofs mount.fuseblk.diofs"
sbin=$(makevar sbindir)
root=$(makevar rootsbindir)
step "configured: sbindir $sbin, rootsbindir ${root:-(none)}"
check_layout configured ''

# The layout of ./configure without options, whatever this tree's.
default=(sbindir=/usr/local/sbin mandir=/usr/local/share/man rootsbindir=/sbin)
check_layout default '' "${default[@]}"
check_layout merged-usr 'mkdir -p usr/sbin && ln -s usr/sbin sbin' \
	sbindir=/usr/sbin mandir=/usr/share/man rootsbindir=/sbin
check_layout no-rootsbindir '' "${default[@]}" rootsbindir=

step "uninstall keeps an fsck.diofs in rootsbindir that it did not install"
dest=$T_DIR/foreign
mkdir "$dest"
run_make foreign.install install DESTDIR="$dest" "${default[@]}"
rm "$dest/sbin/fsck.diofs"
echo "another fsck.diofs" >"$dest/sbin/fsck.diofs"
ln -sf /elsewhere/diofs "$dest/sbin/mount.diofs"
run_make foreign.uninstall uninstall DESTDIR="$dest" "${default[@]}"
[ "$(listing "$dest" | tr '\n' ' ')" = "$dest/sbin/fsck.diofs $dest/sbin/mount.diofs " ] ||
	fail "make uninstall removed or left the wrong files: $(listing "$dest")"
[ "$(cat "$dest/sbin/fsck.diofs")" = "another fsck.diofs" ] ||
	fail "make uninstall changed a file it did not install"

step "all checks passed"
