/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log: where the daemon's messages go.
 *
 * Before the daemon detaches (and always with -f) every message goes to
 * standard error as "diofs: message".  log_detach() then sends them to
 * syslog (facility daemon, ident diofs, with the PID) if a syslog daemon
 * listens on /dev/log, and otherwise to the standard error the daemon was
 * started with, as "diofs[PID]: message" (rule 4).
 *
 * Rules:
 *  1. Whether syslog listens is checked once, by connecting to /dev/log:
 *     glibc's syslog() drops messages without a word when nothing does.
 *  2. log_msg() always writes; log_event() is for what a damaged or
 *     failing filesystem may repeat (the engine's reports, failed
 *     requests) and is rate-limited: at most LOG_BURST lines in any
 *     LOG_INTERVAL seconds, after which the number left out is logged in
 *     one line, when the next line gets through or at log_flush().
 *  3. Every function may be called from any thread.
 *  4. Without syslog, a standard error that is a file or a terminal is
 *     kept; a pipe or a socket is not (the lines are lost): whoever ran
 *     the daemon, mount(8) in $(...) say, reads it to its end, which
 *     would not come while the daemon holds it.
 */
#ifndef DIOFS_FUSE_LOG_H
#define DIOFS_FUSE_LOG_H

#include <syslog.h>

#define LOG_INTERVAL	5	/* seconds, as the kernel's printk_ratelimit */
#define LOG_BURST	10

void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_event(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The engine's hook (fs_mount_opts.log): log_event(). */
void log_engine(int level, const char *line);
/* How many log_event() calls were errors (LOG_ERR or worse), whether
 * rule 2 let them through or not. */
unsigned long log_errors(void);
/* Rule 2: log how many lines were left out, if any. */
void log_flush(void);
/*
 * The daemon has detached: standard input and output go to /dev/null, and
 * so does standard error if syslog listens (rule 1), which then takes the
 * messages, or if it is not kept (rule 4).
 */
void log_detach(void);

#endif
