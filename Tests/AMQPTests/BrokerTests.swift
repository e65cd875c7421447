import Foundation
import LinuxSupport
import TestSupport
import Testing

@testable import AMQP

func makeClient(
    _ name: String = "test-\(UUID().uuidString.prefix(8))", topology: AMQPTopology = .init(),
    consumer: AMQPConsumerOptions? = nil, heartbeat: Int = 10, url: String = TestEnv.amqpURL
) throws -> AMQPClient {
    var config = try AMQPConfiguration(url: url)
    config.connectionName = name
    config.heartbeat = heartbeat
    config.reconnectInitialDelay = .milliseconds(200)
    config.reconnectMaxDelay = .seconds(1)
    return AMQPClient(configuration: config, topology: topology, consumer: consumer)
}

func unique(_ prefix: String) -> String { "\(prefix).\(UUID().uuidString.prefix(8))" }

/// Drains a client's deliveries in the background, so tests can wait with a timeout without
/// cancelling the stream's iterator (a cancelled `next()` terminates an AsyncStream).
final class Inbox: Sendable {
    private let task: Task<Void, Never>

    init(_ client: AMQPClient) {
        let box = Box()
        task = Task { for await d in client.deliveries { box.append(d) } }
        self.box = box
    }

    private let box: Box

    final class Box: Sendable {
        let items = Locked<[AMQPDelivery]>([])
        func append(_ d: AMQPDelivery) { items.withLock { $0.append(d) } }
    }

    func next(timeout: Double) async -> AMQPDelivery? {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let d = box.items.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return d }
            try? await Task.sleep(nanoseconds: 2_000_000)
        }
        return nil
    }
}

@Suite(.onTheBlockingPool, .timeLimit(.minutes(3)), .needsBroker)
struct BrokerRoundTripTests {
    @Test func declarePublishConsumeRoundTripCarriesEveryProperty() async throws {
        let queue = unique("rt")
        let exchange = unique("rt-x")
        let topology = AMQPTopology(
            exchanges: [.init(name: exchange, type: "topic")],
            queues: [.make(name: queue, messageTTLMilliseconds: 60_000)],
            bindings: [.init(queue: queue, exchange: exchange, routingKey: "a.#")])
        let client = try makeClient(topology: topology, consumer: .init(queue: queue, prefetch: 5))
        try await client.start(timeout: .seconds(10))
        let inbox = Inbox(client)
        let props = AMQPProperties(
            contentType: "application/json", correlationID: "corr-1", replyTo: "reply.q", messageID: "m-1",
            timestamp: 1_700_000_000, expiration: "60000", type: "job", persistent: true,
            headers: [
                "x-int": .int(42), "x-str": .string("v"), "x-bool": .bool(true),
                "x-nested": .table(["k": .string("n")]),
            ])
        try await client.publish(
            .init(
                exchange: exchange, routingKey: "a.b", body: Array("{\"hello\":1}".utf8), properties: props,
                mandatory: true))
        let delivery = try #require(await inbox.next(timeout: 5))
        #expect(delivery.body == Array("{\"hello\":1}".utf8))
        #expect(delivery.properties == props)
        #expect(delivery.exchange == exchange && delivery.routingKey == "a.b" && !delivery.redelivered)
        #expect(await client.ack(delivery) == .settled)
        #expect(await eventually(every: 0.5) { Broker.queueDepth(queue).map { $0.ready + $0.unacked } == 0 })
        await client.close()
    }

