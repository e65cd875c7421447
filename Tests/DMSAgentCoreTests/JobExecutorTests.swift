import DMSAgentCore
import DMSWire
import Foundation
import LinuxSupport
import Testing
import VaultFuse

/// Every reply code and text of the executor, with in-memory effects: no broker, no root, no FUSE.
struct JobExecutorTests {
    static let base = "/srv/mounts"
    static let path = base + "/dHJpbGlvLXFh"

    final class Targets: TargetManaging {
        struct State {
            var mounted: [String: (pid: Int32, path: String)] = [:]
            var spawnError: VaultFuseError?
            var alreadyRunning = false
            var stopError: VaultFuseError?
            var spawned: [(String, [String: String])] = []
            var clearedStale: [String] = []
        }
        let state = Locked(State())

        func validate(targetID: String, mountPath: String) throws(VaultFuseError) -> String {
            try TargetID.validate(targetID)
            return try MountPathPolicy.normalize(mountPath, base: JobExecutorTests.base)
        }
        func mountedPID(targetID: String, at path: String) -> Int32? {
            state.withLock { $0.mounted[targetID].flatMap { $0.path == path ? $0.pid : nil } }
        }
        func spawn(targetID: String, mountPath: String, environment: [String: String]) async throws(VaultFuseError)
            -> SpawnOutcome
        {
            let (error, already) = state.withLock { s -> (VaultFuseError?, Bool) in
                s.spawned.append((targetID, environment))
                return (s.spawnError, s.alreadyRunning)
            }
            if let error { throw error }
            if already { return .alreadyRunning(pid: 41) }
            state.withLock { $0.mounted[targetID] = (42, mountPath) }
            return .started(pid: 42)
        }
        func stop(targetID: String, mountPath: String) async throws(VaultFuseError) -> StopOutcome {
            if let error = state.withLock({ $0.stopError }) { throw error }
            if let other = state.withLock({ $0.mounted[targetID] }), other.path != mountPath {
                throw VaultFuseError(.conflict, "serves \(other.path), not \(mountPath); nothing was stopped")
            }
            guard let record = state.withLock({ $0.mounted.removeValue(forKey: targetID) }) else { return .notRunning }
            return .stopped(pid: record.pid, mountPath: record.path)
        }
        func clearStaleMount(at path: String, targetID: String?) async throws(VaultFuseError) -> MountClearing {
            state.withLock { $0.clearedStale.append(path) }
            return .nothingMounted
        }
        func stats() -> NodeStats {
            try! JSONDecoder().decode(
                NodeStats.self,
                from: Data(
                    #"{"total_tracked":0,"alive":0,"dead":0,"all_pids_ever_spawned":[],"pid_files_on_disk":0,"pid_directory":"/run/dms/s3","processes":[],"only_on_disk":[],"left_alone":[]}"#
                        .utf8))
        }
    }

    final class Directories: MountDirectories {
        let prepared = Locked<[String]>([]), removed = Locked<[String]>([])
        func prepare(_ path: String) throws(VaultFuseError) { prepared.withLock { $0.append(path) } }
        func removeIfEmpty(_ path: String) { removed.withLock { $0.append(path) } }
    }

    struct Secrets: SecretFetching {
        var payload: [String: JSONValue] = [:]
        var failure: String?
        func fetchPayload(secretRef: String, token: String) async throws -> [String: JSONValue] {
            if let failure { throw Refusal(failure) }
            return payload
        }
    }

    final class NFS: NFSMounting {
        let table = Locked<[String: String]>([:])
        let result = Locked<(status: Int32, output: String)>((0, ""))
        func fsType(at path: String) -> String? { table.withLock { $0[path] } }
        func mount(export: String, path: String, options: String) async -> (status: Int32, output: String) {
            let r = result.withLock { $0 }
            if r.status == 0 { table.withLock { $0[path] = "nfs4" } }
            return r
        }
        func unmount(path: String) async -> (status: Int32, output: String) {
            let r = result.withLock { $0 }
            if r.status == 0 { table.withLock { $0[path] = nil } }
            return r
        }
    }

