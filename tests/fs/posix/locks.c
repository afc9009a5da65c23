/*
 * locks.c — checks of file locks between processes: flock (exclusive and
 * shared, LOCK_NB conflicts, release on close), POSIX record locks with
 * fcntl (F_SETLK conflicts on overlapping ranges, F_GETLK reporting the
 * holder, shared read locks, release on close, F_SETLKW waking up), and
 * open file description locks (F_OFD_SETLK).
 */
#include "pc.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run fn(arg) in a child process; returns its failed-check count. */
static int in_child(void (*fn)(void *), void *arg)
{
	return pc_as(geteuid(), getegid(), fn, arg);
}

static void flock_busy(void *arg)
{
	int fd = PC_OK(open("f", O_RDWR));

	PC_ERR(flock(fd, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	if (arg == NULL)
		PC_ERR(flock(fd, LOCK_SH | LOCK_NB), EWOULDBLOCK);
	else
		PC_OK(flock(fd, LOCK_SH | LOCK_NB));
	close(fd);
}

static void flock_free(void *arg)
{
	int fd = PC_OK(open("f", O_RDWR));

	(void)arg;
	PC_OK(flock(fd, LOCK_EX | LOCK_NB));
	close(fd);
}

static void t_flock(void)
{
	PC_OK(pc_make_file("f", 100, 1));
	int fd = PC_OK(open("f", O_RDWR));
	PC_OK(flock(fd, LOCK_EX));
	in_child(flock_busy, NULL);
	PC_OK(flock(fd, LOCK_UN));
	in_child(flock_free, NULL);
	PC_OK(flock(fd, LOCK_SH));
	in_child(flock_busy, (void *)1);
	close(fd); /* closing releases */
	in_child(flock_free, NULL);
	/* Two fds in one process are two lock owners for flock. */
	int a = PC_OK(open("f", O_RDWR)), b = PC_OK(open("f", O_RDWR));
	PC_OK(flock(a, LOCK_EX));
	PC_ERR(flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	close(a);
	PC_OK(flock(b, LOCK_EX | LOCK_NB));
	close(b);
}

static int setlk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};

	return fcntl(fd, cmd, &fl);
}

struct holder {
	pid_t pid;
};

static void posix_conflicts(void *arg)
{
	struct holder *h = arg;
	int fd = PC_OK(open("f", O_RDWR));
	struct flock fl;

	/* The parent holds a write lock on [0, 100) and a read lock on [200, 300). */
	PC_ERR2(setlk(fd, F_SETLK, F_WRLCK, 50, 10), EAGAIN, EACCES);
	PC_ERR2(setlk(fd, F_SETLK, F_RDLCK, 99, 1), EAGAIN, EACCES);
	PC_OK(setlk(fd, F_SETLK, F_WRLCK, 100, 100));
	PC_OK(setlk(fd, F_SETLK, F_RDLCK, 250, 10));
	PC_ERR2(setlk(fd, F_SETLK, F_WRLCK, 250, 100), EAGAIN, EACCES);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 10;
	fl.l_len = 5;
	PC_OK(fcntl(fd, F_GETLK, &fl));
	PC_EQ(fl.l_type, F_WRLCK);
	PC_EQ(fl.l_pid, h->pid);
	PC_EQ(fl.l_start, 0);
	PC_EQ(fl.l_len, 100);
	fl.l_type = F_WRLCK;
	fl.l_start = 1000;
	fl.l_len = 10;
	PC_OK(fcntl(fd, F_GETLK, &fl));
	PC_EQ(fl.l_type, F_UNLCK);
	close(fd);
}

static void posix_free(void *arg)
{
	int fd = PC_OK(open("f", O_RDWR));

	(void)arg;
	PC_OK(setlk(fd, F_SETLK, F_WRLCK, 0, 0));
	close(fd);
}

static void t_posix_locks(void)
{
	struct holder h = {getpid()};

	PC_OK(pc_make_file("f", 1000, 1));
	int fd = PC_OK(open("f", O_RDWR));
	PC_OK(setlk(fd, F_SETLK, F_WRLCK, 0, 100));
	PC_OK(setlk(fd, F_SETLK, F_RDLCK, 200, 100));
	in_child(posix_conflicts, &h);
	/* Closing any fd of the file drops the process's POSIX locks. */
	int other = PC_OK(open("f", O_RDONLY));
	close(other);
	in_child(posix_free, NULL);
	/* Unlock explicitly. */
	PC_OK(setlk(fd, F_SETLK, F_WRLCK, 0, 0));
	PC_OK(setlk(fd, F_SETLK, F_UNLCK, 0, 0));
	in_child(posix_free, NULL);
	close(fd);
}

/* F_SETLKW blocks until the holder lets go. */
static void t_posix_wait(void)
{
	int pipefd[2];
	char c;

	PC_OK(pc_make_file("f", 10, 1));
	PC_OK(pipe(pipefd));
	int fd = PC_OK(open("f", O_RDWR));
	PC_OK(setlk(fd, F_SETLK, F_WRLCK, 0, 0));
	pid_t pid = fork();
	if (pid == 0) {
		int cfd = open("f", O_RDWR);
		if (cfd < 0 || setlk(cfd, F_SETLKW, F_WRLCK, 0, 0) < 0)
			_exit(1);
		if (write(pipefd[1], "L", 1) != 1)
			_exit(1);
		_exit(0);
	}
	PC_CHECK(pid > 0);
	usleep(200000);
	/* The child must still be waiting. */
	PC_OK(fcntl(pipefd[0], F_SETFL, O_NONBLOCK));
	PC_ERR(read(pipefd[0], &c, 1), EAGAIN);
	PC_OK(setlk(fd, F_SETLK, F_UNLCK, 0, 0));
	PC_OK(fcntl(pipefd[0], F_SETFL, 0));
	alarm(20);
	PC_EQ(read(pipefd[0], &c, 1), 1);
	int status = 0;
	waitpid(pid, &status, 0);
	PC_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
}

static void t_ofd_locks(void)
{
	PC_OK(pc_make_file("f", 10, 1));
	int a = PC_OK(open("f", O_RDWR)), b = PC_OK(open("f", O_RDWR));
	/* Two open file descriptions in one process conflict. */
	PC_OK(setlk(a, F_OFD_SETLK, F_WRLCK, 0, 5));
	PC_ERR2(setlk(b, F_OFD_SETLK, F_WRLCK, 2, 1), EAGAIN, EACCES);
	PC_OK(setlk(b, F_OFD_SETLK, F_WRLCK, 5, 5));
	close(a);
	PC_OK(setlk(b, F_OFD_SETLK, F_WRLCK, 0, 5));
	close(b);
}

const struct pc_test pc_locks_tests[] = {
	{"locks/flock", t_flock, 0},
	{"locks/posix", t_posix_locks, 0},
	{"locks/posix_wait", t_posix_wait, 0},
	{"locks/ofd", t_ofd_locks, 0},
	{NULL, NULL, 0},
};
