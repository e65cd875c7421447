import DMSWire
import Foundation
import TestSupport
import Testing

@testable import VaultFuse

@Suite(.onTheBlockingPool, .timeLimit(.minutes(3)), .needsFUSE)
struct ManagerLifecycleTests {
    @Test func spawnTracksInMemoryAndOnDiskAndKillRemovesEverything() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let manager = try S3VaultFuseManager(configuration: box.configuration())
        let path = box.mountPath("t1")
        let outcome = try await manager.spawn(targetID: "t1", mountPath: path)
        guard case .started(let pid) = outcome else {
            Issue.record("expected a new process, got \(outcome)")
            return
        }

        #expect(manager.trackedPID(targetID: "t1") == pid)
        #expect(try String(contentsOfFile: box.pidDir + "/t1.pid", encoding: .utf8) == "\(pid)\n")
        #expect(MountTable.fuseMount(at: path) != nil)
        #expect(
            FileManager.default.fileExists(atPath: path + "/copyright"), "bindfs mirrors its source at the mount path")
        let mode = try FileManager.default.attributesOfItem(atPath: box.pidDir + "/t1.pid")[.posixPermissions] as? Int
        #expect(mode == 0o644)
        let env = try String(contentsOfFile: "/proc/\(pid)/environ", encoding: .utf8).split(separator: "\0").map(
            String.init)
        // /bin/sh adds PWD itself; nothing of the agent's environment may reach the fuse
        #expect(
            Set(env.map { String($0.prefix { $0 != "=" }) }).subtracting(["PWD"]) == [
                "PATH", "vault_data_directory", "DMS_TARGET_ID",
            ])
        #expect(env.contains("DMS_TARGET_ID=t1"))

        // spawning again at the same path is idempotent; another path is a conflict
        #expect(try await manager.spawn(targetID: "t1", mountPath: path) == .alreadyRunning(pid: pid))
        await #expect(throws: VaultFuseError.self) {
            try await manager.spawn(targetID: "t1", mountPath: box.mountPath("other"))
        }

        let killed = try await manager.stop(targetID: "t1")
        #expect(killed == .stopped(pid: pid, mountPath: path))
        #expect(!Proc.exists(pid), "no process and no zombie is left")
        #expect(MountTable.mount(at: path) == nil)
        #expect(!FileManager.default.fileExists(atPath: box.pidDir + "/t1.pid"))
        #expect(manager.trackedPID(targetID: "t1") == nil)
        #expect(try await manager.stop(targetID: "t1") == .notRunning, "killing a stopped target is success")
    }

    @Test func newManagerAdoptsLiveProcessesAndDeletesStaleFiles() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        var first: S3VaultFuseManager? = try S3VaultFuseManager(configuration: box.configuration())
        let pid = try await first!.spawn(targetID: "live", mountPath: box.mountPath("live")).pid
        // A second manager on the same directory refuses to start while the first holds it.
        #expect(throws: VaultFuseError.self) { try S3VaultFuseManager(configuration: box.configuration()) }
        first?.shutdown()
        first = nil
        #expect(Proc.isLive(pid), "dropping a manager never kills its processes")

        let stale = Proc.startSleep(seconds: 1)
        Proc.stopAndReap(stale)  // a PID that no longer exists
        try "\(stale)\n".write(toFile: box.pidDir + "/gone.pid", atomically: true, encoding: .utf8)

        let second = try S3VaultFuseManager(configuration: box.configuration())
        let report = await second.recover()
        #expect(report.loaded == 1)
        #expect(report.cleaned == 1)
        #expect(second.trackedPID(targetID: "live") == pid)
        #expect(second.trackedMountPath(targetID: "live") == box.mountPath("live"))
        #expect(!FileManager.default.fileExists(atPath: box.pidDir + "/gone.pid"))
        #expect(try await second.spawn(targetID: "live", mountPath: box.mountPath("live")) == .alreadyRunning(pid: pid))
        let stats = await second.stats()
        #expect(stats.totalTracked == 1 && stats.alive == 1 && stats.processes.first?.mounted == true)
        // the adopted process is stopped through its pidfd although it is not our child
        #expect(try await second.stop(targetID: "live") == .stopped(pid: pid, mountPath: box.mountPath("live")))
        #expect(await eventually { !Proc.exists(pid) })
        #expect(MountTable.mount(at: box.mountPath("live")) == nil)
    }

    @Test func crashedFuseIsReportedAndItsStaleMountCleaned() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let manager = try S3VaultFuseManager(configuration: box.configuration())
        async let exitsHandled: Void = manager.run()
        defer { manager.shutdown() }
        let events = manager.events()
        let path = box.mountPath("crashy")
        let pid = try await manager.spawn(targetID: "crashy", mountPath: path).pid
        kill(pid, SIGKILL)
        var crashed: ManagerEvent?
        for await event in events {
            if case .crashed = event {
                crashed = event
                break
            }
        }
        guard case .crashed(let target, let crashedPID, let crashedPath, _) = crashed else {
            Issue.record("no crash event")
            return
        }
        #expect(target == "crashy" && crashedPID == pid && crashedPath == path)
        #expect(MountTable.mount(at: path) == nil, "the ENOTCONN mount is cleaned")
        #expect(!FileManager.default.fileExists(atPath: box.pidDir + "/crashy.pid"))
        #expect(!Proc.exists(pid), "the crashed child is reaped")
        let again = try await manager.spawn(targetID: "crashy", mountPath: path)
        guard case .started = again else {
            Issue.record("the next mount starts a new process")
            return
        }
        try await manager.stop(targetID: "crashy")
        manager.shutdown()
        await exitsHandled
    }
}