    final class Requesters: RequesterChecking {
        let gone: Set<String>
        let asked = Locked<[String]>([])
        init(gone: Set<String> = []) { self.gone = gone }
        func isGone(replyTo: String) async -> Bool {
            asked.withLock { $0.append(replyTo) }
            return gone.contains(replyTo)
        }
    }

    struct World {
        var targets = Targets(), directories = Directories(), nfs = NFS(), requesters = Requesters(gone: ["gone.q"])
        var secrets = Secrets()
        var executor: JobExecutor {
            var options = JobExecutor.Options(nodeID: "compute-01")
            options.maxRequestAge = .seconds(300)
            return JobExecutor(
                options: options, targets: targets, directories: directories, secrets: secrets, nfs: nfs,
                requesters: requesters, now: { 1_000_000 })
        }
    }

    static func request(
        _ action: String = "mount", type: String = "s3", id: String = "bt1", path: String = JobExecutorTests.path,
        host: String = "compute-01", token: String? = nil, secretRef: String? = nil, export: String? = nil,
        options: String? = nil
    ) -> JobRequest {
        func q(_ s: String?) -> String { s.map { "\"\($0)\"" } ?? "null" }
        let body = """
            {"action":"\(action)","host":"\(host)","jobid":7,"context":{},"keystone_token":\(q(token)),
             "backup_target":{"id":"\(id)","type":"\(type)","status":"available","filesystem_export":\(q(export)),
             "filesystem_export_mount_path":"\(path)","nfs_mount_opts":\(q(options)),"secret_ref":\(q(secretRef))}}
            """
        return try! RequestParser.parse(Array(body.utf8)).get()
    }

    func reply(_ world: World, _ request: JobRequest, timestamp: UInt64? = nil, replyTo: String? = "live.q") async
        -> JobReply?
    {
        guard case .reply(let r) = await world.executor.decide(request, timestamp: timestamp, replyTo: replyTo) else {
            return nil
        }
        world.executor.afterReply(r, to: request)
        return r
    }

    // MARK: Decisions before any effect

    @Test func statusAnswersWithTheNodeAndItsStats() async throws {
        let r = try #require(
            await reply(World(), try RequestParser.parse(Array(#"{"action":"status","host":"compute-01"}"#.utf8)).get())
        )
        #expect(r.status == .success && r.successMsg == "Node compute-01 status" && r.stats != nil && r.code == .ok)
    }

    @Test func anOldRequestIsExpiredAndNotRun() async throws {
        let world = World()
        let r = try #require(await reply(world, Self.request(), timestamp: 1_000_000 - 1000))
        #expect(r.code == .expired && r.errorMsg == "Request expired: sent 1000 s ago, limit 300 s; not executed")
        #expect(world.targets.state.withLock { $0.spawned.isEmpty })
        #expect(await reply(world, Self.request(), timestamp: 1_000_000 - 299)?.code == .ok, "within the limit it runs")
    }

    @Test func aRequestForAnotherHostIsNotRun() async throws {
        let r = try #require(await reply(World(), Self.request(host: "compute-02")))
        #expect(
            r.code == .wrongHost
                && r.errorMsg == #"Request for host "compute-02" reached node compute-01; not executed"#)
    }

    @Test func aRequesterThatIsGoneAbandonsTheJob() async throws {
        let world = World()
        #expect(await world.executor.decide(Self.request(), timestamp: nil, replyTo: "gone.q") == .abandoned)
        #expect(world.targets.state.withLock { $0.spawned.isEmpty })
        _ = await world.executor.decide(Self.request(), timestamp: nil, replyTo: "amq.rabbitmq.reply-to.g1h2AA")
        _ = await world.executor.decide(Self.request(), timestamp: nil, replyTo: nil)
        #expect(world.requesters.asked.withLock { $0 } == ["gone.q"], "direct reply-to and no reply_to are not checked")
    }

    @Test func invalidIdsAndPathsAreRefusedWithTheirCodes() async throws {
        let world = World()
        let badID = try #require(await reply(world, Self.request(id: "../../etc")))
        #expect(
            badID.code == .invalidTargetID && badID.targetID == nil
                && badID.errorMsg?.contains("Invalid target id") == true)
        let outside = try #require(await reply(world, Self.request(path: "/etc/passwd")))
        #expect(
            outside.code == .pathOutsideBase
                && outside.errorMsg == "Mount path /etc/passwd is outside the mount base /srv/mounts")
        let dots = try #require(await reply(world, Self.request(path: Self.base + "/a/../b")))
        #expect(dots.code == .invalidRequest)
    }

