import Glibc

final class BlockingThreads: @unchecked Sendable {
    static let shared = BlockingThreads()

    private let condition = ThreadCondition()
    private var queue: [() -> Void] = []
    private var idle = 0
    /// Idle threads beyond this many exit.
    private let keepIdle = 16

    func submit(_ work: @escaping () -> Void) {
        condition.lock()
        queue.append(work)
        let spawn = idle < queue.count
        if !spawn { condition.signal() }
        condition.unlock()
        if spawn {
            OSThread.detach(name: "blocking", stackSize: 256 * 1024) { [self] in loop() }
        }
    }

    private func loop() {
        condition.lock()
        while true {
            while queue.isEmpty {
                if idle >= keepIdle {
                    condition.unlock()
                    return
                }
                idle += 1
                let woke = condition.wait(seconds: 60)
                idle -= 1
                if !woke && queue.isEmpty {
                    condition.unlock()
                    return
                }
            }
            let work = queue.removeFirst()
            condition.unlock()
            work()
            condition.lock()
        }
    }
}
