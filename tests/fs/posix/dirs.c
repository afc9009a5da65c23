/*
 * dirs.c — POSIX checks of directories: mkdir/rmdir and their errors
 * (EEXIST, ENOTDIR, ENOTEMPTY, EINVAL), directory link counts, readdir
 * contents and d_type, and readdir offsets (telldir/seekdir) that stay
 * valid while entries are added and removed.
 */
#include "pc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A directory's link count is 1 (not counted) or 2 + its subdirectories. */
static void check_dir_nlink(const char *path, int subdirs, int line)
{
	nlink_t n = pc_lstat(path).st_nlink;

	if (n != 1 && n != (nlink_t)(2 + subdirs))
		pc_fail(__FILE__, line, "%s: nlink %lu, expected 1 or %d", path, (unsigned long)n,
			2 + subdirs);
}
#define DIR_NLINK(p, n) check_dir_nlink((p), (n), __LINE__)

static void t_mkdir_rmdir(void)
{
	struct stat st;

	PC_OK(mkdir("d", 0750));
	st = pc_lstat("d");
	PC_CHECK(S_ISDIR(st.st_mode));
	PC_EQ(st.st_mode & 07777, 0750);
	PC_EQ(st.st_uid, geteuid());
	PC_EQ(st.st_size >= 0, 1);
	DIR_NLINK("d", 0);
	PC_ERR(mkdir("d", 0755), EEXIST);
	PC_OK(pc_make_file("f", 1, 1));
	PC_ERR(mkdir("f", 0755), EEXIST);
	PC_ERR(mkdir("f/x", 0755), ENOTDIR);
	PC_ERR(mkdir("missing/x", 0755), ENOENT);
	PC_OK(mkdir("d/a", 0755));
	PC_OK(mkdir("d/b", 0755));
	DIR_NLINK("d", 2);
	PC_OK(pc_make_file("d/file", 1, 1));
	DIR_NLINK("d", 2);
	PC_ERR(rmdir("d"), ENOTEMPTY);
	PC_OK(rmdir("d/a"));
	DIR_NLINK("d", 1);
	PC_ERR(rmdir("d/a"), ENOENT);
	PC_ERR(rmdir("d/file"), ENOTDIR);
	PC_ERR(unlink("d/b"), EISDIR);
	PC_ERR(rmdir("d/b/."), EINVAL);
	PC_ERR2(rmdir("d/b/.."), ENOTEMPTY, EEXIST);
	PC_OK(rmdir("d/b"));
	PC_OK(unlink("d/file"));
	PC_OK(rmdir("d"));
	PC_CHECK(pc_absent("d"));
	/* The parent's link count follows its subdirectories. */
	PC_OK(mkdir("p", 0755));
	for (int i = 0; i < 5; i++) {
		char name[32];
		snprintf(name, sizeof(name), "p/s%d", i);
		PC_OK(mkdir(name, 0755));
	}
	DIR_NLINK("p", 5);
	/* A removed directory that is still open reads as empty. */
	int fd = PC_OK(open("p/s0", O_RDONLY | O_DIRECTORY));
	PC_OK(rmdir("p/s0"));
	DIR *dp = fdopendir(fd);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(dp)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	PC_EQ(n, 0);
	PC_ERR(openat(fd, "new", O_CREAT | O_WRONLY, 0644), ENOENT);
	closedir(dp);
	/* Deep paths. */
	char path[4096] = "deep";
	PC_OK(mkdir(path, 0755));
	for (int i = 0; i < 40; i++) {
		strcat(path, "/sub");
		PC_OK(mkdir(path, 0755));
	}
	PC_OK(pc_make_file("deep/sub/sub/sub/f", 3, 1));
	PC_FILE_IS("deep/sub/sub/sub/f", 3, 1);
}

struct ent {
	char name[32];
	unsigned char type;
};

static void t_readdir_types(void)
{
	static const char *const expect[] = {"file", "dir", "link", "fifo", "sock"};
	static const unsigned char types[] = {DT_REG, DT_DIR, DT_LNK, DT_FIFO, DT_SOCK};
	int seen[5] = {0}, dots = 0, other = 0;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	DIR *d;
	struct dirent *de;

	PC_OK(pc_make_file("file", 1, 1));
	PC_OK(mkdir("dir", 0755));
	PC_OK(symlink("file", "link"));
	PC_OK(mkfifo("fifo", 0644));
	int s = PC_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	strcpy(sa.sun_path, "sock");
	PC_OK(bind(s, (struct sockaddr *)&sa, sizeof(sa)));
	close(s);
	d = opendir(".");
	PC_CHECK(d != NULL);
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
			dots++;
			PC_EQ(de->d_type, DT_DIR);
			continue;
		}
		int k = -1;
		for (int i = 0; i < 5; i++)
			if (!strcmp(de->d_name, expect[i]))
				k = i;
		if (k < 0) {
			other++;
			continue;
		}
		seen[k]++;
		PC_CHECKF(de->d_type == types[k], "%s: d_type %d, expected %d", de->d_name,
			  de->d_type, types[k]);
		PC_OK(lstat(de->d_name, &st));
		PC_CHECKF(st.st_ino == de->d_ino, "%s: d_ino %lu, st_ino %lu", de->d_name,
			  (unsigned long)de->d_ino, (unsigned long)st.st_ino);
	}
	closedir(d);
	PC_EQ(dots, 2);
	PC_EQ(other, 0);
	for (int i = 0; i < 5; i++)
		PC_CHECKF(seen[i] == 1, "%s seen %d times", expect[i], seen[i]);
	/* An empty directory lists . and .. only; readdir on a file fails. */
	PC_OK(mkdir("empty", 0755));
	d = opendir("empty");
	int n = 0;
	while (d && (de = readdir(d)))
		n++;
	if (d)
		closedir(d);
	PC_EQ(n, 2);
	PC_CHECK(opendir("file") == NULL && errno == ENOTDIR);
	PC_CHECK(opendir("missing") == NULL && errno == ENOENT);
}

