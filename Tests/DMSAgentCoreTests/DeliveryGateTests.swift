import Foundation
import LinuxSupport
import Testing

@testable import AMQP
@testable import DMSAgentCore

/// The hand-off from the I/O thread to the scheduler: arrival order survives the agent's start.
@Suite(.timeLimit(.minutes(1))) struct DeliveryGateTests {
    static func delivery(_ tag: UInt64) -> AMQPDelivery {
        AMQPDelivery(
            body: [], properties: AMQPProperties(), deliveryTag: tag, redelivered: false, exchange: "",
            routingKey: "dms.node", generation: 1)
    }

    @Test func holdsUntilOpenThenDispatchesInArrivalOrder() {
        let gate = DeliveryGate()
        let seen = Locked([UInt64]())
        for tag: UInt64 in 1...3 { gate.receive(Self.delivery(tag)) }
        #expect(seen.withLock { $0 }.isEmpty, "nothing is dispatched before the agent serves")
        gate.open { d in seen.withLock { $0.append(d.deliveryTag) } }
        for tag: UInt64 in 4...5 { gate.receive(Self.delivery(tag)) }
        #expect(seen.withLock { $0 } == [1, 2, 3, 4, 5])
        gate.close()
        gate.receive(Self.delivery(6))
        #expect(seen.withLock { $0 } == [1, 2, 3, 4, 5], "after close a delivery waits for redelivery")
    }

    /// Opening while the I/O thread delivers: every delivery exactly once, none overtaking a held one.
    @Test func openingWhileDeliveriesArriveKeepsTheirOrder() async {
        let gate = DeliveryGate()
        let seen = Locked([UInt64]())
        let receiver = Thread {
            for tag in 1...20_000 as ClosedRange<UInt64> { gate.receive(Self.delivery(tag)) }
        }
        receiver.start()
        usleep(500)
        gate.open { d in seen.withLock { $0.append(d.deliveryTag) } }
        while seen.withLock({ $0.count }) < 20_000 { try? await Task.sleep(for: .milliseconds(1)) }
        #expect(seen.withLock { $0 } == Array(1...20_000))
    }
}