    @Test func unroutableMandatoryMessageIsReportedAndNackIsAnError() async throws {
        let full = unique("full")
        let client = try makeClient(
            topology: .init(queues: [
                .init(name: full, arguments: ["x-max-length": .int(0), "x-overflow": .string("reject-publish")])
            ]))
        try await client.start(timeout: .seconds(10))
        await #expect(throws: AMQPError.self) {
            try await client.publish(.init(routingKey: unique("nobody-listens"), body: [1], mandatory: true))
        }
        do {
            try await client.publish(.init(routingKey: unique("nobody-listens"), body: [1], mandatory: true))
        } catch let error as AMQPError {
            #expect(error.code == .unroutable && error.replyCode == 312)
        }
        // not mandatory: the broker drops it and confirms
        try await client.publish(.init(routingKey: unique("nobody-listens"), body: [1], mandatory: false))
        do {
            try await client.publish(.init(routingKey: full, body: [1]))
            Issue.record("a full reject-publish queue must nack")
        } catch let error as AMQPError {
            #expect(error.code == .publishNacked)
        }
        await client.close()
    }

    @Test func anExistingQueueIsConsumedAsItIsWhateverItsType() async throws {
        let queue = unique("quorum")
        let quorum = try makeClient(
            topology: .init(queues: [.make(name: queue, quorum: true, deadLetterExchange: "dlx", deliveryLimit: 5)]))
        try await quorum.start(timeout: .seconds(10))
        #expect(quorum.topologyReport?.entries.first?.origin == .declared)
        try await quorum.publish(.init(routingKey: queue, body: Array("left behind".utf8)))
        await quorum.close()
        // Passive first: a classic declaration meets the quorum queue, consumes it, and names the difference.
        let classic = try makeClient(topology: .init(queues: [.make(name: queue)]), consumer: .init(queue: queue))
        try await classic.start(timeout: .seconds(10))
        let entry = try #require(classic.topologyReport?.entries.first)
        #expect(entry.origin == .existed)
        #expect(entry.difference?.contains("inequivalent arg") == true)
        let inbox = Inbox(classic)
        let delivery = await inbox.next(timeout: 10)
        #expect(delivery?.body == Array("left behind".utf8))
        await classic.close()
        Broker.ctl("delete_queue \(queue)")
    }

    @Test func aRefusedDeclareIsNotFatalAndIsRetriedUntilAllowed() async throws {
        let user = unique("limited").replacingOccurrences(of: ".", with: "-")
        Broker.ctl("add_user \(user) pw")
        Broker.ctl("set_permissions -p / \(user) '^$' '.*' '.*'")
        defer { Broker.ctl("delete_user \(user)") }
        let queue = unique("needs-configure")
        let url = TestEnv.amqpURL.replacingOccurrences(of: "guest:guest", with: "\(user):pw")
        let client = try makeClient(
            topology: .init(queues: [.make(name: queue)]), consumer: .init(queue: queue), url: url)
        do {
            try await client.start(timeout: .seconds(3))
            Issue.record("a refused declare cannot make the client ready")
        } catch let error as AMQPError {
            #expect(error.code == .timeout)
        }
        let refusal = try #require(client.lastError)
        #expect(refusal.code == .topology && refusal.replyCode == 403)
        #expect(
            refusal.message.contains("queue \"\(queue)\"") && refusal.message.contains("ACCESS_REFUSED")
                && refusal.message.contains("fix:"))
        Broker.ctl("set_permissions -p / \(user) '.*' '.*' '.*'")
        #expect(await eventually(timeout: 15) { client.isConnected })
        #expect(client.topologyReport?.entries.first?.origin == .declared)
        await client.close()
        Broker.ctl("delete_queue \(queue)")
    }

    @Test func prefetchIsHonoured() async throws {
        let queue = unique("prefetch")
        let client = try makeClient(
            topology: .init(queues: [.make(name: queue)]), consumer: .init(queue: queue, prefetch: 3))
        try await client.start(timeout: .seconds(10))
        let inbox = Inbox(client)
        for i in 0..<10 { try await client.publish(.init(routingKey: queue, body: [UInt8(i)])) }
        var held: [AMQPDelivery] = []
        while let d = await inbox.next(timeout: 1.0) { held.append(d) }
        #expect(held.count == 3, "only prefetch-many unacked deliveries arrive")
        for d in held { await client.ack(d) }
        var rest = 0
        while rest < 7, let d = await inbox.next(timeout: 15) {
            rest += 1
            await client.ack(d)
        }
        #expect(rest == 7)
        #expect(await inbox.next(timeout: 0.3) == nil)
        await client.close()
    }

    @Test func nackRequeuesAndRejectDropsFromAnyTask() async throws {
        let queue = unique("nack")
        let client = try makeClient(topology: .init(queues: [.make(name: queue)]), consumer: .init(queue: queue))
        try await client.start(timeout: .seconds(10))
        let inbox = Inbox(client)
        try await client.publish(.init(routingKey: queue, body: [5]))
        let first = try #require(await inbox.next(timeout: 5))
        #expect(await Task.detached { await client.nack(first, requeue: true) }.value == .settled)
        let again = try #require(await inbox.next(timeout: 5))
        #expect(again.redelivered && again.body == [5])
        #expect(await Task.detached { await client.reject(again, requeue: false) }.value == .settled)
        #expect(await inbox.next(timeout: 0.5) == nil)
        #expect(await eventually(every: 0.5) { Broker.queueDepth(queue).map { $0.ready + $0.unacked } == 0 })
        await client.close()
    }

    @Test func tlsConnectionWithThrowawayCA() async throws {
        let queue = unique("tls")
        let url = "amqps://guest:guest@localhost:\(TestEnv.amqpsPort)/?cafile=\(TestEnv.brokerDir)/tls/ca.pem"
        let client = try makeClient(
            topology: .init(queues: [.make(name: queue)]), consumer: .init(queue: queue), url: url)
        try await client.start(timeout: .seconds(10))
        let inbox = Inbox(client)
        try await client.publish(.init(routingKey: queue, body: Array("over tls".utf8)))
        let d = try #require(await inbox.next(timeout: 5))
        #expect(d.body == Array("over tls".utf8))
        await client.ack(d)
        await client.close()
        // an unknown CA is refused
        let untrusted = try makeClient(
            url: "amqps://guest:guest@localhost:\(TestEnv.amqpsPort)/?cafile=/etc/ssl/certs/ca-certificates.crt")
        await #expect(throws: AMQPError.self) { try await untrusted.start(timeout: .seconds(3)) }
        #expect(
            untrusted.lastError?.description.contains("verif") == true, "\(String(describing: untrusted.lastError))")
        await untrusted.close()
    }

    /// SASL EXTERNAL: the broker takes the user from the client certificate's common name.
    @Test func saslExternalLogsInWithTheClientCertificate() async throws {
        Broker.ctl("add_user dms-external unused-\(UUID().uuidString)")
        Broker.ctl("clear_password dms-external")
        Broker.ctl("set_permissions -p / dms-external '.*' '.*' '.*'")
        let tls = "\(TestEnv.brokerDir)/tls"
        let base = "amqps://dms-external@127.0.0.1:\(TestEnv.amqpsPort)/?cafile=\(tls)/ca.pem&login_method=EXTERNAL"
        let client = try makeClient(url: base + "&certfile=\(tls)/client.pem&keyfile=\(tls)/client.key")
        try await client.start(timeout: .seconds(10))
        #expect(client.isConnected)
        await client.close()
        let noCertificate = try makeClient(url: base)
        await #expect(throws: AMQPError.self) { try await noCertificate.start(timeout: .seconds(3)) }
        #expect(
            noCertificate.lastError?.description.contains("EXTERNAL") == true
                || noCertificate.lastError?.replyCode == 403,
            "\(String(describing: noCertificate.lastError))")
        await noCertificate.close()
    }

    /// Kolla issues broker certificates for IP addresses; rabbitmq-c 0.11 matches DNS names only.
    @Test func aCertificateForTheBrokersIPAddressVerifies() async throws {
        let ca = "\(TestEnv.brokerDir)/tls/ca.pem"
        let client = try makeClient(url: "amqps://guest:guest@127.0.0.1:\(TestEnv.amqpsPort)/?cafile=\(ca)")
        try await client.start(timeout: .seconds(10))
        #expect(client.isConnected)
        await client.close()
        // A server whose certificate (same CA) names another address is refused.
        let dir = "/tmp/dms-tls-\(UUID().uuidString.prefix(8))"
        let made = Proc.shell(
            """
            set -e; mkdir -p \(dir); cd \(dir)
            openssl req -newkey rsa:2048 -nodes -subj /CN=elsewhere -keyout k.pem -out r.csr 2>/dev/null
            printf 'subjectAltName=IP:10.99.99.99,DNS:elsewhere.example\\n' > san.ext
            openssl x509 -req -in r.csr -CA \(ca) -CAkey \(TestEnv.brokerDir)/tls/ca.key -CAcreateserial -days 1 -extfile san.ext -out c.pem 2>/dev/null
            setsid python3 -c "import os,socket,ssl;c=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER);c.load_cert_chain('c.pem','k.pem');s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('127.0.0.1',0));s.listen();open('port.tmp','w').write(str(s.getsockname()[1]));os.rename('port.tmp','port');exec('while True:\\n try:\\n  a,_=s.accept();c.wrap_socket(a,server_side=True).recv(10)\\n except Exception: pass')" > /dev/null 2>&1 < /dev/null &
            echo $!
            """)
        let server = Int32(made.output.split(separator: "\n").last.map(String.init) ?? "") ?? 0
        defer { kill(server, SIGKILL) }
        let port = try #require(await listeningPort(writtenTo: dir + "/port"), "the TLS stand-in listens")
        let wrongAddress = try makeClient(url: "amqps://guest:guest@127.0.0.1:\(port)/?cafile=\(ca)")
        await #expect(throws: AMQPError.self) { try await wrongAddress.start(timeout: .seconds(3)) }
        #expect(
            wrongAddress.lastError?.description.contains("verif") == true,
            "\(String(describing: wrongAddress.lastError))")
        await wrongAddress.close()
    }

    @Test func hostsAreTriedInOrderAndThePasswordNeverShows() async throws {
        // the first host refuses connections; the second is the broker
        let port = URL(string: TestEnv.amqpURL.replacingOccurrences(of: "amqp://", with: "http://"))!.port ?? 5682
        let failover = try makeClient(url: "amqp://guest:guest@127.0.0.1:1,127.0.0.1:\(port)/")
        try await failover.start(timeout: .seconds(10))
        #expect(failover.isConnected)
        await failover.close()

        let passwordFile = "/tmp/dms-test-password-\(UUID().uuidString)"
        try "not-the-password-\(UUID().uuidString.prefix(6))\n".write(
            toFile: passwordFile, atomically: true, encoding: .utf8)
        var config = try AMQPConfiguration(url: "amqp://guest@127.0.0.1:\(port)/")
        try config.readPassword(fromFile: passwordFile)
        let secret = config.password
        #expect(secret.hasPrefix("not-the-password-") && !config.description.contains(secret))
        let refused = AMQPClient(configuration: config)
        do {
            try await refused.start(timeout: .seconds(3))
            Issue.record("a wrong password must not connect")
        } catch {
            #expect(!"\(error)".contains(secret), "the password is not in the error: \(error)")
            #expect("\(error)".contains("ACCESS_REFUSED") || "\(error)".contains("403") || "\(error)".contains("login"))
        }
        await refused.close()
    }

    @Test func handlerRunningForThreeHeartbeatsKeepsTheConnection() async throws {
        let queue = unique("slow")
        let client = try makeClient(
            topology: .init(queues: [.make(name: queue)]), consumer: .init(queue: queue), heartbeat: 1)
        try await client.start(timeout: .seconds(10))
        let inbox = Inbox(client)
        try await client.publish(.init(routingKey: queue, body: [7]))
        let d = try #require(await inbox.next(timeout: 5))
        try await Task.sleep(nanoseconds: 3_500_000_000)  // the "handler": three heartbeat intervals and more
        #expect(client.reconnectCount == 0 && client.isConnected)
        #expect(await client.ack(d) == .settled)
        await client.close()
    }

    @Test(.notUnderASanitizer) func hundredThousandMessagesWithFlatMemory() async throws {
        let queue = unique("bulk")
        let client = try makeClient(
            topology: .init(queues: [.make(name: queue)]), consumer: .init(queue: queue, prefetch: 500))
        try await client.start(timeout: .seconds(10))
        let body = [UInt8](repeating: 0x61, count: 1024)
        let total = 100_000
        let publisher = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<total {
                    if i >= 2000 { try await group.next() }
                    group.addTask { try await client.publish(.init(routingKey: queue, body: body)) }
                }
                try await group.waitForAll()
            }
        }
        var received = 0
        var rssAt20k = 0
        for await d in client.deliveries {
            received += 1
            await client.ack(d)
            if received == 20_000 { rssAt20k = residentSetKB() }
            if received == total { break }
        }
        try await publisher.value
        let rssEnd = residentSetKB()
        #expect(received == total)
        #expect(rssEnd - rssAt20k < 20_000, "RSS grew from \(rssAt20k) KB to \(rssEnd) KB over 80,000 messages")
        await client.close()
    }
}