enum { NINIT = 300, NADD = 150 };

/*
 * telldir/seekdir while the directory changes: entries present all along
 * are seen exactly once; nothing is seen twice; a saved position, sought
 * back to, continues with the entries that followed it.
 */
static void t_readdir_stable(void)
{
	char name[64];
	int seen[NINIT + NADD] = {0};
	bool removed[NINIT] = {false};
	long pos = -1;
	char after_pos[256] = "";
	struct dirent *de;
	int nread = 0;

	for (int i = 0; i < NINIT; i++) {
		snprintf(name, sizeof(name), "e%04d", i);
		PC_OK(mknod(name, S_IFREG | 0644, 0));
	}
	DIR *d = opendir(".");
	PC_CHECK(d != NULL);
	if (!d)
		return;
	while ((de = readdir(d))) {
		int k;
		if (de->d_name[0] == '.')
			continue;
		if (sscanf(de->d_name, "e%d", &k) == 1 && k >= 0 && k < NINIT + NADD) {
			seen[k]++;
		} else {
			PC_CHECKF(0, "unexpected entry %s", de->d_name);
			continue;
		}
		nread++;
		if (nread == 100) {
			pos = telldir(d);
			/* Change the directory under the open stream. */
			for (int i = 0; i < NINIT; i += 3) {
				snprintf(name, sizeof(name), "e%04d", i);
				if (unlink(name) == 0)
					removed[i] = true;
				else
					PC_CHECKF(0, "unlink %s: %s", name, strerror(errno));
			}
			for (int i = NINIT; i < NINIT + NADD; i++) {
				snprintf(name, sizeof(name), "e%04d", i);
				PC_OK(mknod(name, S_IFREG | 0644, 0));
			}
		} else if (nread == 101) {
			snprintf(after_pos, sizeof(after_pos), "%s", de->d_name);
		}
	}
	for (int i = 0; i < NINIT; i++) {
		if (!removed[i])
			PC_CHECKF(seen[i] == 1, "e%04d (never removed) seen %d times", i, seen[i]);
		else
			PC_CHECKF(seen[i] <= 1, "e%04d (removed) seen %d times", i, seen[i]);
	}
	for (int i = NINIT; i < NINIT + NADD; i++)
		PC_CHECKF(seen[i] <= 1, "e%04d (added) seen %d times", i, seen[i]);
	/* Back to the saved position: the entry that followed it comes next
	 * (unless it was removed since, in which case it must not appear). */
	if (pos >= 0 && after_pos[0]) {
		int k = atoi(after_pos + 1);
		seekdir(d, pos);
		de = readdir(d);
		if (k < NINIT && removed[k]) {
			PC_CHECKF(!de || strcmp(de->d_name, after_pos) != 0,
				  "removed entry %s returned after seekdir", after_pos);
		} else {
			PC_CHECKF(de && strcmp(de->d_name, after_pos) == 0,
				  "after seekdir: %s, expected %s", de ? de->d_name : "(end)",
				  after_pos);
		}
	}
	/* rewinddir sees the current contents exactly. */
	rewinddir(d);
	memset(seen, 0, sizeof(seen));
	while ((de = readdir(d))) {
		int k;
		if (de->d_name[0] != '.' && sscanf(de->d_name, "e%d", &k) == 1 && k >= 0 &&
		    k < NINIT + NADD)
			seen[k]++;
	}
	for (int i = 0; i < NINIT + NADD; i++) {
		int want = i < NINIT && removed[i] ? 0 : 1;
		PC_CHECKF(seen[i] == want, "after rewind e%04d seen %d times, expected %d", i,
			  seen[i], want);
	}
	closedir(d);
}

/* Offsets handed out by readdir are usable from a new open of the dir. */
static void t_readdir_offsets(void)
{
	char name[64];
	long offs[64];
	char names[64][256];
	int n = 0;
	struct dirent *de;

	for (int i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "n%02d", i);
		PC_OK(mknod(name, S_IFREG | 0644, 0));
	}
	DIR *d = opendir(".");
	if (!d) {
		PC_CHECK(d != NULL);
		return;
	}
	while ((de = readdir(d)) && n < 64) {
		offs[n] = telldir(d);
		snprintf(names[n], sizeof(names[n]), "%s", de->d_name);
		n++;
	}
	closedir(d);
	PC_EQ(n, 62);
	/* Seek to each offset in a fresh stream: the next entry is the next name. */
	for (int i = 0; i + 1 < n; i += 7) {
		d = opendir(".");
		seekdir(d, offs[i]);
		de = readdir(d);
		PC_CHECKF(de && strcmp(de->d_name, names[i + 1]) == 0,
			  "seek to offset %d: got %s, expected %s", i, de ? de->d_name : "(end)",
			  names[i + 1]);
		closedir(d);
	}
}

const struct pc_test pc_dirs_tests[] = {
	{"dirs/mkdir_rmdir", t_mkdir_rmdir, 0},
	{"dirs/readdir_types", t_readdir_types, 0},
	{"dirs/readdir_stable", t_readdir_stable, 0},
	{"dirs/readdir_offsets", t_readdir_offsets, 0},
	{NULL, NULL, 0},
};
