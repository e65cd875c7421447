import AMQP
import FoundationEssentials
import Glibc
import LinuxSupport

/// Every job the agent has taken from the broker, kept in `<pid-dir>/.jobs/` so that the broker's delivery can be
/// acked at once (its ack timeout never runs while a job waits its turn, a hung fuse or an alarm) and so that the
/// job is still known after a reconnect or an agent restart. The PID directory is tmpfs by default: the journal
/// survives the agent, not the node (whose mounts do not survive either).
///
/// One file per job, `<seq>.job`, created in one write and then only appended to, one line per step, so a SIGKILL
/// at any point leaves a file that reads as the last whole step:
///
///     dms-job 1 <redelivered> <delivery-count|-> <identity|-> <properties> <body>   accepted (the delivery is then acked)
///     started                                                                        the effect begins
///     death <jobs in flight>                                                         written at the next start
///     reply <json>                                                                   the reply, before it is published
///
/// Once the broker confirms the reply the job's identity goes to `answered` (append-only, the last
/// `answeredCapacity` kept) and its file is deleted: the request and any token in it leave the node.
final class JobJournal: Sendable {
    /// A job as read back from its file.
    struct Entry: Sendable {
        let seq: UInt64
        let delivery: AMQPDelivery
        let identity: String?
        /// Deliveries the broker counted before this one (`x-delivery-count`), when the queue carries it.
        let deliveryCount: Int
        var started = 0
        /// Attempts that ended without a reply: the agent died (or stopped) during them.
        var deaths = 0
        /// Deaths of the agent during this job's attempts while no other job ran: the ones that prove it is the
        /// job that kills the agent.
        var soloDeaths = 0
        var reply: [UInt8]?
        /// Set by `recover`: this job's attempt was running when the last agent ended.
        var runningAtDeath = false
        /// Started and neither answered nor replied when the agent died.
        var wasInFlight: Bool { started > deaths && reply == nil }
    }

    enum Admission: Equatable {
        case accepted(seq: UInt64)
        /// The same job (same identity) is already in the journal, waiting, running or awaiting its confirm.
        case copyOfPending(seq: UInt64)
        /// The same job was answered and the broker confirmed the reply.
        case copyOfAnswered
        /// The journal cannot be written: the caller keeps the delivery unacked (the broker's copy is the record).
        case unwritable(String)
    }

    private struct State {
        var nextSeq: UInt64 = 1
        var pending: [String: UInt64] = [:]
        var identities: [UInt64: String] = [:]
        var answered: Set<String> = []
        var answeredOrder: [String] = []
        var answeredLines = 0
        var running: Set<UInt64> = []
        /// Jobs accepted and not yet answered.
        var live = 0
    }

    let directory: String
    private let answeredCapacity: Int
    private let state = Locked(State())
    /// The answered log, opened once (O_APPEND) and again after each compaction.
    private let answeredLog = Locked<Int32>(-1)
    private var answeredPath: String { directory + "/answered" }

