import Core
import Testing

@testable import Fleet

/// The batcher's timing rules with made-up times: no thread, no clock.
@Suite struct WriteBehindTests {
    static func machine(now: Int64 = 1_000) -> WriteBehind {
        WriteBehind(flushInterval: 100, batchRows: 3, maxHistoryBacklog: 2, now: now)
    }

    static func rows(_ ids: [Int]) -> [InstanceUID: AgentRow] {
        Dictionary(
            uniqueKeysWithValues: ids.map {
                (FleetServiceTests.uid($0), AgentRow(uid: FleetServiceTests.uid($0).description))
            })
    }

    static func add(_ m: inout WriteBehind, _ ids: [Int], history: Int = 0) -> Int {
        let events = (0..<history).map { HistoryRow(uid: "u", at: Int64($0), kind: "k", detail: "") }
        return m.add(rows: rows(ids), touches: [:], blobs: [], history: events, messages: ids.count)
    }

    @Test func flushesAtTheIntervalOrWhenFull() {
        var m = Self.machine()
        #expect(Self.add(&m, [1]) == 0)
        guard case .wait(let until) = m.next(now: 1_050) else {
            Issue.record("flushed early")
            return
        }
        #expect(until == 1_100)
        guard case .write(let batch) = m.next(now: 1_100) else {
            Issue.record("no flush at the interval")
            return
        }
        #expect(batch.agents.count == 1 && m.writing)
        m.written()
        _ = Self.add(&m, [2, 3, 4])
        #expect(m.isFull)
        guard case .write(let full) = m.next(now: 1_101) else {
            Issue.record("a full batch waited")
            return
        }
        #expect(full.agents.count == 3)
    }

    @Test func aFailedBatchIsKeptAndRetriedWithBackoff() {
        var m = Self.machine()
        _ = Self.add(&m, [1, 2, 3])
        guard case .write(let batch) = m.next(now: 1_000) else {
            Issue.record("no write")
            return
        }
        _ = Self.add(&m, [2])
        let (dropped, giveUp) = m.failed(batch, now: 1_010)
        #expect(dropped == 0 && !giveUp)
        #expect(m.pending.agents.count == 3, "the newer row of agent 2 wins, the others come back")
        guard case .wait(let retry) = m.next(now: 1_050) else {
            Issue.record("retried at once")
            return
        }
        #expect(retry == 1_110)
        guard case .write(let again) = m.next(now: 1_110) else {
            Issue.record("no retry")
            return
        }
        _ = m.failed(again, now: 1_120)
        guard case .wait(let second) = m.next(now: 1_121) else {
            Issue.record("retried at once")
            return
        }
        #expect(second == 1_320, "the backoff doubles")
    }

    @Test func historyBeyondTheBacklogIsDropped() {
        var m = Self.machine()
        #expect(Self.add(&m, [1], history: 5) == 3)
        #expect(m.pending.history.map(\.at) == [3, 4], "the oldest go first")
    }

    @Test func stoppingFlushesAtOnceAndFinishesAfterTheIngestThread() {
        var m = Self.machine()
        _ = Self.add(&m, [1])
        m.stop()
        guard case .write(let batch) = m.next(now: 1_001) else {
            Issue.record("no flush at stop")
            return
        }
        m.written()
        #expect(batch.agents.count == 1)
        guard case .wait = m.next(now: 1_002) else {
            Issue.record("finished before the ingest thread")
            return
        }
        m.finishIngest()
        guard case .finished = m.next(now: 1_003) else {
            Issue.record("not finished")
            return
        }
    }

    @Test func aDeadDatabaseAtShutdownIsGivenUpAfterTheGrace() {
        var m = Self.machine()
        _ = Self.add(&m, [1])
        m.stop()
        var now: Int64 = 1_000
        var gaveUp = false
        for _ in 0..<20 {
            guard case .write(let batch) = m.next(now: now) else {
                now += 1_000
                continue
            }
            gaveUp = m.failed(batch, now: now).giveUp
            if gaveUp { break }
            now += 1_000
        }
        #expect(gaveUp)
        #expect(now - 1_000 > WriteBehind.stopGrace)
    }
}
