import Core

/// The write-behind batcher as a pure state machine: rows go in, and `next(now:)` says when to
/// write which batch. It owns no thread and reads no clock (`WriterThread` drives it), so every
/// timing rule is tested with made-up times: a flush at least every `flushInterval` or as soon
/// as `batchRows` are waiting, a failed batch kept and retried with a doubling backoff (0.1 s to
/// 5 s), and at shutdown a dead database retried for `stopGrace` after its first failure.
struct WriteBehind {
    /// Rows waiting for the next batch, coalesced per agent.
    struct Pending {
        // Keyed by the 16-byte uid: hashing it is far cheaper than hashing its 36-character text.
        var agents: [InstanceUID: AgentRow] = [:]
        var touches: [InstanceUID: Int64] = [:]
        var blobs: [BlobRow] = []
        var history: [HistoryRow] = []
        var forgotten: [String] = []
        var count: Int { agents.count + touches.count + blobs.count + history.count + forgotten.count }

        /// A liveness update: folded into a waiting snapshot, or kept as a touch.
        mutating func raiseLastSeen(_ uid: InstanceUID, _ at: Int64) {
            if var row = agents[uid] {
                row.lastSeen = max(row.lastSeen, at)
                agents[uid] = row
            } else {
                touches[uid] = max(touches[uid] ?? 0, at)
            }
        }
    }

    /// What the driver does next.
    enum Step {
        /// Write this batch, then report `written` or `failed`.
        case write(WriteBatch)
        /// Nothing to do before this time (milliseconds), unless woken by more rows or a stop.
        case wait(until: Int64)
        /// Stopped, with everything handed over written (or given up on).
        case finished
    }

    let flushInterval: Int64
    let batchRows: Int
    let maxHistoryBacklog: Int
    static let initialBackoff: Int64 = 100
    static let maxBackoff: Int64 = 5_000
    static let stopGrace: Int64 = 8_000

    private(set) var pending = Pending()
    /// True while a batch is out and neither `written` nor `failed` has been reported.
    private(set) var writing = false
    /// History of the batch being written: still unwritten, so agent detail must show it.
    private(set) var writingHistory: [HistoryRow] = []
    /// Blobs of the batch being written: an effective config asked for now is read from here.
    private(set) var writingBlobs: [BlobRow] = []
    /// Messages whose results were added (compared with the intake's count by `waitUntilWritten`).
    private(set) var applied = 0
    private(set) var stopping = false
    /// The ingest thread has handed over its last rows.
    private(set) var ingestDone = false
    private var lastFlush: Int64
    private var backoff = WriteBehind.initialBackoff
    private var retryAt: Int64?
    private var stopFailureAt: Int64?

    /// A batcher whose first interval starts at `now`.
    init(flushInterval: Int64, batchRows: Int, maxHistoryBacklog: Int, now: Int64) {
        self.flushInterval = flushInterval
        self.batchRows = batchRows
        self.maxHistoryBacklog = maxHistoryBacklog
        self.lastFlush = now
    }

    /// True when enough rows wait that the driver should be woken before the interval ends.
    var isFull: Bool { pending.count >= batchRows }

    /// Adds one ingest pass (`messages` messages); returns the history events dropped for room.
    mutating func add(
        rows: [InstanceUID: AgentRow], touches: [InstanceUID: Int64], blobs: [BlobRow], history: [HistoryRow],
        messages: Int
    ) -> Int {
        for (uid, row) in rows {
            var row = row
            if pending.agents[uid]?.isNew == true { row.isNew = true }
            pending.agents[uid] = row
            pending.touches[uid] = nil
        }
        for (uid, at) in touches { pending.raiseLastSeen(uid, at) }
        pending.blobs += blobs
        pending.history += history
        applied &+= messages
        return trimHistory()
    }

    /// Last-seen times to write with the next batch.
    mutating func raiseLastSeen(_ times: [(InstanceUID, Int64)]) {
        for (uid, at) in times { pending.raiseLastSeen(uid, at) }
    }

    /// Agents to delete with their history; what was waiting for them is dropped.
    mutating func forget(_ uids: [InstanceUID]) {
        for uid in uids {
            pending.agents[uid] = nil
            pending.touches[uid] = nil
            pending.forgotten.append(uid.description)
        }
    }

    /// Shutdown was asked for: everything is flushed without waiting for the interval.
    mutating func stop() { stopping = true }

    /// The ingest thread has handed over everything it will.
    mutating func finishIngest() { ingestDone = true }

    /// What to do at `now`.
    mutating func next(now: Int64) -> Step {
        if let retryAt, now < retryAt { return .wait(until: retryAt) }
        if !stopping && pending.count < batchRows && now - lastFlush < flushInterval {
            return .wait(until: lastFlush + flushInterval)
        }
        if stopping && pending.count == 0 {
            // The ingest thread may still hand over its last rows.
            return ingestDone ? .finished : .wait(until: now + 10)
        }
        lastFlush = now
        retryAt = nil
        guard pending.count > 0 else { return .wait(until: now + flushInterval) }
        var batch = WriteBatch()
        batch.agents = Array(pending.agents.values)
        batch.touches = pending.touches.map { ($0.key.description, $0.value) }
        batch.blobs = pending.blobs
        batch.history = pending.history
        batch.forgotten = pending.forgotten
        // Emptied in place: the next burst refills tables that are already the right size.
        pending.agents.removeAll(keepingCapacity: true)
        pending.touches.removeAll(keepingCapacity: true)
        pending.blobs.removeAll()
        pending.history.removeAll()
        pending.forgotten.removeAll()
        writing = true
        writingHistory = batch.history
        writingBlobs = batch.blobs
        return .write(batch)
    }

    /// The batch out was written.
    mutating func written() {
        writing = false
        writingHistory = []
        writingBlobs = []
        backoff = Self.initialBackoff
    }

    /// The batch out failed at `now`: it is put back (anything newer that arrived meanwhile
    /// wins) and retried after the backoff. Returns the history events dropped for room, and
    /// true when the driver should give up (stopping, and the grace has passed).
    mutating func failed(_ batch: WriteBatch, now: Int64) -> (dropped: Int, giveUp: Bool) {
        writing = false
        writingHistory = []
        writingBlobs = []
        // An agent forgotten while its batch was failing must not come back from that batch.
        let forgottenSince = Set(pending.forgotten)
        for row in batch.agents where !forgottenSince.contains(row.uid) {
            guard let uid = InstanceUID(string: row.uid), pending.agents[uid] == nil else { continue }
            pending.agents[uid] = row
            if let t = pending.touches.removeValue(forKey: uid) {
                pending.agents[uid]?.lastSeen = max(row.lastSeen, t)
            }
        }
        for (text, at) in batch.touches {
            if let uid = InstanceUID(string: text) { pending.raiseLastSeen(uid, at) }
        }
        pending.blobs = batch.blobs + pending.blobs
        pending.history = batch.history + pending.history
        pending.forgotten = batch.forgotten + pending.forgotten
        let dropped = trimHistory()
        var giveUp = false
        if stopping {
            if stopFailureAt == nil { stopFailureAt = now }
            giveUp = now - (stopFailureAt ?? now) > Self.stopGrace
        }
        retryAt = now + backoff
        backoff = min(backoff * 2, Self.maxBackoff)
        return (dropped, giveUp)
    }

    private mutating func trimHistory() -> Int {
        let excess = pending.history.count - maxHistoryBacklog
        guard excess > 0 else { return 0 }
        pending.history.removeFirst(excess)
        return excess
    }
}
