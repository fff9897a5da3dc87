#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# programs-writeback.sh: programs.sh (cp, tar, rsync, git, sqlite3, ...)
# on mounts with -o writeback_cache, where the kernel gathers writes in
# its page cache and hands them to the daemon later.
DIOFS_MOUNT_OPTS=writeback_cache exec bash "$(dirname "$0")/programs.sh"