@Suite(.onTheBlockingPool, .timeLimit(.minutes(3)), .needsFUSE)
struct IdentityTests {
    @Test func pidFileOfAnUnrelatedProcessIsNeverAdoptedNorSignalled() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let manager = try S3VaultFuseManager(configuration: box.configuration())
        let stranger = Proc.startSleep()
        defer { Proc.stopAndReap(stranger) }
        try "\(stranger)\n".write(toFile: box.pidDir + "/victim.pid", atomically: true, encoding: .utf8)
        #expect(await !manager.isRunning(targetID: "victim"))
        #expect(!FileManager.default.fileExists(atPath: box.pidDir + "/victim.pid"), "the stale file is deleted")

        try "\(stranger)\n".write(toFile: box.pidDir + "/victim.pid", atomically: true, encoding: .utf8)
        #expect(try await manager.stop(targetID: "victim") == .notRunning)
        try "\(stranger)\n".write(toFile: box.pidDir + "/victim2.pid", atomically: true, encoding: .utf8)
        _ = await manager.cleanupDeadProcesses()
        _ = await manager.recover()
        #expect(Proc.isLive(stranger), "the stranger survives kill, cleanup and recovery")
    }

    @Test func recycledPIDStartedAfterTheFileIsStale() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let manager = try S3VaultFuseManager(configuration: box.configuration())
        // A file written long before the process now holding the PID started: what a recycled PID looks like.
        let newcomer = Proc.startSleep()
        defer { Proc.stopAndReap(newcomer) }
        let path = box.pidDir + "/old.pid"
        try "\(newcomer)\n".write(toFile: path, atomically: true, encoding: .utf8)
        var times = [timespec(tv_sec: time(nil) - 3600, tv_nsec: 0), timespec(tv_sec: time(nil) - 3600, tv_nsec: 0)]
        utimensat(AT_FDCWD, path, &times, 0)
        guard
            case .stale(let why) = IdentityProof.verify(
                file: PIDFile(path: path), targetID: "old", configuration: box.configuration())
        else {
            Issue.record("a process younger than its PID file must be stale")
            return
        }
        #expect(why.contains("recycled"))
        #expect(try await manager.stop(targetID: "old") == .notRunning)
        #expect(Proc.isLive(newcomer))
    }

    @Test(arguments: ["symlink", "empty", "garbage", "negative", "one", "huge", "dir"])
    func malformedPIDFilesAreStale(kind: String) async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let manager = try S3VaultFuseManager(configuration: box.configuration())
        let stranger = Proc.startSleep()
        defer { Proc.stopAndReap(stranger) }
        let file = box.pidDir + "/bad.pid"
        let outside = box.root + "/outside.txt"
        try "\(stranger)\n".write(toFile: outside, atomically: true, encoding: .utf8)
        switch kind {
        case "symlink": try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: outside)
        case "empty": try "".write(toFile: file, atomically: true, encoding: .utf8)
        case "garbage": try "12ab\n".write(toFile: file, atomically: true, encoding: .utf8)
        case "negative": try "-5\n".write(toFile: file, atomically: true, encoding: .utf8)
        case "one": try "1\n".write(toFile: file, atomically: true, encoding: .utf8)
        case "huge": try "99999999999999999999\n".write(toFile: file, atomically: true, encoding: .utf8)
        default: try FileManager.default.createDirectory(atPath: file, withIntermediateDirectories: false)
        }
        #expect(await !manager.isRunning(targetID: "bad"))
        #expect(try await manager.stop(targetID: "bad") == .notRunning)
        #expect(Proc.isLive(stranger))
        #expect(FileManager.default.fileExists(atPath: outside), "a symlink's target is never deleted")
        if kind != "dir" {
            var st = stat()
            #expect(lstat(file, &st) != 0, "the stale file is removed")
        }
    }
}

