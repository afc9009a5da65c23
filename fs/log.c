/*
 * log.c — the daemon's log: stderr while in the foreground (and before it
 * daemonizes), syslog (facility daemon) once in the background. The store's
 * and libfuse's messages are routed here too.
 */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "sfs.h"

static atomic_bool to_syslog;

void sfs_log_to_syslog(void)
{
	openlog("slatefs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	to_syslog = true;
}

static void vlog(int prio, const char *fmt, va_list ap)
{
	if (to_syslog) {
		vsyslog(prio, fmt, ap);
		return;
	}
	char line[1024];
	vsnprintf(line, sizeof(line), fmt, ap);
	size_t n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = 0;
	fprintf(stderr, "slatefs: %s\n", line);
}

void sfs_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(prio, fmt, ap);
	va_end(ap);
}

void sfs_log_store(void *ctx, int level, const char *msg)
{
	(void)ctx;
	sfs_log(level, "store: %s", msg);
}
