#ifndef DMS_LINUX_PROCESS_H
#define DMS_LINUX_PROCESS_H

#include <spawn.h>
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>

/// pidfd_open(2); -1 and errno on failure.
int dms_pidfd_open(pid_t pid);

/// pidfd_send_signal(2): signals exactly the process the pidfd pins; -1 and errno on failure.
int dms_pidfd_send_signal(int pidfd, int sig);

/// waitid(P_PIDFD, WEXITED | WNOHANG): 1 when the child was reaped (status/code filled), 0 when it still runs,
/// -1 and errno otherwise (ECHILD: not our child, or already reaped).
int dms_reap_pidfd(int pidfd, int *code_out, int *status_out);

/// posix_spawn in a new session (optional), stdin from /dev/null, stdout/stderr onto the given fds,
/// cwd "/", every other fd closed, default signal dispositions and an empty signal mask.
/// Returns 0 or an errno value.
int dms_spawn(const char *path, char *const argv[], char *const envp[], int stdout_fd, int stderr_fd,
              int new_session, pid_t *pid_out);

/// pipe2(O_CLOEXEC).
int dms_pipe_cloexec(int fds[2]);

// posix_spawn_file_actions_addclosefrom_np (glibc 2.34, behind _GNU_SOURCE): the child keeps only descriptors below
// `lowfd`. For spawns outside dms_spawn (the tests' own).
int dms_spawn_actions_close_from(posix_spawn_file_actions_t *actions, int lowfd);

/// mallopt(M_ARENA_MAX, n): glibc malloc.h constants are not visible to Swift.
int dms_limit_malloc_arenas(int arenas);

/// 1 when `path` is the root of a mount, 0 when it is not, -1 when statx(2) failed or the kernel does not report
/// STATX_ATTR_MOUNT_ROOT (before 5.8). AT_STATX_DONT_SYNC | AT_SYMLINK_NOFOLLOW: cached attributes only, never a
/// round trip to a FUSE server.
int dms_is_mount_root(const char *path);

/// 1 when `path` is the root of a FUSE mount (fuse, fuse.*, fuseblk), 0 when it is the root of no mount or of
/// another file system, -1 when the kernel cannot tell this way: statx's unique mount ID and statmount(2) ask about
/// that one mount (Linux 6.8+) instead of reading the whole mount table, and never reach the FUSE server. -1 also when
/// the mount's point is not `path` as written (a symlink on the way), which the mount table must judge.
int dms_is_fuse_mount_root(const char *path);

/// 1 when `path` is on tmpfs, 0 when it is not, -1 (errno set) when statfs(2) fails.
int dms_is_tmpfs(const char *path);

/// What umount2(2) of a path that does not exist answers in a forked child: the errno (ENOENT when mount calls
/// reach the kernel), -SIGSYS when a seccomp filter killed the child for the call, -1 when the probe itself failed.
/// A child, because a filter without an error number kills the caller; it calls only umount2 and _exit.
int dms_probe_umount_errno(void);
#endif
