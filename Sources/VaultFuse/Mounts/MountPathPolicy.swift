import FoundationEssentials
import Glibc
import LinuxSupport

package enum MountPathPolicy {
    /// Absolute, normalized, strictly below one of `bases`. Returns the normalized path and its base.
    package static func normalize(_ path: String, bases: [String]) throws(VaultFuseError) -> (
        path: String, base: String
    ) {
        var refusal = VaultFuseError(.pathOutsideBase, "no mount base configured")
        for base in bases {
            do { return (try normalize(path, base: base), base) } catch {
                guard error.code == .pathOutsideBase else { throw error }
                refusal = error
            }
        }
        if bases.count > 1 {
            refusal.message = "Mount path \(path) is outside every mount base (\(bases.joined(separator: ", ")))"
        }
        throw refusal
    }

    /// After an unmount, as the original server does: rmdir(2) of the mount path itself, which removes it
    /// only when it is an empty directory and no longer a mount point. Nothing else is ever removed.
    @discardableResult
    package static func removeIfEmpty(_ path: String) -> Bool { rmdir(path) == 0 }

    /// Absolute, normalized (no `.`, `..`, empty components), strictly below `base`. Returns the normalized path.
    package static func normalize(_ path: String, base: String) throws(VaultFuseError) -> String {
        guard !path.utf8.contains(0), path.utf8.count <= 4096 else {
            throw VaultFuseError(.invalidPath, "Invalid mount path: contains NUL or is too long")
        }
        guard path.hasPrefix("/") else {
            throw VaultFuseError(.invalidPath, "Invalid mount path \(path.debugDescription): must be absolute")
        }
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        if components.contains(where: { $0 == "." || $0 == ".." }) {
            throw VaultFuseError(
                .invalidPath, "Invalid mount path \(path.debugDescription): '.' and '..' are not allowed")
        }
        let normalized = "/" + components.joined(separator: "/")
        let normalizedBase = "/" + base.split(separator: "/").joined(separator: "/")
        guard normalized.hasPrefix(normalizedBase + "/") else {
            throw VaultFuseError(
                .pathOutsideBase, "Mount path \(normalized) is outside the mount base \(normalizedBase)")
        }
        return normalized
    }

    /// Creates the directory (and parents below the base), refusing any symlink that leads outside the base.
    package static func prepareDirectory(_ path: String, base: String) throws(VaultFuseError) {
        let resolvedBase = realpath(base) ?? base
        let relative = path.dropFirst(base.count).split(separator: "/")
        var current = base
        for component in relative {
            current += "/" + component
            var st = stat()
            if lstat(current, &st) == 0 {
                if (st.st_mode & S_IFMT) == S_IFLNK {
                    guard let target = realpath(current), target == resolvedBase || target.hasPrefix(resolvedBase + "/")
                    else {
                        throw VaultFuseError(
                            .pathOutsideBase,
                            "Mount path \(path) escapes the mount base through a symlink at \(current)")
                    }
                }
                continue
            }
            if errno == ENOTCONN || errno == ECONNABORTED { continue }  // a stale mount; repaired later
            if mkdir(current, 0o755) == 0 {
                // 0755 whatever the umask (the unit sets 0027): nova traverses these to reach its mounts, as it did
                // the Python server's os.makedirs directories.
                chmod(current, 0o755)
            } else if errno != EEXIST {
                throw VaultFuseError(.io, "Failed to create mount directory: \(current): \(Errno.current)")
            }
        }
        if let resolved = realpath(path), !(resolved == resolvedBase || resolved.hasPrefix(resolvedBase + "/")) {
            throw VaultFuseError(.pathOutsideBase, "Mount path \(path) resolves to \(resolved), outside the mount base")
        }
    }

    static func realpath(_ path: String) -> String? {
        guard let resolved = Glibc.realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// mkdir -p with a mode, for the agent's own directories.
func makeDirectories(_ path: String, mode: mode_t) throws(VaultFuseError) {
    var current = ""
    for component in path.split(separator: "/") {
        current += "/" + component
        if mkdir(current, mode) == 0 {
            chmod(current, mode)  // exactly `mode`, whatever the umask
        } else if errno != EEXIST {
            throw VaultFuseError(.io, "Cannot create directory \(current): \(Errno.current)")
        }
    }
}

/// The owner of a path (for `/proc/<pid>`: the process's effective uid).
func ownerUID(of path: String) -> uid_t? {
    var st = stat()
    return stat(path, &st) == 0 ? st.st_uid : nil
}

/// `/a/b/c` → `/a/b`; `/a` → `/`.
package func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}
