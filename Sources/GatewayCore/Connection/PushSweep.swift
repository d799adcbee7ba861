/// A push to every agent of a loop, done a slice per turn: every reply carrying a config holds
/// its own send buffer until the kernel takes it, so slicing bounds that memory.
package struct PushSweep {
    /// Connections offered the desired state per loop turn.
    package static let slice = 1024
    package var next = 0

    /// A sweep from the first slot.
    package init() {}

    /// Offers the next slice of `slots` (`isLive` says which hold a connection); false once done.
    package mutating func advance(slots: Int, isLive: (Int) -> Bool, offer: (Int) -> Void) -> Bool {
        var offered = 0
        while next < slots && offered < Self.slice {
            let i = next
            next += 1
            guard isLive(i) else { continue }
            offered += 1
            offer(i)
        }
        return next < slots
    }
}

extension PushSweep {
    /// Offers the desired state to the next slice of a loop's connections; ends the sweep when done.
    package static func step(
        _ sweep: inout PushSweep?, slots: Int, isLive: (Int) -> Bool, send: (UInt32, ConnectionEvent) -> Void
    ) {
        guard var current = sweep else { return }
        let more = current.advance(slots: slots, isLive: isLive, offer: { send(UInt32($0), .push(only: nil)) })
        sweep = more ? current : nil
    }
}
