import AMQP
package import DMSAgentCore
import DMSWire
import FoundationEssentials
import Glibc
import LinuxSupport
import VaultFuse

/// `dms-agent doctor`: the checks, in the order an operator would walk them. Read-only (passive declares only).
package struct NodeDoctor: Sendable {
    let config: AgentConfiguration
    let listen: String

    package init(configuration: AgentConfiguration, metricsListen: String) {
        config = configuration
        listen = metricsListen
    }

    /// Every check, run on the blocking pool (sockets, /proc, stat).
    package func checks() async -> [DoctorCheck] { await BlockingPool.run { all() } }

    func all() -> [DoctorCheck] {
        let report = DirectoryReport.read(config.vaultFuse)
        return broker() + queue(agentRunning: report.agentRunning) + exchanges() + [nodeID(), pidDirectory(report)]
            + leftAlone(report) + mountBases() + [fuseDevice(), sandbox()] + binary() + [
                barbican(), metricsPort(agentRunning: report.agentRunning),
            ]
    }

    func barbican() -> DoctorCheck {
        guard let url = config.barbicanURL else {
            return DoctorCheck(
                check: "barbican", verdict: .ok,
                detail: "not checked: no barbican_url (requests name their own secret_ref)")
        }
        let client = BarbicanClient(
            timeout: .seconds(5), verifyTLS: config.barbicanVerifyTLS, caBundle: config.barbicanCABundle)
        let trust =
            !url.lowercased().hasPrefix("https")
            ? ""
            : !config.barbicanVerifyTLS
                ? ", certificate NOT verified (barbican_ssl_verify = false)"
                : ", certificate verified with \(config.barbicanCABundle ?? "the system CA store")"
        switch client.probe(url) {
        case .success(let status):
            return DoctorCheck(check: "barbican", verdict: .ok, detail: "\(url) answers (HTTP \(status))\(trust)")
        case .failure(let failure):
            return DoctorCheck(
                check: "barbican", verdict: .fail, detail: "\(url): \(failure.message) [\(failure.code)]",
                fix: failure.code == .tls
                    ? "set barbican_ca_bundle to the CA that signed Barbican's certificate (or use the name it carries)"
                    : "check barbican_url, DNS and the firewall between this node and Barbican")
        }
    }

    func broker() -> [DoctorCheck] {
        config.amqp.endpoints.map { endpoint in
            let name = "broker \(endpoint.host):\(endpoint.port)"
            do {
                try AMQPInspector.login(config.amqp, endpoint: endpoint)
                return DoctorCheck(
                    check: name, verdict: .ok,
                    detail:
                        "reachable, logged in as \(endpoint.username ?? config.amqp.username) on vhost \(config.amqp.virtualHost)\(config.amqp.tls != nil ? ", TLS verified" : "")"
                )
            } catch let error as AMQPError {
                let text = "\(error)"
                let fix: String
                switch error.replyCode {
                case 403:
                    fix =
                        "the broker refused the user or password: rabbitmqctl authenticate_user <user> <password>; check rabbitmq_url / transport_url"
                case 530:
                    fix =
                        "vhost \(config.amqp.virtualHost) does not exist or the user has no access: rabbitmqctl add_vhost / set_permissions -p <vhost>"
                default:
                    fix =
                        text.contains("verif") || text.contains("SSL")
                        ? "the broker's certificate does not verify: set ssl_ca_file to the CA that issued it (and use the address it names)"
                        : "cannot reach the broker: check the host, the port, a firewall, and that RabbitMQ listens there"
                }
                return DoctorCheck(check: name, verdict: .fail, detail: text, fix: fix)
            } catch {
                return DoctorCheck(check: name, verdict: .fail, detail: "\(error)", fix: "cannot reach the broker")
            }
        }
    }

    func queue(agentRunning: Bool) -> [DoctorCheck] {
        let name = "queue \(config.requestQueue)"
        guard let expected = config.consumerTopology.queues.first(where: { $0.name == config.requestQueue }) else {
            return []
        }
        let state: AMQPInspector.QueueState?
        do { state = try AMQPInspector.queue(config.amqp, expected) } catch {
            return [
                DoctorCheck(
                    check: name, verdict: .fail, detail: "cannot look: \(error)",
                    fix: "fix the broker checks above first")
            ]
        }
        guard let state else {
            return [
                DoctorCheck(
                    check: name, verdict: agentRunning ? .fail : .warn,
                    detail:
                        "does not exist: requests the orchestrator sends to it are dropped or wait in a queue nobody reads",
                    fix: agentRunning
                        ? "the running agent cannot declare it: see its /readyz"
                        : "start dms-agent (it declares the queue)")
            ]
        }
        var checks: [DoctorCheck] = []
        if let difference = state.difference {
            checks.append(
                DoctorCheck(
                    check: name + " type", verdict: .fail,
                    detail:
                        "declared with other properties than configured (\(config.queueType.rawValue)): \(difference)",
                    fix:
                        "set rabbitmq_queue_type to the type the other declarers use (the original client: classic; the shipped one: quorum), or recreate the queue"
                ))
        } else {
            checks.append(
                DoctorCheck(
                    check: name + " type", verdict: .ok,
                    detail: "\(config.queueType.rawValue), as configured; \(state.messages) message(s) waiting"))
        }
        switch (state.consumers, agentRunning) {
        case (0, false):
            checks.append(
                DoctorCheck(
                    check: name + " consumers", verdict: .warn,
                    detail: "0: no agent serves node \(config.nodeID); its requests wait",
                    fix: "start dms-agent"))
        case (0, true):
            checks.append(
                DoctorCheck(
                    check: name + " consumers", verdict: .fail, detail: "0 although this agent runs",
                    fix: "see the agent's /readyz and log: it is not consuming"))
        case (let n, false):
            checks.append(
                DoctorCheck(
                    check: name + " consumers", verdict: .fail,
                    detail:
                        "\(n) while this agent is not running: another agent or the old Python server uses node id \(config.nodeID)",
                    fix:
                        "stop the other consumer (rabbitmqctl list_consumers shows its connection) before starting this agent"
                ))
        case (1, true):
            checks.append(DoctorCheck(check: name + " consumers", verdict: .ok, detail: "1 (this agent)"))
        case (let n, true):
            checks.append(
                DoctorCheck(
                    check: name + " consumers", verdict: .fail,
                    detail:
                        "\(n): besides this agent, another agent or the old Python server shares node id \(config.nodeID)",
                    fix: "stop the other consumer (rabbitmqctl list_consumers shows its connection)"))
        }
        checks.append(
            DoctorCheck(
                check: name + " binding", verdict: .warn,
                detail:
                    "AMQP cannot list bindings; the agent binds it to \(config.requestExchange) with key \(config.requestQueue) when it starts",
                fix: "rabbitmqctl list_bindings | grep \(config.requestQueue)"))
        return checks
    }

    func exchanges() -> [DoctorCheck] {
        [config.requestExchange, config.statusExchange].map { exchange in
            let name = "exchange \(exchange)"
            do {
                return try AMQPInspector.exchangeExists(config.amqp, exchange)
                    ? DoctorCheck(check: name, verdict: .ok, detail: "exists")
                    : DoctorCheck(
                        check: name, verdict: .warn, detail: "does not exist",
                        fix:
                            "the agent declares it (topic, durable) when allowed; with a per-node user, the operator declares it once"
                    )
            } catch {
                return DoctorCheck(
                    check: name, verdict: .fail, detail: "cannot look: \(error)",
                    fix: "fix the broker checks above first")
            }
        }
    }

    func nodeID() -> DoctorCheck {
        let short = Self.hostName(full: false)
        let full = Self.hostName(full: true)
        if config.nodeID == full {
            return DoctorCheck(check: "node id", verdict: .ok, detail: "\(config.nodeID) = hostname -f")
        }
        if config.nodeID == short {
            return DoctorCheck(check: "node id", verdict: .ok, detail: "\(config.nodeID) = hostname -s")
        }
        return DoctorCheck(
            check: "node id", verdict: .fail,
            detail:
                "\(config.nodeID) is neither hostname -f (\(full)) nor hostname -s (\(short)); the orchestrator addresses nova's host name",
            fix: "set node_id to the host name nova reports for this node (openstack compute service list)")
    }

    func pidDirectory(_ report: DirectoryReport) -> DoctorCheck {
        let dir = config.vaultFuse.pidDirectory
        var st = stat()
        guard stat(dir, &st) == 0 else {
            let parent = parentDirectory(of: dir)
            return access(parent, W_OK) == 0
                ? DoctorCheck(
                    check: "pid directory", verdict: .ok, detail: "\(dir) does not exist yet; the agent creates it")
                : DoctorCheck(
                    check: "pid directory", verdict: .fail,
                    detail: "\(dir) does not exist and \(parent) is not writable",
                    fix: "create it (systemd: RuntimeDirectory=dms dms/s3)")
        }
        if access(dir, W_OK) != 0 {
            return DoctorCheck(
                check: "pid directory", verdict: .fail, detail: "\(dir) is not writable",
                fix: "chown it to the agent's user")
        }
        let tmpfs = MountTable.containing(dir)?.fsType == "tmpfs"
        let lock = report.agentRunning ? "; locked by a running dms-agent" : ""
        return tmpfs
            ? DoctorCheck(check: "pid directory", verdict: .ok, detail: "\(dir), tmpfs, writable\(lock)")
            : DoctorCheck(
                check: "pid directory", verdict: .warn,
                detail: "\(dir) is not on tmpfs: PID files would survive a reboot\(lock)",
                fix: "use /run/dms/s3 (tmpfs), as the original did")
    }

    /// Live mounts and fuses the agent leaves alone because nothing proves them its own: a fuse of a user not in
    /// adopt_users (a Python server's, or a local user's own FUSE at a target path), or a PID file two targets share.
    func leftAlone(_ report: DirectoryReport) -> [DoctorCheck] {
        var seen: Set<String> = []
        var checks: [DoctorCheck] = []
        for entry in report.entries where entry.verdict.hasPrefix("left alone") {
            seen.insert(entry.mountPath ?? "")
            checks.append(
                DoctorCheck(
                    check: "left alone", verdict: .warn,
                    detail:
                        "target \(entry.targetID), PID \(entry.pid.map(String.init) ?? "-"), \(entry.mountPath ?? "-"): \(entry.verdict)",
                    fix: "if it is the replaced server's fuse, add its user to adopt_users; else unmount it yourself"))
        }
        for mount in report.leftAlone where !seen.contains(mount.path) {
            checks.append(
                DoctorCheck(
                    check: "left alone", verdict: .warn, detail: "\(mount.path): \(mount.reason)",
                    fix:
                        "an unmount job for its target takes it down; if its owner's fuses are the agent's, add the user to adopt_users"
                ))
        }
        return checks.isEmpty
            ? [DoctorCheck(check: "left alone", verdict: .ok, detail: "no live mount under the mount base is unproven")]
            : checks
    }

    func mountBases() -> [DoctorCheck] {
        let table = MountTable.read()
        return config.vaultFuse.mountBases.map { base in
            let name = "mount base \(base)"
            var st = stat()
            guard stat(base, &st) == 0 else {
                return DoctorCheck(
                    check: name, verdict: .warn, detail: "does not exist yet; the agent creates it", fix: nil)
            }
            guard let holder = MountTable.containing(base, in: table) else {
                return DoctorCheck(check: name, verdict: .warn, detail: "no mount holds it in /proc/self/mountinfo")
            }
            if holder.propagation.contains(where: { $0.hasPrefix("shared:") }) {
                return DoctorCheck(check: name, verdict: .ok, detail: "below \(holder.mountPoint), shared propagation")
            }
            return DoctorCheck(
                check: name, verdict: .warn,
                detail:
                    "below \(holder.mountPoint) with private propagation: mounts made in a container would not reach the host",
                fix:
                    "mount --make-shared \(holder.mountPoint) (docker: -v \(base):\(base):shared; Kubernetes: mountPropagation: Bidirectional)"
            )
        }
    }

    func fuseDevice() -> DoctorCheck {
        let fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            let denied = errno == EACCES
            return DoctorCheck(
                check: "/dev/fuse", verdict: .fail, detail: "cannot open: \(String(cString: strerror(errno)))",
                fix: denied
                    ? "chmod 0666 /dev/fuse (udev's fuse rule does this; without udev the node is root's only)"
                    : "modprobe fuse; in a container: --device /dev/fuse (or privileged)")
        }
        close(fd)
        return DoctorCheck(check: "/dev/fuse", verdict: .ok, detail: "usable")
    }

    /// What a sandbox refuses that FUSE mounts need: this process's own (doctor run inside the agent's container) and
    /// dms-agent.service's directives as systemd reports them (doctor run from a shell, outside the unit's sandbox).
    func sandbox() -> DoctorCheck {
        let unit = UnitSandbox.read()
        var refusals: [SandboxProbe.Refusal] = []
        for refusal in SandboxProbe.refusals() + (unit?.refusals ?? []) where !refusals.contains(refusal) {
            refusals.append(refusal)
        }
        let scope = unit == nil ? "this process's sandbox" : "this process's sandbox and dms-agent.service's"
        guard refusals.isEmpty else {
            return DoctorCheck(
                check: "sandbox", verdict: .fail, detail: refusals.map(\.description).joined(separator: "; "),
                fix:
                    "docs/operations.md lists the directives the unit needs; look for a drop-in that overrides them: systemctl cat dms-agent"
            )
        }
        return DoctorCheck(check: "sandbox", verdict: .ok, detail: "nothing in \(scope) refuses a FUSE mount")
    }

    func binary() -> [DoctorCheck] {
        let path = config.vaultFuse.binary
        var st = stat()
        guard stat(path, &st) == 0 else {
            return [
                DoctorCheck(
                    check: "s3vaultfuse", verdict: .fail, detail: "\(path) does not exist",
                    fix: "install python3-s3fuse-plugin or set s3vaultfuse_bin")
            ]
        }
        guard access(path, X_OK) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            return [
                DoctorCheck(
                    check: "s3vaultfuse", verdict: .fail, detail: "\(path) is not an executable file",
                    fix: "chmod 755 \(path)")
            ]
        }
        var checks = [DoctorCheck(check: "s3vaultfuse", verdict: .ok, detail: "\(path), executable")]
        if let interpreter = Self.interpreter(of: path) {
            let found =
                interpreter.hasPrefix("/")
                ? (access(interpreter, X_OK) == 0 ? interpreter : nil) : Self.onPath(interpreter)
            checks.append(
                found != nil
                    ? DoctorCheck(check: "s3vaultfuse interpreter", verdict: .ok, detail: found!)
                    : DoctorCheck(
                        check: "s3vaultfuse interpreter", verdict: .fail,
                        detail: "\(interpreter) (from its #! line) is not installed",
                        fix: "install \(interpreter)"))
        }
        if geteuid() != 0 {
            let conf = (try? String(contentsOfFile: "/etc/fuse.conf", encoding: .utf8)) ?? ""
            let allowed = conf.split(separator: "\n").contains { String($0).trimmed == "user_allow_other" }
            checks.append(
                allowed
                    ? DoctorCheck(check: "/etc/fuse.conf", verdict: .ok, detail: "user_allow_other")
                    : DoctorCheck(
                        check: "/etc/fuse.conf", verdict: .fail,
                        detail: "no user_allow_other: s3vaultfuse's allow_other mounts fail for a non-root agent",
                        fix: "echo user_allow_other >> /etc/fuse.conf"))
            checks.append(Self.fusermount())
        }
        return checks
    }

    /// A non-root agent's fuses mount through fusermount3, which must be setuid root.
    static func fusermount() -> DoctorCheck {
        let candidates: [String] = ["/usr/bin/fusermount3", "/bin/fusermount3"]
        let path = candidates.first { access($0, X_OK) == 0 }
        guard let path else {
            return DoctorCheck(
                check: "fusermount3", verdict: .fail,
                detail: "not installed: a non-root agent's fuses cannot mount", fix: "apt install fuse3")
        }
        var st = stat()
        guard stat(path, &st) == 0, st.st_uid == 0, st.st_mode & S_ISUID != 0 else {
            return DoctorCheck(
                check: "fusermount3", verdict: .fail,
                detail: "\(path) is not setuid root: a non-root agent's fuses cannot mount",
                fix: "chown root \(path) && chmod u+s \(path)")
        }
        return DoctorCheck(check: "fusermount3", verdict: .ok, detail: "\(path), setuid root")
    }

    func metricsPort(agentRunning: Bool) -> DoctorCheck {
        guard listen != "none" else { return DoctorCheck(check: "metrics port", verdict: .ok, detail: "off") }
        do {
            close(try HealthEndpoint.listen(on: listen).fd)
            return DoctorCheck(check: "metrics port", verdict: .ok, detail: "\(listen) free")
        } catch {
            return agentRunning
                ? DoctorCheck(check: "metrics port", verdict: .ok, detail: "\(listen) in use, by the running agent")
                : DoctorCheck(
                    check: "metrics port", verdict: .fail, detail: "\(error)", fix: "set metrics_listen to a free port")
        }
    }

    static func hostName(full: Bool) -> String {
        let name = HostName.current
        if !full { return String(name.split(separator: ".").first ?? Substring(name)) }
        var hints = addrinfo()
        hints.ai_flags = AI_CANONNAME
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &result) == 0, let info = result else { return name }
        defer { freeaddrinfo(info) }
        return info.pointee.ai_canonname.map { String(cString: $0) } ?? name
    }

    /// `#!/usr/bin/env python3` → `python3`; `#!/usr/bin/python3 -u` → `/usr/bin/python3`.
    static func interpreter(of path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), text.hasPrefix("#!"),
            let line = text.split(separator: "\n", maxSplits: 1).first
        else { return nil }
        let words = line.dropFirst(2).split(separator: " ").map(String.init)
        guard let first = words.first else { return nil }
        return first.hasSuffix("/env") ? words.dropFirst().first { !$0.hasPrefix("-") } : first
    }

    static func onPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }
}
