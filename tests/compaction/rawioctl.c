/*
 * rawioctl.c — issue one raw ioctl, built from its parts, on a path, and
 * print what came back: "ok", or the errno's name (EINVAL, ENOTTY, EPERM...).
 * The control-interface test uses it to send commands slatectl never sends:
 * our magic with a wrong size or direction, unknown numbers, other magics.
 *
 * usage: rawioctl PATH DIR TYPE NR SIZE
 *   DIR   none | r | w | rw   (_IOC_NONE, _IOC_READ, _IOC_WRITE, both)
 *   TYPE  the magic number (e.g. 0xD5), NR the command number,
 *   SIZE  the argument size in bytes (a zeroed buffer of that size is passed)
 * Exit 0 whenever the ioctl was issued (the answer is on stdout), 2 on bad
 * usage or when PATH cannot be opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int num(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 0);
	if (errno || end == s || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long type, nr, size, dir;
	if (argc != 6 || num(argv[3], 0xff, &type) < 0 || num(argv[4], 0xff, &nr) < 0 ||
	    num(argv[5], (1ul << 14) - 1, &size) < 0) {
		fprintf(stderr, "usage: rawioctl PATH none|r|w|rw TYPE NR SIZE (SIZE < 16384)\n");
		return 2;
	}
	if (strcmp(argv[2], "none") == 0)
		dir = _IOC_NONE;
	else if (strcmp(argv[2], "r") == 0)
		dir = _IOC_READ;
	else if (strcmp(argv[2], "w") == 0)
		dir = _IOC_WRITE;
	else if (strcmp(argv[2], "rw") == 0)
		dir = _IOC_READ | _IOC_WRITE;
	else {
		fprintf(stderr, "rawioctl: direction %s: none, r, w or rw\n", argv[2]);
		return 2;
	}
	int fd = open(argv[1], O_RDONLY | O_NONBLOCK);
	if (fd < 0) {
		fprintf(stderr, "rawioctl: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	void *buf = calloc(1, size ? size : 1);
	if (!buf)
		return 2;
	unsigned long cmd = _IOC(dir, type, nr, size);
	if (ioctl(fd, cmd, buf) == 0)
		printf("ok\n");
	else
		printf("%s\n", strerrorname_np(errno));
	free(buf);
	close(fd);
	return 0;
}
