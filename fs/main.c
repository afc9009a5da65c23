/*
 * main.c — the slatefs daemon: `slatefs IMAGE MOUNTPOINT [-o OPTIONS] [-f]
 * [-d] [-s]`. Parses the options, goes to the background unless -f (the
 * parent exits only once the mount is up, with status 0, or with 1 and the
 * reason on stderr), opens the image and mounts, runs the multi-threaded
 * session loop, and unmounts cleanly on SIGTERM/SIGINT/SIGHUP or when the
 * filesystem is unmounted. Logs go to stderr with -f and to syslog in the
 * background. mount.fuse3 runs it the same way from /etc/fstab
 * (`IMAGE MOUNTPOINT fuse.slatefs defaults 0 0`).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "sfs.h"

/* Fork; the parent waits for the child to report the mount and exits. */
static int daemon_start(int *wfd)
{
	int p[2];
	pid_t pid;

	if (pipe(p) < 0) {
		perror("slatefs: pipe");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		perror("slatefs: fork");
		return -1;
	}
	if (pid > 0) {
		char c = 1;
		int st;
		close(p[1]);
		if (read(p[0], &c, 1) == 1 && c == 0)
			_exit(0);
		waitpid(pid, &st, 0);
		_exit(1);
	}
	close(p[0]);
	setsid();
	*wfd = p[1];
	return 0;
}

/* The mount is up: detach from the terminal and release the parent. */
static void daemon_ready(int wfd)
{
	char c = 0;
	int nul = open("/dev/null", O_RDWR);

	if (chdir("/") < 0)
		sfs_log(LOG_WARNING, "chdir /: %s", strerror(errno));
	sfs_log_to_syslog();
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		if (nul > 2)
			close(nul);
	}
	if (write(wfd, &c, 1) != 1)
		sfs_log(LOG_WARNING, "could not notify the parent process");
	close(wfd);
}

/* fsync waits for the disk in its worker: leave room for the requests that
   arrive meanwhile (libfuse's default is 10) */
static unsigned loop_threads(const struct sfs *sfs)
{
	unsigned mt = sfs->opt.max_threads;
	return mt && mt <= 100000 ? mt : 32;
}

int main(int argc, char **argv)
{
	struct sfs *sfs = calloc(1, sizeof(*sfs));
	struct fuse_args args;
	struct fuse_session *se = NULL;
	int wfd = -1, r, rc = 1;

	if (!sfs)
		return 1;
	r = sfs_options_parse(argc, argv, &sfs->opt, &args);
	if (r != 0) {
		rc = r > 0 ? 0 : 1;
		goto out;
	}
	/* libfuse judges the standard options before anything else happens */
	se = fuse_session_new(&args, &sfs_ops, sizeof(sfs_ops), sfs);
	if (!se) {
		fprintf(stderr, "slatefs: cannot mount %s: bad FUSE options (see above)\n",
			sfs->opt.image);
		goto out;
	}
	if (!sfs->opt.foreground && daemon_start(&wfd) < 0)
		goto out;
	if (sfs_mount_open(sfs) < 0)
		goto out;
	sfs->se = se;
	if (fuse_set_signal_handlers(se) != 0) {
		sfs_log(LOG_ERR, "cannot set signal handlers");
		sfs_unmount(sfs);
		goto out;
	}
	if (fuse_session_mount(se, sfs->opt.mountpoint) != 0) {
		sfs_log(LOG_ERR, "cannot mount %s on %s (see above)", sfs->opt.image,
			sfs->opt.mountpoint);
		fuse_remove_signal_handlers(se);
		sfs_unmount(sfs);
		goto out;
	}
	if (wfd >= 0) {
		daemon_ready(wfd);
		wfd = -1;
	}
	sfs_log(LOG_INFO, "mounted %s on %s%s", sfs->opt.image, sfs->opt.mountpoint,
		sfs->opt.ro ? " (read-only)" : "");

	if (sfs->opt.singlethread) {
		r = fuse_session_loop(se);
	} else if (sfs->opt.clone_fd) {
		/* one /dev/fuse descriptor per thread: libfuse's own loop */
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();
		if (!cfg) {
			r = -ENOMEM;
		} else {
			fuse_loop_cfg_set_clone_fd(cfg, 1);
			if (sfs->opt.max_idle_threads && sfs->opt.max_idle_threads <= 100000)
				fuse_loop_cfg_set_idle_threads(cfg, sfs->opt.max_idle_threads);
			fuse_loop_cfg_set_max_threads(cfg, loop_threads(sfs));
			r = fuse_session_loop_mt(se, cfg);
			fuse_loop_cfg_destroy(cfg);
		}
	} else {
		r = sfs_loop_run(se, loop_threads(sfs)); /* fs/loop.c */
	}
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se); /* calls destroy: flush, reclaim, durable commit */
	se = NULL;
	if (sfs->mounted) /* no INIT ever came: destroy was not called */
		sfs->unmount_err = sfs_unmount(sfs);
	if (r < 0)
		sfs_log(LOG_ERR, "session ended with an error: %s", strerror(-r));
	rc = (r < 0 || sfs->unmount_err < 0) ? 1 : 0;
	if (rc == 0)
		sfs_log(LOG_INFO, "unmounted %s", sfs->opt.image);
out:
	if (se)
		fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	sfs_options_free(&sfs->opt);
	free(sfs);
	return rc;
}
