/*
 * rawioctl.c — issue one ioctl, built from its parts, on a path, and print
 * what came back: "ok", or the errno's name (EINVAL, ENOTTY, EPERM...). The
 * control-interface test uses it to send what slatectl never sends: our
 * commands with a wrong size or direction, unknown numbers, other magics.
 *
 * usage: rawioctl PATH cmd NAME [DELTA]
 *          one of our commands (GET_STATS, COMPACT, COMPACT_STATUS,
 *          COMPACT_PAUSE, COMPACT_RESUME, COMPACT_CANCEL, DEFRAG, SYNC) as
 *          slatefs_ioctl.h defines it, its size changed by DELTA bytes
 *        rawioctl PATH raw DIR TYPE NR SIZE
 *          DIR none | r | w | rw; TYPE the magic; NR the number; SIZE bytes
 * A zeroed buffer of the size is passed. Exit 0 whenever the ioctl was
 * issued (the answer is on stdout), 2 on bad usage or when PATH cannot be
 * opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "slatefs_ioctl.h"

static const struct {
	const char *name;
	unsigned long cmd;
} cmds[] = {
	{"GET_STATS", SLATEFS_IOC_GET_STATS},
	{"COMPACT", SLATEFS_IOC_COMPACT},
	{"COMPACT_STATUS", SLATEFS_IOC_COMPACT_STATUS},
	{"COMPACT_PAUSE", SLATEFS_IOC_COMPACT_PAUSE},
	{"COMPACT_RESUME", SLATEFS_IOC_COMPACT_RESUME},
	{"COMPACT_CANCEL", SLATEFS_IOC_COMPACT_CANCEL},
	{"DEFRAG", SLATEFS_IOC_DEFRAG},
	{"SYNC", SLATEFS_IOC_SYNC},
};

static int usage(void)
{
	fprintf(stderr, "usage: rawioctl PATH cmd NAME [DELTA]\n"
			"       rawioctl PATH raw none|r|w|rw TYPE NR SIZE\n");
	return 2;
}

static int num(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long cmd = 0, size;
	long type, nr, sz, delta = 0;
	if (argc >= 4 && strcmp(argv[2], "cmd") == 0 && argc <= 5) {
		size_t i;
		for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (strcmp(argv[3], cmds[i].name) == 0)
				break;
		if (i == sizeof(cmds) / sizeof(cmds[0]))
			return usage();
		if (argc == 5 && num(argv[4], -4096, 4096, &delta) < 0)
			return usage();
		long s = (long)_IOC_SIZE(cmds[i].cmd) + delta;
		if (s < 0 || s >= (1l << 14))
			return usage();
		cmd = _IOC(_IOC_DIR(cmds[i].cmd), _IOC_TYPE(cmds[i].cmd), _IOC_NR(cmds[i].cmd),
			   (unsigned long)s);
	} else if (argc == 7 && strcmp(argv[2], "raw") == 0) {
		unsigned long dir;
		if (num(argv[4], 0, 0xff, &type) < 0 || num(argv[5], 0, 0xff, &nr) < 0 ||
		    num(argv[6], 0, (1l << 14) - 1, &sz) < 0)
			return usage();
		if (strcmp(argv[3], "none") == 0)
			dir = _IOC_NONE;
		else if (strcmp(argv[3], "r") == 0)
			dir = _IOC_READ;
		else if (strcmp(argv[3], "w") == 0)
			dir = _IOC_WRITE;
		else if (strcmp(argv[3], "rw") == 0)
			dir = _IOC_READ | _IOC_WRITE;
		else
			return usage();
		cmd = _IOC(dir, (unsigned long)type, (unsigned long)nr, (unsigned long)sz);
	} else {
		return usage();
	}
	size = _IOC_SIZE(cmd);
	int fd = open(argv[1], O_RDONLY | O_NONBLOCK);
	if (fd < 0) {
		fprintf(stderr, "rawioctl: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	void *buf = calloc(1, size ? size : 1);
	if (!buf)
		return 2;
	if (ioctl(fd, cmd, buf) == 0)
		printf("ok\n");
	else
		printf("%s\n", strerrorname_np(errno));
	free(buf);
	close(fd);
	return 0;
}