    init(pidDirectory: String, answeredCapacity: Int = 4096) throws(AgentError) {
        directory = pidDirectory + "/.jobs"
        self.answeredCapacity = answeredCapacity
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw AgentError(.pidDirectoryUnusable, "Cannot create the job journal \(directory): \(Errno.current)")
        }
        chmod(directory, 0o700)
    }

    /// What makes two deliveries the same job: the requester's reply queue and correlation id (the original
    /// client makes a new uuid for every call) or the message id, and the body. A request with neither id has
    /// no identity: it is never taken for another, and a broker's copy of it is run again (idempotent per target).
    static func identity(of delivery: AMQPDelivery) -> String? {
        let p = delivery.properties
        let key: String
        if let c = p.correlationID, !c.isEmpty {
            key = "c\u{0}\(p.replyTo ?? "")\u{0}\(c)"
        } else if let m = p.messageID, !m.isEmpty {
            key = "m\u{0}\(m)"
        } else {
            return nil
        }
        var bytes = Array(key.utf8)
        bytes.append(0)
        bytes.append(contentsOf: delivery.body)
        return hex(fnv1a(bytes, basis: 0xcbf2_9ce4_8422_2325)) + hex(fnv1a(bytes, basis: 0x84222325_cbf29ce4))
    }

    /// The broker's count of earlier deliveries (quorum queues), 0 when the queue carries none.
    static func deliveryCount(of delivery: AMQPDelivery) -> Int {
        switch delivery.properties.headers["x-delivery-count"] {
        case .int(let n): Int(clamping: n)
        default: 0
        }
    }

    // MARK: Recovery

    /// Reads every job file back, in the order they were accepted, and loads the answered identities. The jobs
    /// that were running when the agent died get a `death` line naming how many ran: a death while a job ran
    /// alone is counted against it. Call once, before `admit`.
    func recover() -> [Entry] {
        var loaded: [String] = []
        if case .success(let bytes) = FileContents.read(answeredPath, limit: 1 << 24) {
            loaded = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        var entries: [Entry] = []
        for name in Self.jobFiles(in: directory) {
            guard let seq = UInt64(name.dropLast(4), radix: 16) else { continue }
            let path = "\(directory)/\(name)"
            guard case .success(let bytes) = FileContents.read(path, limit: 1 << 24),
                let entry = Self.parse(bytes, seq: seq)
            else {
                // Killed between create and write: its delivery was never acked, so the broker still holds it.
                unlink(path)
                continue
            }
            entries.append(entry)
        }
        entries.sort { $0.seq < $1.seq }
        let inFlight = entries.filter(\.wasInFlight).count
        for i in entries.indices where entries[i].wasInFlight {
            append("death \(inFlight)\n", to: entries[i].seq)
            entries[i].deaths += 1
            entries[i].runningAtDeath = true
            if inFlight == 1 { entries[i].soloDeaths += 1 }
        }
        let answeredSet = Set(loaded)
        state.withLock { s in
            s.answeredOrder = Array(loaded.suffix(answeredCapacity))
            s.answered = Set(s.answeredOrder)
            s.answeredLines = loaded.count
            for e in entries {
                s.nextSeq = max(s.nextSeq, e.seq + 1)
                guard let id = e.identity else { continue }
                s.identities[e.seq] = id
                s.pending[id] = e.seq
            }
        }
        // Answered but not yet deleted (killed between the two): the confirm came, nothing is left to do.
        let unfinished = entries.filter { e in
            guard let id = e.identity, answeredSet.contains(id) else { return true }
            forget(e.seq, identity: id)
            return false
        }
        state.withLock { $0.live = unfinished.count }
        return unfinished
    }

    static func jobFiles(in directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasSuffix(".job") { names.append(name) }
        }
        return names
    }

    // MARK: Steps

    /// Records a delivery as accepted, unless it is a copy of a job already known.
    func admit(_ delivery: AMQPDelivery) -> Admission {
        let identity = Self.identity(of: delivery)
        let admission = state.withLock { s -> Admission in
            if let identity {
                if let seq = s.pending[identity] { return .copyOfPending(seq: seq) }
                if s.answered.contains(identity) { return .copyOfAnswered }
            }
            defer { s.nextSeq += 1 }
            s.live += 1
            let seq = s.nextSeq
            if let identity {
                s.pending[identity] = seq
                s.identities[seq] = identity
            }
            return .accepted(seq: seq)
        }
        guard case .accepted(let seq) = admission else { return admission }
        let header = Self.header(delivery, identity: identity, deliveryCount: Self.deliveryCount(of: delivery))
        let fd = open(path(seq), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 {
            let written = header.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            if written == header.count { return admission }
        }
        let error = "cannot write \(path(seq)): \(Errno.current)"
        unlink(path(seq))
        state.withLock { s in
            if let identity, s.pending[identity] == seq { s.pending[identity] = nil }
            s.identities[seq] = nil
            s.live -= 1
        }
        return .unwritable(error)
    }

    /// The effect is about to begin.
    func started(_ seq: UInt64) {
        state.withLock { _ = $0.running.insert(seq) }
        append("started\n", to: seq)
    }

    /// A graceful stop whose grace ran out: the attempts still running were cut short by the stop, not by their
    /// job, and must not count towards its limit (`death 0`).
    func interruptRunning() {
        for seq in state.withLock({ $0.running }) { append("death 0\n", to: seq) }
    }

    /// The reply, before it is published: should the agent die before the confirm, the same reply goes again.
    func replied(_ seq: UInt64, _ body: [UInt8]) {
        state.withLock { _ = $0.running.remove(seq) }
        append("reply \(Data(body).base64EncodedString())\n", to: seq)
    }

    /// The broker confirmed the reply (or there is none to send): a copy of this job is acked and never answered.
    func answered(_ seq: UInt64) {
        let identity = state.withLock { $0.identities[seq] }
        if let identity {
            let line = Array((identity + "\n").utf8)
            // The log's lock is held across the append and the in-memory insert, and across a compaction's snapshot
            // and rename (lock order: log, then state), so the file never loses an identity to a compaction.
            answeredLog.withLock { fd in
                if fd < 0 { fd = open(answeredPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600) }
                if fd >= 0 { _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
                // Answered before no longer pending: a copy arriving in between is never taken for a new job.
                guard let compact = rememberAnswered(identity) else { return }
                if rewriteAnsweredLog(compact) {
                    if fd >= 0 { close(fd) }
                    fd = -1
                }
            }
        }
        forget(seq, identity: identity)
    }

    /// Jobs accepted and not yet answered.
    var pendingCount: Int { state.withLock { $0.live } }

    // MARK: Files

    private func forget(_ seq: UInt64, identity: String?) {
        unlink(path(seq))
        state.withLock { s in
            s.identities[seq] = nil
            s.running.remove(seq)
            s.live -= 1
            if let identity, s.pending[identity] == seq { s.pending[identity] = nil }
        }
    }

    /// Remembers the identity; returns the identities to keep when the log has grown to twice the capacity.
    private func rememberAnswered(_ identity: String) -> [String]? {
        state.withLock { s -> [String]? in
            s.answered.insert(identity)
            s.answeredOrder.append(identity)
            s.answeredLines += 1
            if s.answeredOrder.count > answeredCapacity {
                let dropped = s.answeredOrder.count - answeredCapacity
                s.answeredOrder.prefix(dropped).forEach { s.answered.remove($0) }
                s.answeredOrder.removeFirst(dropped)
            }
            guard s.answeredLines > 2 * answeredCapacity else { return nil }
            s.answeredLines = s.answeredOrder.count
            return s.answeredOrder
        }
    }

    /// Rare (every `answeredCapacity` jobs): the log rewritten with the identities still remembered. True when the
    /// new file replaced the old one.
    private func rewriteAnsweredLog(_ identities: [String]) -> Bool {
        let bytes = Array(identities.map { $0 + "\n" }.joined().utf8)
        return (try? FileContents.writeAtomically(bytes, to: answeredPath, mode: 0o600)) != nil
    }

    private func path(_ seq: UInt64) -> String { "\(directory)/\(String(seq, radix: 16)).job" }

    private func append(_ line: String, to seq: UInt64) {
        let fd = open(path(seq), O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { return }
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    // MARK: Format

    private static func b64(_ s: String?) -> String { s.map { Data($0.utf8).base64EncodedString() } ?? "-" }
    private static func unb64(_ s: Substring) -> String? {
        s == "-" ? nil : Data(base64Encoded: String(s)).map { String(decoding: $0, as: UTF8.self) }
    }

    static func header(_ d: AMQPDelivery, identity: String?, deliveryCount: Int) -> [UInt8] {
        let p = d.properties
        let fields = [
            "dms-job", "1", d.redelivered ? "1" : "0", "\(deliveryCount)", identity ?? "-",
            b64(p.correlationID), b64(p.replyTo), b64(p.messageID), b64(p.userID), p.timestamp.map { "\($0)" } ?? "-",
            d.body.isEmpty ? "-" : Data(d.body).base64EncodedString(), b64(d.exchange), b64(d.routingKey),
        ]
        return Array((fields.joined(separator: " ") + "\n").utf8)
    }

    static func parse(_ bytes: [UInt8], seq: UInt64) -> Entry? {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        guard let first = lines.first else { return nil }
        let f = first.split(separator: " ", omittingEmptySubsequences: false)
        guard f.count == 13, f[0] == "dms-job", f[1] == "1", let count = Int(f[3]) else { return nil }
        let body: [UInt8]
        if f[10] == "-" {
            body = []
        } else {
            guard let data = Data(base64Encoded: String(f[10])) else { return nil }
            body = Array(data)
        }
        let properties = AMQPProperties(
            correlationID: unb64(f[5]), replyTo: unb64(f[6]), messageID: unb64(f[7]), timestamp: UInt64(f[9]),
            userID: unb64(f[8]))
        let delivery = AMQPDelivery(
            body: body, properties: properties, deliveryTag: 0, redelivered: f[2] == "1",
            exchange: unb64(f[11]) ?? "", routingKey: unb64(f[12]) ?? "", generation: 0)
        var entry = Entry(
            seq: seq, delivery: delivery, identity: f[4] == "-" ? nil : String(f[4]), deliveryCount: count)
        // Only whole lines count: a line cut short by a crash of the node itself is ignored.
        let complete = bytes.last == UInt8(ascii: "\n") ? lines.count : lines.count - 1
        for line in lines.prefix(complete).dropFirst() {
            if line == "started" {
                entry.started += 1
            } else if line.hasPrefix("death ") {
                entry.deaths += 1
                if line == "death 1" { entry.soloDeaths += 1 }
            } else if line.hasPrefix("reply "), let data = Data(base64Encoded: String(line.dropFirst(6))) {
                entry.reply = Array(data)
            }
        }
        return entry
    }

    private static func fnv1a(_ bytes: [UInt8], basis: UInt64) -> UInt64 {
        var hash = basis
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return hash
    }

    private static func hex(_ value: UInt64) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
