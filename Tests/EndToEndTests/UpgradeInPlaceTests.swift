import DMSWire
import Foundation
import TestSupport
import Testing
import VaultFuse

/// Issue 26: dms-agent replaces a running Python DMS server on a node with backups mounted. The fuses are started
/// exactly as that server started them: argv `[s3vaultfuse_bin]` only (a script whose first line is
/// `#!/usr/bin/python3 -s`, serving FUSE itself as fusepy does), a copy of the server's environment plus the `vault_*`
/// variables and no `DMS_TARGET_ID`, a PID file holding the decimal PID without a newline, as the server's user.
/// Runs alone: a fuse of a user other than root needs /dev/fuse readable by all (udev's 0666; this machine has no
/// udev), which the suite sets for its run and restores.
@Suite(.onTheBlockingPool, .serialized, .timeLimit(.minutes(5)), .needsEverything, .disruptive)
struct DisruptiveUpgradeInPlaceTests {
    static let fuse = TestEnv.repoRoot + "/scripts/fake-s3vaultfuse.py"
    static let nova = "dmsnova"

    /// A system user like nova (kept between runs), and its uid and gid.
    static func user(_ name: String) throws -> (uid: Int, gid: Int) {
        if Proc.shell("id -u \(name)").status != 0 {
            let made = Proc.shell("useradd --system --no-create-home --shell /usr/sbin/nologin \(name) 2>&1")
            try #require(made.status == 0, "useradd: \(made.output)")
        }
        let uid = try #require(Int(Proc.shell("id -u \(name)").output.trimmingCharacters(in: .whitespacesAndNewlines)))
        let gid = try #require(Int(Proc.shell("id -g \(name)").output.trimmingCharacters(in: .whitespacesAndNewlines)))
        return (uid, gid)
    }

    /// /dev/fuse as udev makes it, for the run of `body`.
    static func withOpenFuseDevice<T>(_ body: () async throws -> T) async rethrows -> T {
        let mode = Proc.shell("stat -c %a /dev/fuse").output.trimmingCharacters(in: .whitespacesAndNewlines)
        _ = Proc.shell("chmod 0666 /dev/fuse")
        defer { _ = Proc.shell("chmod \(mode) /dev/fuse") }
        return try await body()
    }

    /// Starts a fuse as the Python server did, as `owner` (nil: root), and waits for its mount. Returns its PID.
    static func startAsPythonServer(
        target: String, box: Sandbox, owner: (uid: Int, gid: Int)?, path: String? = nil
    ) async throws -> Int32 {
        let mountPath = path ?? box.mountPath(target)
        try FileManager.default.createDirectory(atPath: mountPath, withIntermediateDirectories: true)
        if let owner { _ = Proc.shell("chown \(owner.uid):\(owner.gid) \(mountPath)") }
        var argv = [fuse]
        if let owner {
            argv = ["/usr/bin/setpriv", "--reuid=\(owner.uid)", "--regid=\(owner.gid)", "--clear-groups", "--"] + argv
        }
        argv = ["/usr/bin/setsid"] + argv  // not a group leader: setsid execs in place, the PID stays
        let environment =
            ProcessInfo.processInfo.environment.filter { $0.key != "DMS_TARGET_ID" }.map { "\($0.key)=\($0.value)" }
            + [
                "vault_data_directory=\(mountPath)", "vault_s3_bucket=backups", "vault_s3_region_name=RegionOne",
                "vault_storage_nfs_export=trilio-qa",
            ]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(
            &actions, 1, box.root + "/\(target).fuse.log", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        keepOnlyStdio(&actions)
        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup($0) } + [nil]
        defer {
            cArgv.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        // As a server's child: no signal blocked or ignored (a test runner's thread may block SIGTERM).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        var all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        try #require(posix_spawn(&pid, argv[0], &actions, &attributes, cArgv, cEnv) == 0)
        let mounted = await eventually(timeout: 10) { MountTable.fuseMount(at: mountPath) != nil }
        try #require(
            mounted,
            "the Python-style fuse mounted: \(String(describing: try? String(contentsOfFile: box.root + "/\(target).fuse.log", encoding: .utf8)))"
        )
        return pid
    }

    /// The PID file the Python server wrote: the decimal PID, no newline, owned by its user.
    static func writePIDFile(
        _ target: String, pid: Int32, box: Sandbox, owner: (uid: Int, gid: Int)?, mode: Int = 0o644
    ) throws {
        try FileManager.default.createDirectory(atPath: box.pidDir, withIntermediateDirectories: true)
        let file = box.pidDir + "/\(target).pid"
        try "\(pid)".write(toFile: file, atomically: false, encoding: .utf8)
        if let owner { _ = Proc.shell("chown \(owner.uid):\(owner.gid) \(file)") }
        _ = Proc.shell("chmod \(String(mode, radix: 8)) \(file)")
    }

