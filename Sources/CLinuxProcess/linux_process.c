#define _GNU_SOURCE
#include "linux_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef POSIX_SPAWN_SETSID
#define POSIX_SPAWN_SETSID 0x80
#endif

int dms_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int dms_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int dms_reap_pidfd(int pidfd, int *code_out, int *status_out) {
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG) != 0) return -1;
    if (info.si_pid == 0) return 0;
    *code_out = info.si_code;
    *status_out = info.si_status;
    return 1;
}

int dms_spawn(const char *path, char *const argv[], char *const envp[], int stdout_fd, int stderr_fd,
              int new_session, pid_t *pid_out) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    rc = posix_spawnattr_init(&attr);
    if (rc != 0) { posix_spawn_file_actions_destroy(&actions); return rc; }

    if ((rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)) != 0) goto out;
    if ((rc = posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1)) != 0) goto out;
    if ((rc = posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2)) != 0) goto out;
    if ((rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3)) != 0) goto out;
    if ((rc = posix_spawn_file_actions_addchdir_np(&actions, "/")) != 0) goto out;

    sigset_t empty, all;
    sigemptyset(&empty);
    sigfillset(&all);
    // The agent ignores SIGPIPE/SIGTERM for its own handling; ignored dispositions would survive exec.
    if ((rc = posix_spawnattr_setsigmask(&attr, &empty)) != 0) goto out;
    if ((rc = posix_spawnattr_setsigdefault(&attr, &all)) != 0) goto out;
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (new_session) flags |= POSIX_SPAWN_SETSID;
    if ((rc = posix_spawnattr_setflags(&attr, flags)) != 0) goto out;

    rc = posix_spawn(pid_out, path, &actions, &attr, argv, envp);
out:
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

int dms_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

#include <malloc.h>
int dms_limit_malloc_arenas(int arenas) { return mallopt(M_ARENA_MAX, arenas); }

// statx of `path` from cached attributes only (never a FUSE server's round trip), asking also for `mask`: 1 a mount
// root, 0 not, -1 statx failed or cannot tell.
static int mount_root_statx(const char *path, unsigned int mask, struct statx *st) {
    if (statx(AT_FDCWD, path, AT_STATX_DONT_SYNC | AT_SYMLINK_NOFOLLOW, mask, st) != 0) return -1;
    if (!(st->stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) return -1;
    return (st->stx_attributes & STATX_ATTR_MOUNT_ROOT) ? 1 : 0;
}

int dms_is_mount_root(const char *path) {
    struct statx st;
    return mount_root_statx(path, 0, &st);
}

// statmount(2) and the unique mount ID are Linux 6.8; Debian's headers predate them.
#define DMS_NR_STATMOUNT 457
#define DMS_STATX_MNT_ID_UNIQUE 0x4000U
#define DMS_STATMOUNT_SB_BASIC 0x1U
#define DMS_STATMOUNT_MNT_POINT 0x10U
#define DMS_FUSE_SUPER_MAGIC 0x65735546U

struct dms_mnt_id_req {
    uint32_t size;
    uint32_t spare;
    uint64_t mnt_id;
    uint64_t param;
};

// The kernel's struct statmount up to the fields read here; its strings start 512 bytes in, after the header.
struct dms_statmount {
    uint32_t size;
    uint32_t mnt_opts;
    uint64_t mask;
    uint32_t sb_dev_major;
    uint32_t sb_dev_minor;
    uint64_t sb_magic;
    uint32_t sb_flags;
    uint32_t fs_type;
    uint64_t mnt_id;
    uint64_t mnt_parent_id;
    uint32_t mnt_id_old;
    uint32_t mnt_parent_id_old;
    uint64_t mnt_attr;
    uint64_t mnt_propagation;
    uint64_t mnt_peer_group;
    uint64_t mnt_master;
    uint64_t propagate_from;
    uint32_t mnt_root;
    uint32_t mnt_point;
    uint64_t spare[50];
    char str[];
};
_Static_assert(sizeof(struct dms_statmount) == 512, "struct statmount's header is 512 bytes");

int dms_is_fuse_mount_root(const char *path) {
    struct statx st;
    int root = mount_root_statx(path, DMS_STATX_MNT_ID_UNIQUE, &st);
    if (root != 1) return root;
    if (!(st.stx_mask & DMS_STATX_MNT_ID_UNIQUE)) return -1;
    union {
        struct dms_statmount sm;
        char bytes[4096];
    } buf;
    uint64_t wanted = DMS_STATMOUNT_SB_BASIC | DMS_STATMOUNT_MNT_POINT;
    // With STATX_MNT_ID_UNIQUE granted, stx_mnt_id holds the unique (never reused) ID statmount takes; `param` is
    // what to report.
    struct dms_mnt_id_req req = {.size = 24, .mnt_id = st.stx_mnt_id, .param = wanted};
    if (syscall(DMS_NR_STATMOUNT, &req, &buf, sizeof(buf), 0) != 0) return -1;
    if ((buf.sm.mask & wanted) != wanted || buf.sm.mnt_point >= sizeof(buf) - sizeof(buf.sm)) return -1;
    buf.bytes[sizeof(buf) - 1] = '\0';
    if (strcmp(buf.sm.str + buf.sm.mnt_point, path) != 0) return -1;
    return buf.sm.sb_magic == DMS_FUSE_SUPER_MAGIC ? 1 : 0;
}

int dms_is_tmpfs(const char *path) {
    struct statfs fs;
    if (statfs(path, &fs) != 0) return -1;
    return fs.f_type == TMPFS_MAGIC ? 1 : 0;
}

int dms_spawn_actions_close_from(posix_spawn_file_actions_t *actions, int lowfd) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowfd);
}

int dms_probe_umount_errno(void) {
    pid_t child = fork();
    if (child < 0) return -1;
    if (child == 0) {
        int answer = umount2("/nonexistent-dms-agent-sandbox-probe", 0) == 0 ? 0 : errno;
        _exit(answer & 0xff);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    if (WIFSIGNALED(status)) return WTERMSIG(status) == SIGSYS ? -SIGSYS : -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
