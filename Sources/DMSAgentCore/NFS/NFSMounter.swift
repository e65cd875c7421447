package import DMSWire
import FoundationEssentials
import Glibc
import LinuxSupport
import VaultFuse

/// NFS targets: no process, the mount table is their record. mount(8) and umount(8) run on the blocking pool (a hung
/// NFS server must not hold a cooperative thread).
package struct NFSMounter: NFSMounting {
    /// Prepended to `mount`/`umount` (e.g. `sudo`, or rootwrap with its config).
    package var commandPrefix: [String]
    /// Deadline of each mount(8) and umount(8); past it the command is stopped and the job fails.
    /// Default: 60 s (the original's mount timeout).
    package var timeout: Duration

    package init(commandPrefix: [String] = [], timeout: Duration = .seconds(60)) {
        self.commandPrefix = commandPrefix
        self.timeout = timeout
    }

    /// Options that change nothing about what may run or be reached; anything else is refused.
    static let allowedOptions: Set<String> = [
        "ro", "rw", "soft", "hard", "intr", "nointr", "nolock", "lock", "noatime", "atime", "nodiratime", "relatime",
        "noexec", "nosuid", "nodev", "sync", "async", "defaults", "tcp", "udp", "bg", "fg", "ac", "noac", "cto",
        "nocto",
        "sharecache", "nosharecache", "resvport", "noresvport", "lookupcache", "nfsvers", "vers", "proto", "port",
        "timeo",
        "retrans", "retry", "rsize", "wsize", "acregmin", "acregmax", "acdirmin", "acdirmax", "actimeo", "mountport",
        "mountproto", "mountvers", "namlen", "sec", "local_lock", "minorversion", "clientaddr", "fsc", "nofsc",
        "_netdev",
        "nconnect", "max_connect",
    ]
    static let refused: Set<String> = [
        "exec", "suid", "dev", "remount", "bind", "rbind", "move", "loop", "user", "users", "owner",
    ]

    package static func validateOptions(_ raw: String?) -> Result<String, Refusal> {
        let text = (raw ?? "").trimmed
        if text.isEmpty { return .success("defaults") }
        var kept: [String] = []
        for option in text.split(separator: ",", omittingEmptySubsequences: true) {
            let name = String(option.prefix { $0 != "=" }).trimmed
            let value = option.contains("=") ? String(option.drop { $0 != "=" }.dropFirst()) : nil
            if refused.contains(name) { return .failure(Refusal("NFS mount option '\(name)' is not allowed")) }
            guard allowedOptions.contains(name) else {
                return .failure(Refusal("Unknown NFS mount option '\(name.prefix(64))'"))
            }
            if let value,
                !value.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == ":" || $0 == "_" || $0 == "-" })
            {
                return .failure(Refusal("Invalid value for NFS mount option '\(name)'"))
            }
            kept.append(String(option))
        }
        return .success(kept.joined(separator: ","))
    }

    /// `host:/export` with no option-like or shell-like characters.
    package static func validateExport(_ export: String?) -> Result<String, Refusal> {
        guard let export, !export.isEmpty else { return .failure("Missing filesystem_export for NFS mount") }
        guard !export.hasPrefix("-"), export.contains(":/"), export.count < 1024,
            export.allSatisfy({ !$0.isWhitespace && $0 != "\0" && $0 != "," })
        else {
            return .failure(Refusal("Invalid filesystem_export for NFS mount"))
        }
        return .success(export)
    }

    package func fsType(at path: String) -> String? { MountTable.mount(at: path)?.fsType }

    package func mount(export: String, path: String, options: String) async -> (status: Int32, output: String) {
        await BlockingPool.run { run(["mount", "-t", "nfs", "-o", options, export, path]) }
    }

    package func unmount(path: String) async -> (status: Int32, output: String) {
        await BlockingPool.run {
            let plain = run(["umount", path])
            if plain.status == 0 { return plain }
            if plain.output.contains("busy") { return run(["umount", "-l", path]) }
            return plain
        }
    }

    private func run(_ command: [String]) -> (status: Int32, output: String) {
        let argv = commandPrefix + command
        let path =
            argv[0].hasPrefix("/")
            ? argv[0]
            : (["/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"].map { $0 + argv[0] }.first { access($0, X_OK) == 0 }
                ?? argv[0])
        let result = CommandRunner.run(path, Array(argv.dropFirst()), deadline: timeout)
        return (result.status, result.output.trimmed)
    }
}
