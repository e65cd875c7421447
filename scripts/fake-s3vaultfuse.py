#!/usr/bin/python3 -s
# A stand-in for the shipped s3vaultfuse, a fusepy program: the process that starts serves the FUSE mount itself,
# in the foreground, read-only over FAKE_SOURCE (default /usr/share/doc/bindfs) at vault_data_directory, and exits
# when unmounted or on SIGTERM. The first line carries an interpreter option, as RHEL packaging's do, so its
# /proc/<pid>/cmdline is "/usr/bin/python3 -s <this file>". Debian's python3-fusepy names the module fusepy.
import errno
import os

try:
    from fusepy import FUSE, FuseOSError, Operations
except ImportError:
    from fuse import FUSE, FuseOSError, Operations


class Mirror(Operations):
    def __init__(self, root):
        self.root = root

    def _path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def getattr(self, path, fh=None):
        try:
            st = os.lstat(self._path(path))
        except OSError as e:
            raise FuseOSError(e.errno)
        keys = ("st_mode", "st_nlink", "st_size", "st_uid", "st_gid", "st_atime", "st_mtime", "st_ctime")
        return {k: getattr(st, k) for k in keys}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._path(path))

    def open(self, path, flags):
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise FuseOSError(errno.EROFS)
        return os.open(self._path(path), os.O_RDONLY)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def release(self, path, fh):
        os.close(fh)


if __name__ == "__main__":
    log = os.environ.get("FAKE_SPAWN_LOG")
    if log:
        with open(log, "a") as f:
            f.write(os.environ.get("DMS_TARGET_ID", "?") + "\n")
    FUSE(Mirror(os.environ.get("FAKE_SOURCE", "/usr/share/doc/bindfs")), os.environ["vault_data_directory"],
         foreground=True, ro=True, nothreads=True)
