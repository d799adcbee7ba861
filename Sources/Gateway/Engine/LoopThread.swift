import CLinux
import Glibc

/// An event loop a thread runs until it stops.
protocol RunLoop: AnyObject {
    /// Runs until stopped and every connection is closed.
    func run()
}

extension URingLoop: RunLoop {}
extension EpollLoop: RunLoop {}

/// Starts named OS threads (no Foundation on the engine path).
enum LoopThread {
    /// Starts a thread that runs `loop` until it stops. The loop is handed over: from here on
    /// only that thread touches it.
    static func spawn(name: String, running loop: sending any RunLoop) throws(SystemError) -> pthread_t {
        try Sys.spawnThread(name: name) { loop.run() }
    }

    /// Waits for `thread` to end.
    static func join(_ thread: pthread_t) {
        _ = pthread_join(thread, nil)
    }
}