    static func startTime(_ pid: Int32) -> String? {
        (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)).map {
            String($0.split(separator: ")").last?.split(separator: " ").dropFirst(19).first ?? "")
        }
    }

    /// Reaps what the test started (the agent's stops leave our children as zombies).
    static func reap(_ pids: [Int32]) {
        for pid in pids { Proc.stopAndReap(pid) }
    }

    static func agent(_ box: Sandbox, adopt: String = nova) -> AgentProcess {
        AgentProcess(box: box, fuse: fuse, extraArguments: ["--adopt-users", adopt])
    }

    @Test func theFusesOfAPythonServerThatRanAsNovaAreAdoptedAndNeverTakenDown() async throws {
        let novaUser = try Self.user(Self.nova)
        try await Self.withOpenFuseDevice {
            let box = TestEnv.makeSandbox()
            defer { box.tearDown() }
            let n1 = try await Self.startAsPythonServer(target: "n1", box: box, owner: novaUser)
            let n2 = try await Self.startAsPythonServer(target: "n2", box: box, owner: novaUser)
            defer { Self.reap([n1, n2]) }
            try Self.writePIDFile("n1", pid: n1, box: box, owner: novaUser)
            try Self.writePIDFile("n2", pid: n2, box: box, owner: novaUser, mode: 0o600)
            let before = [n1, n2].map(Self.startTime)
            let agent = Self.agent(box)
            try await withAgent(agent) { agent, requester in
                // Nothing was signalled or unmounted: the same processes, started when they were, still mounted.
                #expect([n1, n2].allSatisfy { Proc.isLive($0) }, "\(agent.log())")
                #expect([n1, n2].map(Self.startTime) == before)
                #expect(MountTable.fuseMount(at: box.mountPath("n1")) != nil)
                #expect(MountTable.fuseMount(at: box.mountPath("n2")) != nil)
                #expect(agent.logLines().filter { $0.contains("adopted") && $0.contains("target_id=n") }.count == 2)
                #expect(!agent.log().contains("left alone"), "\(agent.log())")
                let status = Proc.shell(
                    "\(AgentProcess.binary) status --json --pid-dir \(box.pidDir) --mount-base \(box.mountBase) --adopt-users \(Self.nova) --s3vaultfuse-bin \(Self.fuse)"
                ).output
                #expect(status.contains("\"verdict\" : \"ours\"") && !status.contains("left alone"), "\(status)")
                // A mount of an adopted target: Already mounted, no second process.
                let again = try await requester.call(
                    Requester.body(action: "mount", node: agent.nodeID, target: "n1", path: box.mountPath("n1")),
                    node: agent.nodeID)
                #expect(again?.successMsg == ReplyText.alreadyMounted(box.mountPath("n1")), "\(agent.log())")
                #expect(again?.pid == n1)
                // The original client's unmount: the mount, the process and the PID file go.
                let outcome = try PythonClient.run(
                    node: agent.nodeID,
                    bodies: [
                        Requester.body(action: "unmount", node: agent.nodeID, target: "n2", path: box.mountPath("n2"))
                    ])
                #expect(outcome.replies.first??["status"] as? String == "success", "\(outcome.errors) \(agent.log())")
                #expect(await eventually(timeout: 10) { !Proc.isLive(n2) })
                #expect(MountTable.fuseMount(at: box.mountPath("n2")) == nil)
                #expect(!FileManager.default.fileExists(atPath: box.pidDir + "/n2.pid"))
                #expect(Proc.isLive(n1) && MountTable.fuseMount(at: box.mountPath("n1")) != nil, "n1 untouched")
                #expect(agent.http("/metrics").1.contains("dms_left_alone 0"))
            }
        }
    }

    @Test func aWrongHandRegistrationNeverStopsTheOtherTargetsFuse() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let a = try await Self.startAsPythonServer(target: "a", box: box, owner: nil)
        let b = try await Self.startAsPythonServer(target: "b", box: box, owner: nil)
        defer { Self.reap([a, b]) }
        // `pgrep -f … > a.pid` picked b's fuse; b.pid is right.
        try Self.writePIDFile("a", pid: b, box: box, owner: nil)
        try Self.writePIDFile("b", pid: b, box: box, owner: nil)
        let agent = Self.agent(box)
        try await withAgent(agent) { agent, requester in
            #expect(Proc.isLive(a) && Proc.isLive(b), "nothing signalled at start")
            #expect(
                MountTable.fuseMount(at: box.mountPath("a")) != nil
                    && MountTable.fuseMount(at: box.mountPath("b")) != nil)
            #expect(agent.log().contains("a process belongs to one target"), "\(agent.log())")
            let node = agent.nodeID
            let wrong = try await requester.call(
                Requester.body(action: "unmount", node: node, target: "a", path: box.mountPath("a")), node: node)
            #expect(wrong?.status == .error && wrong?.code == .conflict, "\(String(describing: wrong)) \(agent.log())")
            #expect(
                Proc.isLive(b) && MountTable.fuseMount(at: box.mountPath("b")) != nil, "b's fuse is never stopped for a"
            )
            #expect(Proc.isLive(a), "nor a's own, which no PID file names")
            let right = try await requester.call(
                Requester.body(action: "unmount", node: node, target: "b", path: box.mountPath("b")), node: node)
            #expect(right?.successMsg == ReplyText.unmounted(box.mountPath("b")), "\(agent.log())")
            #expect(await eventually(timeout: 10) { !Proc.isLive(b) })
            #expect(!agent.log().contains("exited unexpectedly"), "b is not reported crashed")
        }
    }

    @Test func aForeignUsersOwnFuseAtATargetPathIsLeftAloneUntilAJobAsks() async throws {
        let stranger = try Self.user("nobody")
        try await Self.withOpenFuseDevice {
            let box = TestEnv.makeSandbox()
            defer { box.tearDown() }
            let own = try await Self.startAsPythonServer(target: "f1", box: box, owner: stranger)
            defer { Self.reap([own]) }
            let before = Self.startTime(own)
            let agent = Self.agent(box)
            try await withAgent(agent) { agent, requester in
                #expect(Proc.isLive(own) && Self.startTime(own) == before, "not signalled")
                #expect(MountTable.fuseMount(at: box.mountPath("f1")) != nil, "not unmounted: \(agent.log())")
                #expect(agent.log().contains("left alone"), "\(agent.log())")
                #expect(await eventually(timeout: 5) { agent.http("/metrics").1.contains("dms_left_alone 1") })
                let status = Proc.shell(
                    "\(AgentProcess.binary) status --json --pid-dir \(box.pidDir) --mount-base \(box.mountBase) --adopt-users \(Self.nova) --s3vaultfuse-bin \(Self.fuse)"
                ).output
                let unescaped = status.replacingOccurrences(of: "\\/", with: "/")
                #expect(unescaped.contains("\"left_alone\"") && unescaped.contains(box.mountPath("f1")), "\(status)")
                let node = agent.nodeID
                let mount = try await requester.call(
                    Requester.body(action: "mount", node: node, target: "f1", path: box.mountPath("f1")), node: node)
                #expect(mount?.code == .conflict, "\(String(describing: mount))")
                #expect(mount?.errorMsg?.contains("left alone") == true)
                #expect(
                    Proc.isLive(own) && MountTable.fuseMount(at: box.mountPath("f1")) != nil,
                    "a mount job never takes it")
                let unmount = try await requester.call(
                    Requester.body(action: "unmount", node: node, target: "f1", path: box.mountPath("f1")), node: node)
                #expect(unmount?.successMsg == ReplyText.unmounted(box.mountPath("f1")), "\(agent.log())")
                #expect(unmount?.detail?.contains("as this job asks") == true, "the reply says what it took down")
                #expect(MountTable.fuseMount(at: box.mountPath("f1")) == nil)
            }
        }
    }

    @Test func aDeadMountIsStillCleanedAtStart() async throws {
        let novaUser = try Self.user(Self.nova)
        try await Self.withOpenFuseDevice {
            let box = TestEnv.makeSandbox()
            defer { box.tearDown() }
            let dead = try await Self.startAsPythonServer(target: "d1", box: box, owner: novaUser)
            try Self.writePIDFile("d1", pid: dead, box: box, owner: novaUser)
            Proc.stopAndReap(dead)
            #expect(MountTable.fuseMount(at: box.mountPath("d1")) != nil, "the kernel keeps the dead mount")
            let agent = Self.agent(box)
            try await withAgent(agent) { agent, _ in
                #expect(MountTable.fuseMount(at: box.mountPath("d1")) == nil, "\(agent.log())")
                #expect(agent.log().contains("cleaned: dead FUSE mount"))
                #expect(!FileManager.default.fileExists(atPath: box.pidDir + "/d1.pid"))
            }
        }
    }
}
