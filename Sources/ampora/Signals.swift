import Foundation
import GatewayCore
import Logging
import ServiceLifecycle
import UnixSignals

/// What is left of signal handling outside the service group.
enum Signals {
    /// Blocks SIGTERM and SIGINT in the calling thread, so the threads it starts next (event loops,
    /// the fleet's ingest and writer) inherit the mask: a stop signal then never interrupts their
    /// waits and is taken by Dispatch's signal thread, which feeds the service group.
    static func blockTermination() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Starts watching SIGTERM and SIGINT at once, before the database is opened. The service
    /// group traps them only when it runs, after the database is open (which can take seconds:
    /// migrations, the inventory load); a signal before that would otherwise take its default
    /// action and kill the process without a flush or exit 0. Returns when the handlers are
    /// installed.
    static func watchEarly() async -> UnixSignalsSequence {
        await UnixSignalsSequence(trapping: .sigterm, .sigint)
    }

    /// Relays every signal seen by `early` to `group` (a graceful shutdown requested before the
    /// group runs is kept and delivered when it starts), logging it; ends when cancelled.
    static func relay(
        _ early: UnixSignalsSequence, to group: ServiceGroup, logger: Logger,
        onSignal: @escaping @Sendable () -> Void
    ) -> Task<Void, Never> {
        Task {
            for await signal in early {
                onSignal()
                logger.info("signal \(signal): closing agents with 1001 and stopping")
                await group.triggerGracefulShutdown()
            }
        }
    }

    /// Reloads the agent listener's certificate and key on every SIGHUP (rotation without a
    /// restart: connected agents keep their sessions, new ones get the new certificate). A
    /// reload that fails keeps the old certificate and says why.
    static func reloadOnHangUp(_ tls: TLSContext, logger: Logger) -> Task<Void, Never> {
        Task {
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                do {
                    try tls.reload()
                    logger.info("SIGHUP: TLS certificate and key reloaded from \(tls.settings.certificateFile)")
                } catch {
                    logger.error("SIGHUP: TLS reload failed, keeping the previous certificate: \(error)")
                }
            }
        }
    }
}
