/*
 * passkill.c — kill -9 a slatefs daemon at a chosen moment of a compaction
 * pass: wait (polling COMPACT_STATUS through the mount, with no delay
 * between polls) until the pass reaches a phase, wait some more
 * milliseconds, then SIGKILL the daemon. Polling in C keeps the kill within
 * a fraction of a millisecond of the moment the phase is seen, which a
 * shell loop around slatectl cannot do.
 *
 * usage: passkill MOUNTPOINT PID PHASE DELAY_MS TIMEOUT_MS
 *   PHASE  any | punch | move | shrink   (any: do not wait for a phase;
 *          otherwise the first poll that sees that phase or a later one)
 * Prints one line: the state and phase last seen before the kill, the bytes
 * moved so far, and whether the phase was reached ("reached" or "timeout":
 * after TIMEOUT_MS, or once a pass it saw running ended, it kills anyway;
 * start the pass before passkill). Exit 0 once
 * the daemon was killed, 1 if it could not be (or the mount answered no
 * status), 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "slatefs_ioctl.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *phase_name(uint32_t ph)
{
	static const char *const names[] = {"none", "punch", "move", "shrink"};
	return ph < 4 ? names[ph] : "?";
}

static const char *state_name(uint32_t st)
{
	static const char *const names[] = {"idle", "running", "paused", "cancelling"};
	return st < 4 ? names[st] : "?";
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: passkill MOUNTPOINT PID any|punch|move|shrink DELAY_MS "
				"TIMEOUT_MS\n");
		return 2;
	}
	pid_t pid = (pid_t)atoi(argv[2]);
	int want = -1;
	for (uint32_t p = 1; p < 4; p++)
		if (strcmp(argv[3], phase_name(p)) == 0)
			want = (int)p;
	if (pid <= 0 || (want < 0 && strcmp(argv[3], "any") != 0)) {
		fprintf(stderr, "passkill: bad pid or phase\n");
		return 2;
	}
	double delay = atof(argv[4]), timeout = atof(argv[5]);
	int fd = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		fprintf(stderr, "passkill: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct slatefs_compact_status s;
	double t0 = now_ms();
	bool reached = want < 0, seen_running = false;
	while (!reached) {
		memset(&s, 0, sizeof(s));
		if (ioctl(fd, SLATEFS_IOC_COMPACT_STATUS, &s) < 0) {
			fprintf(stderr, "passkill: COMPACT_STATUS: %s\n", strerror(errno));
			return 1;
		}
		if ((int)s.phase >= want)
			reached = true; /* that phase, or a later one if it was missed */
		else if (now_ms() - t0 > timeout || (s.state == SLATEFS_COMPACT_IDLE && seen_running))
			break;
		seen_running |= s.state != SLATEFS_COMPACT_IDLE;
	}
	if (delay > 0) {
		struct timespec ts = {(time_t)(delay / 1e3),
				      (long)((delay - (double)(long)(delay / 1e3) * 1e3) * 1e6)};
		nanosleep(&ts, NULL);
	}
	memset(&s, 0, sizeof(s));
	int sr = ioctl(fd, SLATEFS_IOC_COMPACT_STATUS, &s);
	if (kill(pid, SIGKILL) < 0) {
		fprintf(stderr, "passkill: kill %d: %s\n", (int)pid, strerror(errno));
		return 1;
	}
	close(fd);
	if (sr < 0)
		printf("killed: status unknown (%s)\n", strerror(errno));
	else
		printf("killed: %s %s, %" PRIu64 " bytes moved, %s after %.0f ms\n",
		       state_name(s.state), phase_name(s.phase), s.bytes_moved,
		       reached ? "reached" : "timeout", now_ms() - t0);
	return 0;
}
