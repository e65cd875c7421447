import DMSWire
import Foundation
import TestSupport
import Testing
import VaultFuse

@Suite(.onTheBlockingPool, .timeLimit(.minutes(5)), .needsEverything)
struct RestartAndReplayTests {
    @Test func agentKilledWithJobsQueuedAndOneInFlightAnswersEveryJobAfterRestart() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let agent = AgentProcess(box: box, extraArguments: ["--workers", "2"])
        try await agent.start()
        try await withRequester { requester in
            let node = agent.nodeID
            let jobs: [(String, String)] = [
                ("mount", "slow-a"), ("mount", "b"), ("unmount", "b"), ("mount", "c"), ("mount", "d"), ("unmount", "c"),
            ]
            var ids: [String] = []
            for (action, target) in jobs {
                ids.append(
                    try await requester.send(
                        Requester.body(action: action, node: node, target: target, path: box.mountPath(target)),
                        node: node)
                )
            }
            // slow-a is in flight (spawned, not yet mounted) when the agent dies
            #expect(await eventually { FileManager.default.fileExists(atPath: box.pidDir + "/slow-a.pid") })
            agent.signal(SIGKILL)
            #expect(agent.wait() == 128 + SIGKILL)
            try await agent.start()
            defer { agent.stop() }
            for id in ids { #expect(await requester.reply(id, timeout: 40) != nil, "job \(id) answered") }
            #expect(
                await eventually(timeout: 10) {
                    let p = Proc.fuseProcesses(under: box.mountBase)
                    return p["slow-a"]?.count == 1 && p["b"] == nil && p["c"] == nil && p["d"]?.count == 1
                },
                "each target ends with one process or none, as its last job says: \(Proc.fuseProcesses(under: box.mountBase))"
            )
            let onDisk = Set(
                try FileManager.default.contentsOfDirectory(atPath: box.pidDir).filter { $0.hasSuffix(".pid") })
            #expect(onDisk == ["slow-a.pid", "d.pid"])
            let processes = Proc.fuseProcesses(under: box.mountBase)
            for target in ["slow-a", "d"] {
                let filePID = Int32(
                    (try String(contentsOfFile: box.pidDir + "/\(target).pid", encoding: .utf8)).trimmingCharacters(
                        in: .whitespacesAndNewlines))
                #expect(processes[target] == [filePID!], "PID file matches the one live process")
                #expect(MountTable.fuseMount(at: box.mountPath(target)) != nil)
            }
            #expect(agent.log().contains("adopted"))
            for target in ["slow-a", "d"] {
                _ = try await requester.call(
                    Requester.body(action: "unmount", node: node, target: target, path: box.mountPath(target)),
                    node: node)
            }
            #expect(Proc.fuseProcesses(under: box.mountBase).isEmpty)
        }
    }

    @Test func jobsQueuedWhileTheAgentIsDownReplayInOrder() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let agent = AgentProcess(box: box)
        try await agent.start()  // declares the queue
        agent.stop()
        try await withRequester { requester in
            let node = agent.nodeID
            let plan: [(String, String)] = [
                ("mount", "x"), ("unmount", "x"), ("mount", "x"), ("mount", "y"), ("unmount", "y"),
            ]
            var ids: [String] = []
            for (action, target) in plan {
                ids.append(
                    try await requester.send(
                        Requester.body(action: action, node: node, target: target, path: box.mountPath(target)),
                        node: node)
                )
            }
            try await agent.start()
            defer { agent.stop() }
            var texts: [String] = []
            for id in ids { texts.append(await requester.reply(id)?.successMsg ?? "no reply") }
            #expect(
                texts == [
                    "S3 target mounted successfully at \(box.mountPath("x"))",
                    "Target unmounted successfully from \(box.mountPath("x"))",
                    "S3 target mounted successfully at \(box.mountPath("x"))",
                    "S3 target mounted successfully at \(box.mountPath("y"))",
                    "Target unmounted successfully from \(box.mountPath("y"))",
                ])
            let xOrder = ids[0...2].map { requester.arrivalOrder.firstIndex(of: $0) ?? -1 }
            #expect(xOrder == xOrder.sorted(), "replies for one target arrive in request order")
            #expect(Proc.fuseProcesses(under: box.mountBase).mapValues(\.count) == ["x": 1])
            _ = try await requester.call(
                Requester.body(action: "unmount", node: node, target: "x", path: box.mountPath("x")), node: node)
        }
    }

    @Test func gracefulStopLeavesMountsRunningAndTheNextAgentAdoptsThem() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let agent = AgentProcess(box: box)
        try await agent.start()
        try await withRequester { requester in
            let mount = try await requester.call(
                Requester.body(action: "mount", node: agent.nodeID, target: "keep", path: box.mountPath("keep")),
                node: agent.nodeID)
            let pid = try #require(mount?.pid)
            agent.signal(SIGTERM)
            #expect(agent.wait() == 0, "SIGTERM exits 0")
            #expect(
                Proc.isLive(pid) && MountTable.fuseMount(at: box.mountPath("keep")) != nil,
                "the mount survives the agent")
            #expect(agent.log().contains("every s3vaultfuse keeps running"))
            // a second agent on the same PID directory refuses while one runs
            try await agent.start()
            defer { agent.stop() }
            let second = AgentProcess(nodeID: agent.nodeID + "-b", box: box)
            _ = try? await second.start(waitForConsuming: false)
            #expect(second.wait() != 0)
            #expect(second.log().contains("already manages"))
            let again = try await requester.call(
                Requester.body(action: "mount", node: agent.nodeID, target: "keep", path: box.mountPath("keep")),
                node: agent.nodeID)
            #expect(again?.successMsg == "Already mounted at \(box.mountPath("keep"))" && again?.pid == pid)
            _ = try await requester.call(
                Requester.body(action: "unmount", node: agent.nodeID, target: "keep", path: box.mountPath("keep")),
                node: agent.nodeID)
            #expect(!Proc.exists(pid) || Proc.isZombie(pid))
        }
    }
}

