import Foundation

/// SIGTERM/SIGINT handling: blocked in the threads the server starts, watched by Dispatch.
enum Signals {
    /// Blocks SIGTERM and SIGINT; threads started afterwards inherit the mask.
    static func blockTermination() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Starts watching SIGTERM and SIGINT; call before the server says it is ready. Setting a
    /// signal to SIG_IGN discards one already pending, so doing it later would lose a signal sent
    /// right after the ready line. Dispatch watches them, so it does not matter which threads of
    /// the pool were started before `blockTermination()`.
    static func watchTermination() -> Termination {
        let fired = OneShot<String>()
        var sources: [any DispatchSourceSignal] = []
        for (number, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { fired.fulfil(name) }
            source.resume()
            sources.append(source)
        }
        return Termination(fired: fired, sources: sources)
    }

    /// A SIGTERM or SIGINT being watched for.
    struct Termination {
        let fired: OneShot<String>
        let sources: [any DispatchSourceSignal]

        /// Waits for the signal (at once if it already came) and returns its name.
        func wait() async -> String {
            let outcome = await fired.value()
            for source in sources { source.cancel() }
            if case .success(let name) = outcome { return name }
            return "SIGTERM"
        }
    }
}
