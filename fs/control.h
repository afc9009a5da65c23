/*
 * control.h — the daemon's control interface: the compactor's life with the
 * mount (compaction_host.c) and the ioctl commands of slatefs_ioctl.h
 * (ioctl.c).
 */
#ifndef SLATEFS_CONTROL_H
#define SLATEFS_CONTROL_H

struct sfs;
struct compact;

/* Start the compactor (read-write mounts), after the commit thread. */
int sfs_compaction_start(struct sfs *sfs);
/* Stop it, before the commit thread stops. */
void sfs_compaction_stop(struct sfs *sfs);
/* The running compactor, or NULL (read-only mount). */
struct compact *sfs_compactor(struct sfs *sfs);

struct slatefs_backup_args;
struct slatefs_backup_status;

/* Start an online backup in the background (-EBUSY: one is running). */
int sfs_backup_start(struct sfs *sfs, const struct slatefs_backup_args *a);
void sfs_backup_status(struct slatefs_backup_status *st);
/* Stop a running backup (its copy is removed) and wait for it: unmount. */
void sfs_backup_stop(void);

#endif /* SLATEFS_CONTROL_H */