/// Tests that stop the broker or cut connections: run on their own (scripts/test.sh), never beside others.
@Suite(.onTheBlockingPool, .serialized, .timeLimit(.minutes(3)), .needsBroker, .disruptive)
struct DisruptiveBrokerTests {
    @Test func closedConnectionReconnectsAndUnackedMessageComesBackRedelivered() async throws {
        let queue = unique("cut")
        let name = unique("cut-conn")
        let client = try makeClient(name, topology: .init(queues: [.make(name: queue)]), consumer: .init(queue: queue))
        try await client.start(timeout: .seconds(10))
        let inbox = Inbox(client)
        try await client.publish(.init(routingKey: queue, body: [1]))
        let first = try #require(await inbox.next(timeout: 5))
        #expect(!first.redelivered)
        #expect(Broker.closeConnections(named: name) == 1)
        let again = try #require(await inbox.next(timeout: 15))
        #expect(again.redelivered && again.body == [1])
        #expect(client.reconnectCount == 1)
        #expect(await client.ack(first) == .staleDelivery, "a tag of the dead connection is never acked")
        #expect(await client.ack(again) == .settled)
        try await client.publish(.init(routingKey: queue, body: [2]))
        let next = try #require(await inbox.next(timeout: 5))
        #expect(next.body == [2])
        await client.ack(next)
        await client.close()
    }