    // MARK: S3

    @Test func s3MountStartsOnceThenIsAlreadyMounted() async throws {
        let world = World()
        let first = try #require(await reply(world, Self.request()))
        #expect(
            first.successMsg == "S3 target mounted successfully at \(Self.path)" && first.pid == 42
                && first.mountPath == Self.path)
        let env = try #require(world.targets.state.withLock { $0.spawned.first?.1 })
        #expect(
            env["vault_s3_region_name"] == "us-west-2" && env["helper_command"] != nil, "the original's environment")
        let again = try #require(await reply(world, Self.request()))
        #expect(again.successMsg == "Already mounted at \(Self.path)" && again.pid == 42)
        #expect(world.targets.state.withLock { $0.spawned.count } == 1)
        world.targets.state.withLock {
            $0.mounted = [:]
            $0.alreadyRunning = true
        }
        #expect(
            await reply(world, Self.request())?.successMsg == "Already mounted at \(Self.path)",
            "the manager's own idempotence")
    }

    @Test func theSecretsPayloadReachesTheFuseAndNeverTheReply() async throws {
        var world = World()
        world.secrets.payload = [
            "aws_access_key_id": "AKIA1234", "aws_secret_access_key": "very-secret-key", "bucket": "b1",
        ]
        world.targets.state.withLock {
            $0.spawnError = VaultFuseError(
                .exitedBeforeMount, "s3vaultfuse exited with status 3 (key very-secret-key refused)",
                logTail: "auth AKIA1234 / very-secret-key failed for token tok-123456")
        }
        let r = try #require(
            await reply(world, Self.request(token: "tok-123456", secretRef: "http://barbican/v1/secrets/1")))
        let env = try #require(world.targets.state.withLock { $0.spawned.first?.1 })
        #expect(env["AWS_SECRET_ACCESS_KEY"] == "very-secret-key" && env["vault_s3_bucket"] == "b1")
        #expect(r.code == .spawnFailed && r.mountPath == Self.path)
        for text in [r.errorMsg ?? "", r.detail ?? ""] {
            #expect(
                !text.contains("very-secret-key") && !text.contains("AKIA1234") && !text.contains("tok-123456")
                    && text.contains("***"), "\(text)")
        }
    }

    @Test(arguments: [
        (VaultFuseError.Code.mountTimeout, ReplyCode.mountTimeout), (.spawnFailed, .spawnFailed),
        (.pidFileFailed, .spawnFailed),
        (.conflict, .conflict), (.io, .internalError), (.lockHeld, .internalError),
    ])
    func spawnFailuresMapToReplyCodes(failure: VaultFuseError.Code, code: ReplyCode) async throws {
        let world = World()
        world.targets.state.withLock { $0.spawnError = VaultFuseError(failure, "it failed") }
        let r = try #require(await reply(world, Self.request()))
        #expect(r.status == .error && r.code == code && r.errorMsg == "it failed")
    }

    @Test func credentialsThatCannotBeFetchedNameTheCauseWithoutTheToken() async throws {
        var world = World()
        world.secrets.failure = "GET https://barbican/v1/secrets/1 answered HTTP 401 for token tok-abcdef"
        let r = try #require(
            await reply(world, Self.request(token: "tok-abcdef", secretRef: "https://barbican/v1/secrets/1")))
        #expect(
            r.code == .credentialsFailed
                && r.errorMsg
                    == "Failed to fetch credentials: GET https://barbican/v1/secrets/1 answered HTTP 401 for token ***"
        )
        #expect(world.targets.state.withLock { $0.spawned.isEmpty })
    }

    @Test func s3UnmountStopsRemovesTheEmptyDirectoryOrSaysNotMounted() async throws {
        let world = World()
        _ = await reply(world, Self.request())
        let stopped = try #require(await reply(world, Self.request("unmount")))
        #expect(stopped.successMsg == "Target unmounted successfully from \(Self.path)" && stopped.pid == 42)
        #expect(world.directories.removed.withLock { $0 } == [Self.path])
        let notMounted = try #require(await reply(world, Self.request("unmount")))
        #expect(notMounted.successMsg == "Target not mounted at \(Self.path)" && notMounted.code == .ok)
        #expect(world.targets.state.withLock { $0.clearedStale } == [Self.path], "a dead mount left there is cleared")
        #expect(world.directories.removed.withLock { $0 } == [Self.path], "nothing unmounted, nothing removed")
    }

    @Test func s3UnmountFailuresSayWhy() async throws {
        let world = World()
        world.targets.state.withLock { $0.stopError = VaultFuseError(.unmountBusy, "EBUSY") }
        let busy = try #require(await reply(world, Self.request("unmount")))
        #expect(busy.code == .unmountBusy && busy.errorMsg == "Unmount failed: \(Self.path) is busy")
        world.targets.state.withLock { $0.stopError = VaultFuseError(.unmountFailed, "umount2: EINVAL") }
        let failed = try #require(await reply(world, Self.request("unmount")))
        #expect(failed.code == .unmountFailed && failed.errorMsg == "Unmount error: umount2: EINVAL")
    }

    // MARK: NFS

    @Test func nfsInputIsCheckedBeforeAnyMount() async throws {
        let world = World()
        let noExport = try #require(await reply(world, Self.request(type: "nfs")))
        #expect(noExport.code == .invalidRequest && noExport.errorMsg == "Missing filesystem_export for NFS mount")
        let dangerous = try #require(
            await reply(world, Self.request(type: "nfs", export: "10.0.0.5:/b", options: "rw,exec")))
        #expect(dangerous.code == .invalidRequest)
        #expect(world.directories.prepared.withLock { $0.isEmpty })
    }

    @Test func nfsMountAndUnmountWithEveryText() async throws {
        let world = World()
        let mount = {
            await self.reply(world, Self.request(type: "nfs", export: "10.0.0.5:/backups", options: "nolock,soft"))
        }
        #expect(await mount()?.successMsg == "NFS target mounted successfully at \(Self.path)")
        #expect(world.directories.prepared.withLock { $0 } == [Self.path])
        #expect(await mount()?.successMsg == "Already mounted at \(Self.path)")
        let unmount = { await self.reply(world, Self.request("unmount", type: "nfs")) }
        #expect(await unmount()?.successMsg == "Target unmounted successfully from \(Self.path)")
        #expect(world.directories.removed.withLock { $0 } == [Self.path])
        #expect(await unmount()?.successMsg == "Target not mounted at \(Self.path)")
        world.nfs.table.withLock { $0[Self.path] = "ext4" }
        let conflict = try #require(await mount())
        #expect(conflict.code == .conflict && conflict.errorMsg == "Mount path \(Self.path) already holds a ext4 mount")
        #expect(await unmount()?.successMsg == "Target not mounted at \(Self.path)", "not an NFS mount: left alone")
        world.nfs.table.withLock { $0 = [:] }
        world.nfs.result.withLock { $0 = (32, "mount.nfs: Connection timed out") }
        let failed = try #require(await mount())
        #expect(failed.code == .mountFailed && failed.errorMsg == "NFS mount failed: mount.nfs: Connection timed out")
        world.nfs.table.withLock { $0[Self.path] = "nfs" }
        let stuck = try #require(await unmount())
        #expect(stuck.code == .unmountFailed && stuck.errorMsg == "Unmount failed: mount.nfs: Connection timed out")
    }
}
