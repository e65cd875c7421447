import AMQP
import DMSClient
import Foundation
import TestSupport
import Testing

/// The client against the test broker; replies are published by hand, as an agent would.
@Suite(.onTheBlockingPool, .needsBroker) struct DMSClientTests {
    @Test func aRequestToANodeWithoutAQueueIsRefusedByName() async throws {
        try await withDMSClient(url: TestEnv.amqpURL, name: "client-test") { client in
            let error = await #expect(throws: DMSClientError.self) {
                try await client.send(Array("{}".utf8), to: "no-such-node-\(getpid())", mandatory: true)
            }
            #expect(error?.code == .noSuchNode)
        }
    }

    @Test func aReplyIsMatchedByCorrelationIDAndServedToEveryWaiterOnce() async throws {
        try await withDMSClient(url: TestEnv.amqpURL, name: "client-test") { client in
            let id = "corr-\(UUID().uuidString)"
            async let first = client.reply(id, timeout: .seconds(20))
            async let second = client.reply(id, timeout: .seconds(20))
            try await Task.sleep(for: .milliseconds(200))
            try await answer(on: client.replyQueue, correlationID: "other-\(id)", body: "{\"n\":0}")
            try await answer(on: client.replyQueue, correlationID: id, body: "{\"n\":1}")
            let (a, b) = try await (first, second)
            #expect(a.map { String(decoding: $0, as: UTF8.self) } == "{\"n\":1}")
            #expect(b == a)
            #expect(try await client.reply(id, timeout: .milliseconds(300)) == nil, "taken: not served again")
            let other = try await client.reply("other-\(id)", timeout: .seconds(5))
            #expect(other.map { String(decoding: $0, as: UTF8.self) } == "{\"n\":0}", "kept until taken")
        }
    }

    @Test func aTimeoutIsNilAndCancellationThrows() async throws {
        try await withDMSClient(url: TestEnv.amqpURL, name: "client-test") { client in
            let started = ContinuousClock.now
            #expect(try await client.reply("never", timeout: .milliseconds(300)) == nil)
            #expect(ContinuousClock.now - started >= .milliseconds(300))
            let waiting = Task { try await client.reply("never-either", timeout: .seconds(60)) }
            try await Task.sleep(for: .milliseconds(100))
            waiting.cancel()
            await #expect(throws: CancellationError.self) { try await waiting.value }
        }
    }

    @Test func closingRefusesTheWaitersClearly() async throws {
        let client = try DMSClient(url: TestEnv.amqpURL, name: "client-test")
        let waiter = try await withThrowingTaskGroup(of: DMSClientError?.self) { group in
            group.addTask {
                try await client.run()
                return nil
            }
            try await eventuallyConnected(client)
            let waiting = Task { () throws -> DMSClientError? in
                do { _ = try await client.reply("never", timeout: .seconds(60)) } catch let error as DMSClientError {
                    return error
                }
                return nil
            }
            try await Task.sleep(for: .milliseconds(100))
            group.cancelAll()
            _ = try await group.next()
            return try await waiting.value
        }
        #expect(waiter?.code == .closed)
        let error = await #expect(throws: DMSClientError.self) { try await client.send([], to: "x") }
        #expect(error?.code == .closed)
    }

    /// A durable reply queue (the tests' requesters use one to outlive a broker restart) is the client's own: it
    /// deletes it when it closes.
    @Test func aDurableReplyQueueIsDeletedWhenTheClientCloses() async throws {
        let client = try DMSClient(url: TestEnv.amqpURL, name: "client-test", replyQueue: .durable(quorum: false))
        try await client.start()
        #expect(await Broker.readyCount(client.replyQueue) == 0, "declared and consumed")
        await client.close()
        #expect(await Broker.readyCount(client.replyQueue) == nil, "deleted")
    }

    /// `run()` has connected once `send` stops refusing with `.closed`.
    func eventuallyConnected(_ client: DMSClient) async throws {
        for _ in 0..<150 {
            do {
                try await client.send(Array("{}".utf8), to: "client-test-nowhere")
                return
            } catch let error as DMSClientError where error.code == .closed {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        Issue.record("the client never connected")
    }

    /// Publishes a reply as an agent does: to the default exchange, routed by the reply queue's name.
    func answer(on queue: String, correlationID: String, body: String) async throws {
        let agent = AMQPClient(configuration: try AMQPConfiguration(url: TestEnv.amqpURL))
        try await agent.start(timeout: .seconds(10))
        try await agent.publish(
            AMQPOutgoingMessage(
                exchange: "", routingKey: queue, body: Array(body.utf8),
                properties: AMQPProperties(correlationID: correlationID)))
        await agent.close()
    }
}