@Suite(.onTheBlockingPool, .serialized, .timeLimit(.minutes(5)), .needsEverything, .disruptive)
struct DisruptiveJobBusTests {
    @Test func brokerRestartInTheMiddleOfARunLosesNoJob() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        try await withAgent(AgentProcess(box: box)) { agent, requester in
            let node = agent.nodeID
            var ids: [String] = []
            var last: [String: String] = [:]
            for round in 0..<4 {
                for t in 0..<5 {
                    let action = round % 2 == 0 ? "mount" : "unmount"
                    last["t\(t)"] = action
                    ids.append(
                        try await requester.send(
                            Requester.body(action: action, node: node, target: "t\(t)", path: box.mountPath("t\(t)")),
                            node: node))
                }
                if round == 1 {
                    #expect(Broker.ctl("stop_app").status == 0)
                    try await Task.sleep(nanoseconds: 1_000_000_000)
                    #expect(Broker.ctl("start_app").status == 0)
                }
            }
            // one more mount per target after the restart
            for t in 0..<5 {
                last["t\(t)"] = "mount"
                ids.append(
                    try await requester.send(
                        Requester.body(action: "mount", node: node, target: "t\(t)", path: box.mountPath("t\(t)")),
                        node: node))
            }
            for id in ids { #expect(await requester.reply(id, timeout: 60) != nil) }
            #expect(
                await eventually {
                    Proc.fuseProcesses(under: box.mountBase).mapValues(\.count) == [
                        "t0": 1, "t1": 1, "t2": 1, "t3": 1, "t4": 1,
                    ]
                },
                "\(Proc.fuseProcesses(under: box.mountBase))")
            #expect(Proc.isLive(agent.pid))
            for t in 0..<5 {
                _ = try await requester.call(
                    Requester.body(action: "unmount", node: node, target: "t\(t)", path: box.mountPath("t\(t)")),
                    node: node
                )
            }
        }
    }
}