@Suite(.onTheBlockingPool, .timeLimit(.minutes(3)), .needsFUSE)
struct MisbehavingFuseTests {
    @Test func fuseThatExitsAtOnceFailsFastWithItsLogTail() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let manager = try S3VaultFuseManager(configuration: box.configuration(mountTimeout: .seconds(30)))
        let started = Date()
        do {
            _ = try await manager.spawn(
                targetID: "bad", mountPath: box.mountPath("bad"), environment: ["FAKE_MODE": "exit"])
            Issue.record("spawn must fail")
        } catch {
            #expect(error.code == .exitedBeforeMount)
            #expect(error.message.contains("exit status 3"))
            #expect(error.logTail?.contains("cannot reach bucket") == true)
        }
        #expect(Date().timeIntervalSince(started) < 15, "does not wait for the 30 s deadline")
        #expect(!FileManager.default.fileExists(atPath: box.pidDir + "/bad.pid"))
        #expect(await manager.stats().totalTracked == 0)
    }

    @Test func theFuseInheritsOnlyStdioAndTheAgentsDescriptorsStayClosed() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        // The fuse never mounts: its PID file stays for the mount timeout, long enough to be seen from a test
        // process whose other suites block its cooperative threads with rabbitmqctl for a second at a time.
        let manager = try S3VaultFuseManager(
            configuration: box.configuration(killTimeout: .seconds(1), mountTimeout: .seconds(5)))
        // an open descriptor of the "agent" without CLOEXEC must not leak either
        let leaky = open(box.root + "/leaky", O_WRONLY | O_CREAT, 0o600)
        defer { close(leaky) }
        let task = Task {
            try await manager.spawn(
                targetID: "fds", mountPath: box.mountPath("fds"), environment: ["FAKE_MODE": "never"])
        }
        #expect(await eventually { FileManager.default.fileExists(atPath: box.pidDir + "/fds.pid") })
        let pid = Int32(
            (try String(contentsOfFile: box.pidDir + "/fds.pid", encoding: .utf8)).trimmingCharacters(
                in: .whitespacesAndNewlines))!
        _ = await eventually {
            (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.hasPrefix("sleep") == true
        }
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap(Int.init).sorted()
        #expect(fds == [0, 1, 2], "only stdin/stdout/stderr: \(fds)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/0") == "/dev/null")
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/1") == box.logDir + "/fds.log")
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/2") == box.logDir + "/fds.log")
        let session = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8).split(separator: ")").last!
            .split(separator: " ")
        #expect(Int32(session[3]) == pid, "own session (setsid): sid == pid")
        _ = try? await task.value  // times out and stops it
        #expect(!Proc.exists(pid))
    }

    @Test func fuseThatNeverMountsTimesOutAndLeavesNothing() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let manager = try S3VaultFuseManager(
            configuration: box.configuration(killTimeout: .seconds(1), mountTimeout: .seconds(1)))
        var pidsBefore = Set(ProcFS.allPIDs())
        pidsBefore.insert(0)
        do {
            _ = try await manager.spawn(
                targetID: "hang", mountPath: box.mountPath("hang"), environment: ["FAKE_MODE": "never"])
            Issue.record("spawn must time out")
        } catch {
            #expect(error.code == .mountTimeout)
            #expect(error.logTail?.contains("hanging") == true)
        }
        let spawned = await manager.stats().allPIDsEverSpawned
        #expect(spawned.count == 1)
        #expect(spawned.allSatisfy { !Proc.exists($0) }, "the process is stopped and reaped")
        #expect(!FileManager.default.fileExists(atPath: box.pidDir + "/hang.pid"))
        #expect(MountTable.mount(at: box.mountPath("hang")) == nil)
    }

    @Test func fuseThatIgnoresSigtermIsKilledAndItsMountCleaned() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let manager = try S3VaultFuseManager(configuration: box.configuration(killTimeout: .milliseconds(500)))
        let path = box.mountPath("stubborn")
        let pid = try await manager.spawn(
            targetID: "stubborn", mountPath: path, environment: ["FAKE_MODE": "ignore-term"]
        ).pid
        let outcome = try await manager.stop(targetID: "stubborn")
        #expect(outcome == .stopped(pid: pid, mountPath: path))
        #expect(!Proc.exists(pid))
        #expect(MountTable.mount(at: path) == nil)
    }

    @Test func staleDisconnectedMountIsRepairedByTheNextSpawn() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let path = box.mountPath("stale")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // A bindfs killed with SIGKILL leaves an ENOTCONN mount behind.
        let bindfs = Proc.shell(
            "bindfs /usr/share/doc/bindfs \(path) </dev/null >/dev/null 2>&1 && pgrep -f -x \"bindfs /usr/share/doc/bindfs \(path)\""
        )
        #expect(bindfs.status == 0)
        let bindfsPID =
            Int32(bindfs.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").last ?? "") ?? 0
        #expect(bindfsPID > 0)
        kill(bindfsPID, SIGKILL)
        #expect(await eventually { Unmounter.isDisconnected(path) })

        // A generous readiness deadline: the suites run in parallel on two cores.
        let manager = try S3VaultFuseManager(configuration: box.configuration(mountTimeout: .seconds(30)))
        let pid = try await manager.spawn(targetID: "stale", mountPath: path).pid
        #expect(!Unmounter.isDisconnected(path))
        #expect(FileManager.default.fileExists(atPath: path + "/copyright"))
        #expect(
            MountTable.read().filter { $0.mountPoint == path }.count == 1,
            "the dead mount is gone, one live mount remains")
        try await manager.stop(targetID: "stale")
        #expect(!Proc.exists(pid))
    }

    @Test func recoveryUnmountsFuseMountsNobodyServes() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let path = box.mountPath("orphan")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let bindfs = Proc.shell(
            "bindfs /usr/share/doc/bindfs \(path) </dev/null >/dev/null 2>&1 && pgrep -f -x \"bindfs /usr/share/doc/bindfs \(path)\""
        )
        let bindfsPID =
            Int32(bindfs.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").last ?? "") ?? 0
        kill(bindfsPID, SIGKILL)
        #expect(await eventually { Unmounter.isDisconnected(path) })
        let manager = try S3VaultFuseManager(configuration: box.configuration())
        let report = await manager.recover()
        #expect(report.cleaned == 1)
        #expect(MountTable.mount(at: path) == nil)
    }
}

