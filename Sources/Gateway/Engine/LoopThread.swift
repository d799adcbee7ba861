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
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Starts a thread that runs `loop` until it stops. The loop is handed over: from here on
    /// only that thread touches it.
    static func spawn(name: String, running loop: sending any RunLoop) throws(SystemError) -> pthread_t {
        try spawn(name: name) { loop.run() }
    }

    /// Starts a thread running `body`, which is handed over to it.
    static func spawn(name: String, _ body: sending @escaping () -> Void) throws(SystemError) -> pthread_t {
        var thread = pthread_t()
        let threadName = String(name.prefix(15))
        let box = Unmanaged.passRetained(
            Box {
                ampora_set_thread_name(threadName)
                body()
            }
        ).toOpaque()
        let rc = pthread_create(
            &thread, nil,
            { arg in
                let box = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
                box.body()
                return nil
            }, box)
        if rc != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            throw SystemError(call: "pthread_create", errno: rc)
        }
        return thread
    }

    static func join(_ thread: pthread_t) {
        _ = pthread_join(thread, nil)
    }
}