    @Test func brokerRestartReconnectsAndResumes() async throws {
        let queue = unique("restart")
        let client = try makeClient(topology: .init(queues: [.make(name: queue)]), consumer: .init(queue: queue))
        try await client.start(timeout: .seconds(10))
        let inbox = Inbox(client)
        #expect(Broker.ctl("stop_app").status == 0)
        #expect(await eventually { !client.isConnected })
        // a publish during the outage waits, then goes out once the broker is back
        let pending = Task {
            try await client.publish(.init(routingKey: queue, body: [9]), timeout: .after(.seconds(60)))
        }
        try await Task.sleep(nanoseconds: 500_000_000)
        #expect(Broker.ctl("start_app").status == 0)
        try await pending.value
        let d = try #require(await inbox.next(timeout: 20))
        #expect(d.body == [9])
        await client.ack(d)
        #expect(client.reconnectCount >= 1)
        await client.close()
    }

    @Test func publishDuringALongOutageFailsClearly() async throws {
        let client = try makeClient()
        try await client.start(timeout: .seconds(10))
        #expect(Broker.ctl("stop_app").status == 0)
        defer { Broker.ctl("start_app") }
        #expect(await eventually { !client.isConnected })
        do {
            try await client.publish(.init(routingKey: "x", body: [1]), timeout: .after(.seconds(1)))
            Issue.record("must time out")
        } catch let error as AMQPError {
            #expect(error.code == .timeout)
        }
        await client.close()
    }
}

@Suite(.onTheBlockingPool, .needsBroker)
struct RefusedPublishClientTests {
    @Test func aPublishToAMissingExchangeFailsAloneAndTheConnectionStays() async throws {
        let queue = unique("after-refusal")
        let client = try makeClient(topology: .init(queues: [.init(name: queue, durable: false, autoDelete: true)]))
        try await client.start(timeout: .seconds(10))
        do {
            try await client.publish(
                .init(exchange: unique("no-such-exchange"), routingKey: "x", body: [1]), timeout: .after(.seconds(10)))
            Issue.record("a publish to a missing exchange cannot be confirmed")
        } catch let error as AMQPError {
            #expect(error.code == .refused && error.replyCode == 404 && error.message.contains("NOT_FOUND"))
        }
        try await client.publish(.init(routingKey: queue, body: [2]), timeout: .after(.seconds(10)))
        #expect(client.reconnectCount == 0 && client.isConnected)
        await client.close()
    }
}
