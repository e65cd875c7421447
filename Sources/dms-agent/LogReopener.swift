import ArgumentParser
import CoreMetrics
import FoundationEssentials
import Glibc
import LinuxSupport
import Logging
import Prometheus
import ServiceLifecycle
import UnixSignals

/// SIGHUP reopens `log_file`, so logrotate's `postrotate` (`systemctl kill -s HUP dms-agent`) works.
struct LogReopener: Service {
    let sink: LogSink
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            sink.reopen()
            logger.info("log file reopened", metadata: [LogKey.logFile: "\(sink.path ?? "")"])
        }
    }
}
