#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# manpages.sh: the manual pages against the programs.
#
#  - Every option that diofs -h, mkfs.diofs -h, fsck.diofs -h and
#    diofs-stat -h list (each -x, each --long, each -o name of the daemon)
#    appears in the program's page, as a word of the rendered text.
#  - Every page in man/ renders without a warning from man --warnings
#    (groff -ww), at 80 columns, in the C and the C.UTF-8 locale.
#
# Without man(1) (man-db) the test is skipped outside CI and fails with
# CI=true.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

man_dir=$(cd "$(dirname "$0")/../../man" && pwd)
command -v man >/dev/null ||
	skip_or_fail "man is not installed (Debian package man-db)"
STAT_BIN=$abs_top_builddir/src/stat/diofs-stat
for tool in "$DIOFS_BIN" "$MKFS_BIN" "$FSCK_BIN" "$STAT_BIN"; do
	[ -x "$tool" ] || fail "$tool is not built (run make first)"
done

T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/diofs-$TEST_NAME.XXXXXX")
trap 'rm -rf "$T_DIR"' EXIT

# The options a help text lists, one a line: -x, --long, and "-o name" or
# "-o name=" (the daemon's -o options, from the lines that list options,
# so that "-o option[,option...]" of the usage line is not one).
help_options() {
	grep -oE '(^|[][ (,|])--?[A-Za-z0-9][-A-Za-z0-9]*' "$1" |
		sed -E 's/^[][ (,|]//'
	{ grep -E '^ +-' "$1" || true; } |
		{ grep -oE '(^|[ ,])-o [a-z_]+=?' || true; } | sed -E 's/^[ ,]//'
}

# rendered PAGE: the page as text on one line, without hyphenation, so that
# every word is whole.
rendered() {
	MANWIDTH=200 MANROFFOPT=-rHY=0 man -l "$1" 2>/dev/null | tr -s ' \n' '  '
}

# has_word TEXT WORD: WORD occurs in TEXT, not as part of a longer word
# (a WORD that ends in = may be followed by anything: max_threads=N).
has_word() {
	local b='][ (,|"' re after
	re=$(sed -E 's/[.[\*^$]/\\&/g' <<<"$2")
	after="(\$|[$b).;:=])"
	[[ $2 == *= ]] && after=
	grep -qE -- "(^|[$b])$re$after" <<<"$1"
}

check_page() {
	local prog=$1 page=$2 text opt word missing=()

	step "every option of $(basename "$prog") -h is in $(basename "$page")"
	"$prog" -h >"$T_DIR/help" 2>&1 || fail "$prog -h failed"
	[ -s "$T_DIR/help" ] || fail "$prog -h printed nothing"
	text=$(rendered "$page")
	[ -n "$text" ] || fail "man -l $page printed nothing"
	while read -r opt; do
		case $opt in
		"-o "*=) word=${opt#-o } ;;	# max_threads= as in max_threads=N
		"-o "*) word=${opt#-o } ;;
		*) word=$opt ;;
		esac
		has_word "$text" "$word" || missing+=("$opt")
	done < <(help_options "$T_DIR/help" | sort -u)
	[ ${#missing[@]} -eq 0 ] ||
		fail "$(basename "$page") does not mention: ${missing[*]}"
}

check_page "$DIOFS_BIN" "$man_dir/diofs.8"
check_page "$MKFS_BIN" "$man_dir/mkfs.diofs.8"
check_page "$FSCK_BIN" "$man_dir/fsck.diofs.8"
check_page "$STAT_BIN" "$man_dir/diofs-stat.8"

step "the options found in the help texts"
"$DIOFS_BIN" -h >"$T_DIR/help"
opts=$(help_options "$T_DIR/help" | sort -u | tr '\n' ' ')
for opt in -f -d --help -V "-o ro" "-o debug" "-o max_idle_threads=" \
	"-o allow_root"; do
	[[ " $opts" == *" $opt "* ]] || fail "diofs -h: $opt not found in: $opts"
done
[[ " $opts" != *" -o option"* ]] || fail "diofs -h: a placeholder taken for an option: $opts"
"$FSCK_BIN" -h >"$T_DIR/help"
opts=$(help_options "$T_DIR/help" | sort -u | tr '\n' ' ')
[ "$opts" = "-C -V -a -f -h -n -p -y " ] || fail "fsck.diofs -h yields: $opts"
"$STAT_BIN" -h >"$T_DIR/help"
opts=$(help_options "$T_DIR/help" | sort -u | tr '\n' ' ')
[ "$opts" = "--help --histograms --json --version -H -V -h -j " ] ||
	fail "diofs-stat -h yields: $opts"

pages=("$man_dir"/*.[1-9])
[ ${#pages[@]} -ge 5 ] || fail "only ${#pages[@]} pages in $man_dir"
for page in "${pages[@]}"; do
	for locale in C C.UTF-8; do
		step "man --warnings -l $(basename "$page") ($locale)"
		out=$(LC_ALL=$locale MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) ||
			fail "man -l $page failed: $out"
		[ -z "$out" ] || fail "$(basename "$page") renders with warnings: $out"
	done
done

step "all checks passed"
