import AMQP
import Foundation
import Logging

enum AMQPBench {
    static func client(
        _ url: String, name: String, topology: AMQPTopology = .init(), consumer: AMQPConsumerOptions? = nil
    ) throws -> AMQPClient {
        var config = try AMQPConfiguration(url: url)
        config.connectionName = name
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        return AMQPClient(configuration: config, topology: topology, consumer: consumer, logger: logger)
    }

    static func run(url: String, repo: String, messages: Int, roundTrips: Int) async throws {
        print("== AMQP client (rabbitmq-c), 1 KB bodies, loopback broker")
        let queue = "bench.\(getpid())"
        let replies = "bench.replies.\(getpid())"
        let body = [UInt8](repeating: 0x61, count: 1024)
        let publisher = try client(
            url, name: "bench-pub",
            topology: .init(queues: [.init(name: queue, durable: true), .init(name: replies, durable: false)]))
        try await publisher.start(timeout: .seconds(10))

        var start = now()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<messages {
                if i >= 256 { try await group.next() }
                group.addTask {
                    try await publisher.publish(
                        .init(routingKey: queue, body: body, properties: .init(persistent: false)))
                }
            }
            try await group.waitForAll()
        }
        let publishRate = Double(messages) / ((now() - start) / 1000)

        let consumer = try client(
            url, name: "bench-con", topology: .init(queues: [.init(name: queue, durable: true)]),
            consumer: .init(queue: queue, prefetch: 500))
        start = now()
        try await consumer.start(timeout: .seconds(10))
        var received = 0
        for await d in consumer.deliveries {
            await consumer.ack(d)
            received += 1
            if received == messages { break }
        }
        let consumeRate = Double(messages) / ((now() - start) / 1000)
        await consumer.close()

        // Request → reply through the broker: a responder consumes `queue` and answers on `replies`.
        let responder = try client(
            url, name: "bench-responder", topology: .init(queues: [.init(name: queue, durable: true)]),
            consumer: .init(queue: queue, prefetch: 50))
        try await responder.start(timeout: .seconds(10))
        let responding = Task {
            for await d in responder.deliveries {
                try? await responder.publish(
                    .init(
                        routingKey: d.properties.replyTo ?? "", body: d.body,
                        properties: .init(correlationID: d.properties.correlationID)))
                await responder.ack(d)
            }
        }
        let requester = try client(
            url, name: "bench-req", topology: .init(queues: [.init(name: replies, durable: false)]),
            consumer: .init(queue: replies, prefetch: 50))
        try await requester.start(timeout: .seconds(10))
        var rtt = Samples()
        var iterator = requester.deliveries.makeAsyncIterator()
        for i in 0..<roundTrips {
            let t = now()
            try await publisher.publish(
                .init(
                    routingKey: queue, body: Array("{\"n\":\(i)}".utf8),
                    properties: .init(correlationID: "\(i)", replyTo: replies)))
            guard let reply = await iterator.next() else { break }
            await requester.ack(reply)
            rtt.add(now() - t)
        }
        // The same after 100 ms of quiet each: every thread on both sides and the broker's schedulers asleep, as
        // before a job that arrives alone.
        var idleRTT = Samples()
        for i in 0..<min(roundTrips, 50) {
            try await Task.sleep(for: .milliseconds(100))
            let t = now()
            try await publisher.publish(
                .init(
                    routingKey: queue, body: Array("{\"n\":\(i)}".utf8),
                    properties: .init(correlationID: "idle-\(i)", replyTo: replies)))
            guard let reply = await iterator.next() else { break }
            await requester.ack(reply)
            idleRTT.add(now() - t)
        }
        // The requester check the agent makes before each mount/unmount: a passive declare of reply_to on the
        // probe channel. Three shapes: a plain queue (answer in one RPC), the Python client's exclusive queue of
        // another connection (405, then close-ok and channel.open), a queue that is gone (404, the same).
        let exclusiveOwner = try client(
            url, name: "bench-exclusive",
            topology: .init(queues: [
                .init(name: replies + ".exclusive", durable: false, exclusive: true)
            ]))
        try await exclusiveOwner.start(timeout: .seconds(10))
        var existing = Samples()
        var exclusive = Samples()
        var missing = Samples()
        for _ in 0..<roundTrips {
            var t = now()
            _ = try await requester.queueExists(replies)
            existing.add(now() - t)
            t = now()
            _ = try await requester.queueExists(replies + ".exclusive")
            exclusive.add(now() - t)
            t = now()
            _ = try await requester.queueExists(replies + ".gone")
            missing.add(now() - t)
        }
        await exclusiveOwner.close()
        responding.cancel()
        await responder.stopConsuming()
        await responder.close()
        await requester.close()
        await publisher.close()

        line("confirmed publish (256 in flight)", String(format: "%.0f msg/s", publishRate))
        line("consume + ack (prefetch 500)", String(format: "%.0f msg/s", consumeRate))
        line("request → reply round trip (confirmed publish)", rtt.summary + "  (goal p50 < 1 ms)")
        line("  the same after 100 ms of quiet", idleRTT.summary)
        line("requester check: reply queue exists", existing.summary)
        line("requester check: exclusive to its client (405)", exclusive.summary)
        line("requester check: gone (404)", missing.summary)

        let pika = shell("python3 \(repo)/scripts/bench_pika.py '\(url)' \(messages) \(roundTrips) 2>&1")
        let numbers = pika.split(separator: "\n").last?.split(separator: " ").compactMap { Double($0) } ?? []
        if numbers.count == 4 {
            line(
                "pika: confirmed publish",
                String(format: "%.0f msg/s  → dms-agent %.1f× (goal ≥ 5×)", numbers[0], publishRate / numbers[0]))
            line(
                "pika: consume + ack",
                String(format: "%.0f msg/s  → dms-agent %.1f× (goal ≥ 5×)", numbers[1], consumeRate / numbers[1]))
            line("pika: round trip", String(format: "p50 %.2f ms  p99 %.2f ms", numbers[2], numbers[3]))
        } else {
            line("pika", "not measured: \(pika.suffix(300))")
        }
    }
}
