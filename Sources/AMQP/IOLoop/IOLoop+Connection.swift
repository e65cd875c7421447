import CRabbitMQ
import FoundationEssentials
import Glibc
import LinuxSupport
import Logging

// Connecting, meeting the topology, losing the connection and backing off.
extension IOLoop {
    func connectOnce() {
        drainCommands()
        expireDeadlines()
        if closing != nil { return }
        let wait = reconnect.wait(at: monotonicNanos())
        if wait > .zero {
            sleepInterruptibly(for: wait)
            return
        }
        let config = client.configuration
        var lastError: AMQPError?
        for index in reconnect.endpointOrder(count: config.endpoints.count) {
            let endpoint = config.endpoints[index]
            do {
                let conn = try Connector.open(config, endpoint: endpoint)
                let report: AMQPTopologyReport
                do {
                    let consumer = consumerWanted ? client.consumerOptions : nil
                    (consumerTag, report) = try Connector.setUp(
                        conn.state, topology: client.topology, consumer: consumer, publishes: client.publishes)
                    probeOpen = false
                    setUpChannels =
                        (consumer != nil ? [consumeChannel] : []) + (client.publishes ? [publishChannel] : [])
                } catch {
                    // connection.close closes whatever channel the refusal left open.
                    if error.code == .topology { conn.close(openChannels: []) }
                    throw error
                }
                current = conn
                generation += 1
                reconnect.connected(at: monotonicNanos(), endpoint: index)
                setBlocked(false)
                let isReconnect = everConnected
                everConnected = true
                logger.info(
                    isReconnect ? "reconnected" : "connected",
                    metadata: [
                        LogKey.amqpHost: "\(endpoint.host):\(endpoint.port)", LogKey.amqpGeneration: "\(generation)",
                    ])
                logTopology(report)
                let waiters = client.shared.withLock { s -> [CheckedContinuation<Void, Error>] in
                    s.connected = true
                    s.generation = generation
                    if isReconnect { s.reconnects += 1 }
                    s.lastError = nil
                    s.topology = report
                    defer { s.connectionWaiters = [:] }
                    return s.connectionWaiters.values.map(\.continuation)
                }
                for waiter in waiters { waiter.resume() }
                // Unconfirmed publishes of the dead connection go out again (at-least-once).
                flushOutbox()
                return
            } catch let error as AMQPError {
                lastError = error
                if error.code == .topology {
                    // Not an outage and not fatal: an object we need is refused (a permission, a shared object
                    // someone else owns). Say so once per distinct refusal, stay not-ready, and try again later.
                    if error.message != lastTopologyRefusal {
                        logger.error(
                            "broker refused the topology; not ready, retrying",
                            metadata: [LogKey.error: "\(error.message)"])
                        lastTopologyRefusal = error.message
                    }
                    break
                }
                if error.isFatal {
                    logger.error("invalid AMQP configuration; not retrying", metadata: [LogKey.error: "\(error)"])
                    let starts = client.shared.withLock { s -> [AMQPClient.ConnectionWaiter] in
                        s.lastError = error
                        let starts = s.connectionWaiters.filter { $0.value.isStart }
                        for id in starts.keys { s.connectionWaiters[id] = nil }
                        return Array(starts.values)
                    }
                    for start in starts { start.continuation.resume(throwing: error) }
                    stopped = true
                    return
                }
            } catch {
                lastError = AMQPError(.connectionFailed, "\(error)")
            }
            if let lastError, lastError.code != .topology {
                logger.warning(
                    "broker endpoint failed; trying the next",
                    metadata: [
                        LogKey.amqpHost: "\(endpoint.host):\(endpoint.port)",
                        LogKey.error: "\(lastError)",
                    ])
            }
        }
        client.shared.withLock { $0.lastError = lastError }
        let jittered = reconnect.roundFailed(at: monotonicNanos(), using: &random)
        if lastError?.code != .topology {
            logger.warning(
                "broker unreachable; retrying",
                metadata: [
                    LogKey.error: "\(lastError.map { "\($0)" } ?? "-")",
                    LogKey.retryIn: "\(LogValue.duration(jittered))",
                ])
        }
        sleepInterruptibly(for: jittered)
    }

    /// What the broker held, once per process (and a warning for every existing queue that differs from
    /// the declaration we would have made: we consume it as it is).
    func logTopology(_ report: AMQPTopologyReport) {
        lastTopologyRefusal = nil
        guard !loggedTopology else { return }
        loggedTopology = true
        for entry in report.entries {
            var metadata: Logger.Metadata = [entry.kind: "\(entry.name)", LogKey.origin: "\(entry.origin.rawValue)"]
            if entry.origin == .unavailable {
                metadata[LogKey.brokerSays] = "\(entry.difference ?? "")"
                logger.warning("\(entry.kind) missing and cannot be declared; going on without it", metadata: metadata)
            } else if let difference = entry.difference {
                metadata[LogKey.brokerSays] = "\(difference)"
                logger.warning(
                    "\(entry.kind) exists with other properties than configured; using it as it is", metadata: metadata)
            } else {
                logger.info("\(entry.kind) ready", metadata: metadata)
            }
        }
    }

    /// The consume channel's delivery tags mean nothing once it is gone: the broker requeues what was not settled.
    func forgetOutstandingDeliveries() { deliveries.reset() }

    func connectionLost(_ error: AMQPError) {
        guard current != nil else { return }
        // A connection that lived long is a fresh start (spread, other hosts first); one that died young (a refusal
        // right after set-up) keeps the backoff growing, so no failure mode reconnects in a tight loop.
        reconnect.lost(at: monotonicNanos(), using: &random)
        logger.warning("connection lost", metadata: [LogKey.error: "\(error)", LogKey.amqpGeneration: "\(generation)"])
        current = nil
        consumerTag = nil
        forgetOutstandingDeliveries()
        client.shared.withLock { s in
            s.connected = false
            s.lastError = error
        }
        // Nothing was confirmed for these: publish them again on the next connection.
        confirms.connectionLost()
    }
}