@Suite(.onTheBlockingPool, .timeLimit(.minutes(3)), .needsFUSE)
struct ConcurrencyAndInputTests {
    @Test func fiftyTargetsSpawnConcurrently() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let manager = try S3VaultFuseManager(configuration: box.configuration(mountTimeout: .seconds(60)))
        let ids = (0..<50).map { "bulk-\($0)" }
        let pids = try await withThrowingTaskGroup(of: Int32.self) { group in
            for id in ids { group.addTask { try await manager.spawn(targetID: id, mountPath: box.mountPath(id)).pid } }
            return try await group.reduce(into: [Int32]()) { $0.append($1) }
        }
        #expect(Set(pids).count == 50)
        #expect(await manager.stats().alive == 50)
        #expect(ids.allSatisfy { MountTable.fuseMount(at: box.mountPath($0)) != nil })
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in ids { group.addTask { try await manager.stop(targetID: id) } }
            try await group.waitForAll()
        }
        #expect(pids.allSatisfy { !Proc.exists($0) })
        #expect(await manager.stats().pidFilesOnDisk == 0)
    }

    @Test(arguments: [
        "../x", "a/b", "bad\0id", String(repeating: "a", count: 4096), ".", "..", "", "-lead", "sp ace", "ünï",
    ])
    func hostileTargetIDsAreRejectedBeforeAnyFileIsTouched(id: String) async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let manager = try S3VaultFuseManager(configuration: box.configuration())
        let before = Proc.shell("find \(box.root) | sort").output
        await #expect(throws: VaultFuseError.self) {
            try await manager.spawn(targetID: id, mountPath: box.mountPath("ok"))
        }
        await #expect(throws: VaultFuseError.self) { try await manager.stop(targetID: id) }
        #expect(await !manager.isRunning(targetID: id))
        #expect(Proc.shell("find \(box.root) | sort").output == before, "nothing is created or deleted")
        #expect(await manager.stats().allPIDsEverSpawned.isEmpty)
    }

    @Test func hostileMountPathsAreRejected() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let manager = try S3VaultFuseManager(configuration: box.configuration())
        try FileManager.default.createDirectory(atPath: box.root + "/elsewhere", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: box.mountBase + "/escape", withDestinationPath: box.root + "/elsewhere")
        let attacks = [
            "/etc", box.mountBase, box.mountBase + "/../x", "relative/path", box.mountBase + "/a/./b",
            box.mountBase + "/escape", box.mountBase + "/escape/deeper", box.root + "/elsewhere",
            box.mountBase + "/nul\0x",
        ]
        for path in attacks {
            await #expect(throws: VaultFuseError.self, "\(path)") {
                try await manager.spawn(targetID: "t", mountPath: path)
            }
        }
        #expect(!FileManager.default.fileExists(atPath: box.root + "/elsewhere/deeper"))
        #expect(await manager.stats().allPIDsEverSpawned.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: box.pidDir).filter { $0.hasSuffix(".pid") }.isEmpty)
    }

    @Test func pidFileWriteFailureStopsTheProcess() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        var config = box.configuration()
        // A tiny tmpfs as the PID directory, filled up: the PID file cannot be written.
        try FileManager.default.createDirectory(atPath: box.pidDir, withIntermediateDirectories: true)
        #expect(Proc.shell("mount -t tmpfs -o size=12k tmpfs \(box.pidDir)").status == 0)
        defer { umount2(box.pidDir, Int32(MNT_DETACH)) }
        config.pidDirectory = box.pidDir
        let manager = try S3VaultFuseManager(configuration: config)
        _ = Proc.shell("dd if=/dev/zero of=\(box.pidDir)/filler bs=4k count=16 2>/dev/null")
        do {
            _ = try await manager.spawn(targetID: "full", mountPath: box.mountPath("full"))
            Issue.record("spawn must fail when the PID file cannot be written")
        } catch {
            #expect(error.code == .pidFileFailed)
        }
        let spawned = await manager.stats().allPIDsEverSpawned
        #expect(spawned.count == 1 && spawned.allSatisfy { !Proc.exists($0) }, "no untracked process is left")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: box.pidDir).filter {
            $0 != "filler" && $0 != ".dms-agent.lock"
        }
        #expect(leftovers.isEmpty, "no half-written PID file: \(leftovers)")
        #expect(MountTable.mount(at: box.mountPath("full")) == nil)
    }
}

@Suite struct StopSequenceTests {
    @Test func standardSequenceUnmountsThenEscalatesWithinTheGrace() {
        #expect(
            StopSequence.standard(grace: .seconds(2)).steps == [
                .unmount, .awaitExit(.seconds(2)), .signal(SIGTERM), .awaitExit(.seconds(2)), .signal(SIGKILL),
                .awaitExit(.seconds(5)),
            ])
        // A zero grace still gives SIGTERM a moment before SIGKILL.
        #expect(StopSequence.standard(grace: .zero).steps[3] == .awaitExit(.milliseconds(100)))
    }
}
