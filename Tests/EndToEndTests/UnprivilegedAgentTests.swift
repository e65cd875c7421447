import DMSWire
import Foundation
import TestSupport
import Testing
import VaultFuse

/// The agent as sunbeam runs the shipped server, `User=nova`: its fuses mount through the setuid fusermount3.
@Suite(.onTheBlockingPool, .serialized, .timeLimit(.minutes(5)), .needsEverything)
struct UnprivilegedAgentTests {
    static let user = "dmsnova"

    /// A system user like nova (created once, kept: other runs reuse it), and its uid and gid.
    static func ensureUser() throws -> (uid: Int, gid: Int) {
        if Proc.shell("id -u \(user)").status != 0 {
            let made = Proc.shell("useradd --system --no-create-home --shell /usr/sbin/nologin \(user) 2>&1")
            try #require(made.status == 0, "useradd: \(made.output)")
        }
        let uid = try #require(Int(Proc.shell("id -u \(user)").output.trimmingCharacters(in: .whitespacesAndNewlines)))
        let gid = try #require(Int(Proc.shell("id -g \(user)").output.trimmingCharacters(in: .whitespacesAndNewlines)))
        return (uid, gid)
    }

    static func owner(of pid: Int32) -> Int? {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { return nil }
        return Int(line.split(separator: "\t").dropFirst().first ?? "")
    }

    @Test func mountsAdoptsAfterARestartAndUnmountsWithoutRoot() async throws {
        let (uid, gid) = try Self.ensureUser()
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        for dir in [box.pidDir, box.mountBase, box.logDir] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        #expect(Proc.shell("chown -R \(uid):\(gid) \(box.root)").status == 0)
        let launcher = ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--"]
        let node = "nova-\(UUID().uuidString.prefix(8).lowercased())"
        let path = box.mountPath("u1")
        // doctor, as that user, names what an unprivileged agent needs.
        let doctor = {
            Proc.shell(
                "\(launcher.joined(separator: " ")) \(AgentProcess.binary) doctor --rabbitmq-url \(TestEnv.amqpURL) "
                    + "--node-id \(node) --pid-dir \(box.pidDir) --mount-base \(box.mountBase) "
                    + "--s3vaultfuse-bin \(TestEnv.fakeFuse) --metrics-listen none 2>&1"
            ).output
        }
        // Without udev (this machine) /dev/fuse is root's only: doctor says so, then it is made as udev makes it.
        let mode = Proc.shell("stat -c %a /dev/fuse").output.trimmingCharacters(in: .whitespacesAndNewlines)
        if mode != "666" {
            let before = doctor()
            #expect(before.contains("/dev/fuse: cannot open: Permission denied"), "\(before)")
            #expect(before.contains("chmod 0666 /dev/fuse"), "\(before)")
            #expect(Proc.shell("chmod 0666 /dev/fuse").status == 0)
        }
        defer { if mode != "666" { _ = Proc.shell("chmod \(mode) /dev/fuse") } }
        // s3vaultfuse mounts with allow_other (bindfs too, as a user): fusermount3 wants user_allow_other. The shipped
        // image and s3vaultfuse itself write it; here doctor names it first, then it is written and later restored.
        let fuseConf = (try? String(contentsOfFile: "/etc/fuse.conf", encoding: .utf8))
        if !(fuseConf ?? "").split(separator: "\n").contains("user_allow_other") {
            let before = doctor()
            #expect(before.contains("/etc/fuse.conf") && before.contains("no user_allow_other"), "\(before)")
            try ((fuseConf ?? "") + "\nuser_allow_other\n").write(
                toFile: "/etc/fuse.conf", atomically: true, encoding: .utf8)
        }
        defer {
            if let fuseConf {
                try? fuseConf.write(toFile: "/etc/fuse.conf", atomically: true, encoding: .utf8)
            } else {
                try? FileManager.default.removeItem(atPath: "/etc/fuse.conf")
            }
        }

        let first = AgentProcess(nodeID: node, box: box)
        first.launcher = launcher
        let fusePID: Int32 = try await withAgent(first) { agent, requester in
            #expect(Self.owner(of: agent.pid) == uid, "the agent runs as \(Self.user)")
            let reply = try await requester.call(
                Requester.body(action: "mount", node: node, target: "u1", path: path), node: node)
            #expect(reply?.successMsg == "S3 target mounted successfully at \(path)", "\(agent.log())")
            let pid = try #require(reply?.pid)
            #expect(Self.owner(of: pid) == uid, "its fuse too")
            #expect(MountTable.fuseMount(at: path) != nil)
            return pid
        }
        #expect(Proc.isLive(fusePID) && MountTable.fuseMount(at: path) != nil, "the fuse outlives its agent")

        let second = AgentProcess(nodeID: node, box: box)
        second.launcher = launcher
        try await withAgent(second) { agent, requester in
            #expect(await eventually { agent.log().contains("adopted") }, "\(agent.log())")
            let status = try await requester.call(Requester.body(action: "status", node: node), node: node)
            #expect(status?.status == .success)
            let reply = try await requester.call(
                Requester.body(action: "unmount", node: node, target: "u1", path: path), node: node)
            #expect(reply?.successMsg == "Target unmounted successfully from \(path)", "\(agent.log())")
        }
        #expect(MountTable.mount(at: path) == nil)
        #expect(await eventually { !Proc.isLive(fusePID) }, "the adopted fuse was stopped")

        let after = doctor()
        #expect(after.contains("fusermount3: /usr/bin/fusermount3, setuid root"), "\(after)")
        #expect(after.contains("/etc/fuse.conf"), "\(after)")
        #expect(after.contains("/dev/fuse: usable"), "\(after)")
    }
}
