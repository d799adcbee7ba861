import Foundation
import MutexTSanShim
import Synchronization
import Testing

/// Regression tests for the ThreadSanitizer run (scripts/sanitize.sh): every contended
/// `Mutex.withLock` used to be reported as a race, because the sanitizer could not see the
/// library's slow path hand the lock over (Tests/MutexTSanShim/MutexTSanShim.c). Under
/// `--sanitize=thread` this test produces reports again if the shim stops working; in a
/// plain build it only checks the counts.
@Suite struct MutexContentionTests {
    final class Shared: Sendable {
        let log = Mutex<[Int]>([])
        let total = Mutex(0)
    }

    @Test func theShimIsLinkedIntoTheTestBinary() {
        #expect(
            ampora_mutex_tsan_shim_ready() == 1,
            "the toolchain's Synchronization.Mutex changed: update the names in MutexTSanShim.c")
    }

    /// Four threads fight over one lock: a plain array mutated inside, so any missed
    /// happens-before edge between holders is a reported race.
    @Test func contendedCriticalSectionsAreNotReportedAsRaces() {
        let shared = Shared()
        let threads = 4
        let rounds = 20_000
        let done = DispatchGroup()
        for t in 0..<threads {
            done.enter()
            Thread.detachNewThread {
                for i in 0..<rounds {
                    shared.log.withLock {
                        $0.append(t &* rounds &+ i)
                        if $0.count > 64 { $0.removeAll(keepingCapacity: true) }
                    }
                    shared.total.withLock { $0 += 1 }
                }
                done.leave()
            }
        }
        done.wait()
        #expect(shared.total.withLock { $0 } == threads * rounds)
    }
}
