import CPQ
import CSQL
import Core
import Fleet
import Foundation
import Synchronization

// Rows per second into the agents table, four ways on the same rows in one run:
//   batch      Fleet's store.write (COPY into staging + one upsert per batch; SQLite: one
//              transaction of prepared upserts per batch), updating rows that exist;
//   service    the whole write-behind path: FleetService.record() of status changes until written;
//   autocommit one upsert statement per row, each its own transaction (the naive peer);
//   raw        the floor: COPY (SQLite: prepared INSERTs in one transaction) into a bare table.
//   raw, binary (PostgreSQL) the floor's rows in COPY's binary format: a reference, not the floor.
// PostgreSQL also: batch updates announced to other instances (`agent_changes` + NOTIFY), and
// `--instances` writers at once, each its own session and its share of the agents.

struct Options {
    var postgres: String?
    var rows = 200_000
    var batch = 10_000
    var autocommitRows = 20_000
    var only: String?
    var repeats = 3
    var instances = 3
}

func parse() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let a = args.next() {
        switch a {
        case "--postgres": o.postgres = args.next()
        case "--rows": o.rows = Int(args.next() ?? "") ?? o.rows
        case "--batch": o.batch = Int(args.next() ?? "") ?? o.batch
        case "--autocommit-rows": o.autocommitRows = Int(args.next() ?? "") ?? o.autocommitRows
        case "--only": o.only = args.next()
        case "--repeat": o.repeats = max(1, Int(args.next() ?? "") ?? 3)
        case "--instances": o.instances = Int(args.next() ?? "") ?? o.instances
        default:
            FileHandle.standardError.write(
                Data(
                    ("usage: StoreBench [--postgres URL] [--rows N] [--batch N] [--autocommit-rows N] [--only sqlite|postgres]"
                        + " [--repeat N] [--instances N]\n").utf8))
            exit(2)
        }
    }
    return o
}

func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

func uid(_ i: Int) -> InstanceUID { InstanceUID(high: 0x0190_b000_0000_7000, low: 0x8000_0000_0000_0000 | UInt64(i)) }

func kv(_ k: String, _ v: String) -> KeyValue {
    var kv = KeyValue()
    kv.key = k
    var value = AnyValue()
    value.value = .stringValue(v)
    kv.value = value
    return kv
}

/// A realistic agent row: description, health, remote config status as encoded protobuf.
func row(_ i: Int, round: Int) -> AgentRow {
    var r = AgentRow(uid: uid(i).description)
    r.isNew = round == 0
    r.connected = true
    r.firstSeen = 1_700_000_000_000
    r.lastSeen = 1_700_000_000_000 + Int64(round)
    r.capabilities = 0x3007
    var d = AgentDescription()
    d.identifyingAttributes = [kv("service.name", "otelcol-contrib"), kv("service.instance.id", uid(i).description)]
    d.nonIdentifyingAttributes = [kv("host.name", "node-\(i % 5000)"), kv("os.type", "linux"), kv("env", "prod")]
    r.description = d.serializedBytes()
    var h = ComponentHealth()
    h.healthy = round % 2 == 0
    h.status = "StatusOK"
    r.health = h.serializedBytes()
    r.effectiveConfigHash = String(repeating: "ab", count: 32)
    var s = RemoteConfigStatus()
    s.lastRemoteConfigHash = [UInt8](repeating: UInt8(round & 0xff), count: 32)
    s.status = round % 2 == 0 ? .applied : .applying
    r.remoteConfigStatus = s.serializedBytes()
    r.owner = "bench"
    return r
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

struct Result {
    var backend: String
    var method: String
    var rows: Int
    var seconds: Double
    var perSecond: Double { Double(rows) / seconds }
}

nonisolated(unsafe) var results: [Result] = []

func record(_ r: Result) {
    results.append(r)
    log("\(r.backend) \(r.method): \(r.rows) rows in \(String(format: "%.3f", r.seconds)) s = \(Int(r.perSecond)) rows/s")
}

func batches(_ n: Int, _ size: Int, round: Int) -> [WriteBatch] {
    stride(from: 0, to: n, by: size).map { start in
        var b = WriteBatch()
        b.agents = (start..<min(n, start + size)).map { row($0, round: round) }
        return b
    }
}

/// The write-behind path end to end: status changes handed over, then waited for.
func service(_ store: any FleetStore, _ o: Options, backend: String) throws {
    var options = FleetOptions(instance: "bench")
    options.batchRows = o.batch
    let fleet = try FleetService(store: store, options: options)
    fleet.start()
    var changes: [StatusChanges] = []
    changes.reserveCapacity(o.rows)
    for i in 0..<o.rows {
        var c = StatusChanges()
        c.instanceUID = uid(i)
        var s = RemoteConfigStatus()
        s.lastRemoteConfigHash = [UInt8](repeating: 7, count: 32)
        s.status = .applied
        c.remoteConfigStatus = s
        changes.append(c)
    }
    let trace = ProcessInfo.processInfo.environment["STOREBENCH_TRACE"] != nil
    let t = seconds {
        for c in changes { fleet.record(c) }
        if trace {
            let start = Date()
            while !fleet.waitUntilWritten(timeout: 0.1) {
                let m = fleet.metrics
                log("  +\(String(format: "%.2f", Date().timeIntervalSince(start))) s ingested \(m.changesIngested) written \(m.rowsWritten) backlog \(m.backlogAgents)/\(m.backlogHistory) flushes \(m.flushes)")
            }
        }
        _ = fleet.waitUntilWritten(timeout: 600)
    }
    record(Result(backend: backend, method: "service", rows: o.rows, seconds: t))
    fleet.stop()
}

// MARK: PostgreSQL

func pg(_ conn: OpaquePointer?, _ sql: String) {
    let r = PQexec(conn, sql)
    let st = PQresultStatus(r)
    if st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK {
        log("postgres: \(String(cString: PQresultErrorMessage(r)))")
        exit(1)
    }
    PQclear(r)
}

func copyLine(_ r: AgentRow, into out: inout [UInt8]) {
    func hex(_ b: [UInt8]?) -> String { b.map { "\\\\x" + $0.map { String(format: "%02x", $0) }.joined() } ?? "\\N" }
    let fields = [
        r.uid, r.connected ? "1" : "0", String(r.firstSeen), String(r.lastSeen), String(r.capabilities),
        hex(r.description), hex(r.health), r.effectiveConfigHash ?? "\\N", hex(r.remoteConfigStatus), "\\N", "\\N",
        "\\N", "\\N", r.owner, String(r.fence), String(r.claimedAt),
    ]
    out.append(contentsOf: fields.joined(separator: "\t").utf8)
    out.append(10)
}

func postgres(_ admin: String, _ o: Options) throws {
    let name = "ampora_bench_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
    let adminConn = PQconnectdb(admin)
    guard PQstatus(adminConn) == CONNECTION_OK else {
        log("cannot connect to \(admin): \(String(cString: PQerrorMessage(adminConn)))")
        exit(1)
    }
    pg(adminConn, "CREATE DATABASE \(name)")
    defer {
        pg(adminConn, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        PQfinish(adminConn)
    }
    let url = String(admin[..<admin.lastIndex(of: "/")!]) + "/" + name
    let store = try FleetStores.open(url)
    log("postgres: \(o.rows) rows, batches of \(o.batch)")
    let inserts = batches(o.rows, o.batch, round: 0)
    let insertTime = try seconds { for b in inserts { try store.write(b) } }
    record(Result(backend: "postgres", method: "batch-new", rows: o.rows, seconds: insertTime))
    let updates = batches(o.rows, o.batch, round: 1)
    let updateTime = try seconds { for b in updates { try store.write(b) } }
    record(Result(backend: "postgres", method: "batch", rows: o.rows, seconds: updateTime))
    // The same updates while other instances are alive: each batch also announces its agents.
    (store as? PostgresStore)?.announceBatches(as: "bench")
    let announced = batches(o.rows, o.batch, round: 2)
    let announcedTime = try seconds { for b in announced { try store.write(b) } }
    (store as? PostgresStore)?.announceBatches(as: nil)
    record(Result(backend: "postgres", method: "batch, announced", rows: o.rows, seconds: announcedTime))
    try cluster(url, o)
    try service(store, o, backend: "postgres")
    store.close()

    let conn = PQconnectdb(url)
    defer { PQfinish(conn) }
    let upsert = """
        INSERT INTO agents (uid, connected, first_seen, last_seen, capabilities, description, health,
            effective_config_hash, remote_config_status, owner)
        VALUES ($1, $2, $3, $4, $5, decode($6, 'hex'), decode($7, 'hex'), $8, decode($9, 'hex'), $10)
        ON CONFLICT (uid) DO UPDATE SET connected = excluded.connected, last_seen = excluded.last_seen,
            health = excluded.health, remote_config_status = excluded.remote_config_status
        """
    let n = min(o.autocommitRows, o.rows)
    let rows = (0..<n).map { row($0, round: 2) }
    let autocommit = seconds {
        for r in rows {
            let hex = { (b: [UInt8]?) in (b ?? []).map { String(format: "%02x", $0) }.joined() }
            let params: [String] = [
                r.uid, "1", String(r.firstSeen), String(r.lastSeen), String(r.capabilities), hex(r.description),
                hex(r.health), r.effectiveConfigHash ?? "", hex(r.remoteConfigStatus), r.owner,
            ]
            var c = params.map { strdup($0) }
            let res = c.withUnsafeMutableBufferPointer { buf in
                buf.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buf.count) {
                    PQexecParams(conn, upsert, Int32(params.count), nil, $0, nil, nil, 0)
                }
            }
            if PQresultStatus(res) != PGRES_COMMAND_OK { log(String(cString: PQresultErrorMessage(res))) }
            PQclear(res)
            for p in c { free(p) }
            c.removeAll()
        }
    }
    record(Result(backend: "postgres", method: "autocommit", rows: n, seconds: autocommit))

    pg(conn, "CREATE TABLE raw_copy (LIKE agents INCLUDING ALL)")
    pg(conn, "ALTER TABLE raw_copy DROP COLUMN deleted_at")
    let lines: [[UInt8]] = stride(from: 0, to: o.rows, by: o.batch).map { start in
        var out: [UInt8] = []
        for i in start..<min(o.rows, start + o.batch) { copyLine(row(i, round: 3), into: &out) }
        return out
    }
    let raw = seconds { copyChunks(conn, "COPY raw_copy FROM STDIN", lines) }
    record(Result(backend: "postgres", method: "raw", rows: o.rows, seconds: raw))

    // Not the floor, a reference beside it: the same rows COPYed in binary format, as the batch
    // writer sends them since BENCHMARKS.md's "Status writes in binary". The ÷ raw column stays
    // against the text COPY above, the floor of every earlier table.
    pg(conn, "CREATE TABLE raw_binary (LIKE agents INCLUDING ALL)")
    pg(conn, "ALTER TABLE raw_binary DROP COLUMN deleted_at")
    let binary: [[UInt8]] = stride(from: 0, to: o.rows, by: o.batch).map { start in
        var out = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        for i in start..<min(o.rows, start + o.batch) { binaryLine(row(i, round: 3), into: &out) }
        out += [0xFF, 0xFF]
        return out
    }
    let rawBinary = seconds { copyChunks(conn, "COPY raw_binary FROM STDIN (FORMAT binary)", binary) }
    record(Result(backend: "postgres", method: "raw, binary", rows: o.rows, seconds: rawBinary))
}

/// Each chunk through `copy` in a transaction of its own: how the floors are written.
func copyChunks(_ conn: OpaquePointer?, _ copy: String, _ chunks: [[UInt8]]) {
    for chunk in chunks {
        pg(conn, "BEGIN")
        PQclear(PQexec(conn, copy))
        _ = chunk.withUnsafeBytes {
            PQputCopyData(conn, $0.baseAddress?.assumingMemoryBound(to: CChar.self), Int32($0.count))
        }
        _ = PQputCopyEnd(conn, nil)
        while let r = PQgetResult(conn) {
            if PQresultStatus(r) != PGRES_COMMAND_OK { log(String(cString: PQresultErrorMessage(r))) }
            PQclear(r)
        }
        pg(conn, "COMMIT")
    }
}

/// `copyLine`'s row in COPY binary format: 16 fields, each a big-endian length and its bytes.
func binaryLine(_ r: AgentRow, into out: inout [UInt8]) {
    func be<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.bigEndian) { out += $0 } }
    func field(_ b: [UInt8]?) {
        if let b {
            be(Int32(b.count))
            out += b
        } else {
            be(Int32(-1))
        }
    }
    func int(_ v: Int64) {
        be(Int32(8))
        be(v)
    }
    be(Int16(16))
    field(Array(r.uid.utf8))
    int(r.connected ? 1 : 0)
    int(r.firstSeen)
    int(r.lastSeen)
    int(r.capabilities)
    field(r.description)
    field(r.health)
    field(r.effectiveConfigHash.map { Array($0.utf8) })
    field(r.remoteConfigStatus)
    for _ in 0..<4 { field(nil) }
    field(Array(r.owner.utf8))
    int(r.fence)
    int(r.claimedAt)
}

/// `--instances` writers at once, as that many instances on one database would: each its own
/// session and its own agents (a share of the rows), updates with announcements on.
func cluster(_ url: String, _ o: Options) throws {
    let n = max(2, o.instances)
    let stores = try (0..<n).map { _ in try PostgresStore(url: url) }
    defer { for s in stores { s.close() } }
    let work: [[WriteBatch]] = (0..<n).map { k in
        stride(from: k * o.rows / n, to: (k + 1) * o.rows / n, by: o.batch).map { start in
            var b = WriteBatch()
            b.agents = (start..<min((k + 1) * o.rows / n, start + o.batch)).map { i in
                var r = row(i, round: 5)
                r.isNew = false
                return r
            }
            return b
        }
    }
    for (k, s) in stores.enumerated() { s.announceBatches(as: "bench-\(k)") }
    let failures = Mutex(0)
    let elapsed = seconds {
        DispatchQueue.concurrentPerform(iterations: n) { k in
            for b in work[k] {
                do { try stores[k].write(b) } catch { failures.withLock { $0 += 1 } }
            }
        }
    }
    if failures.withLock({ $0 }) > 0 { log("postgres: \(failures.withLock { $0 }) cluster batches failed") }
    record(Result(backend: "postgres", method: "\(n) instances, announced", rows: o.rows, seconds: elapsed))
}

// MARK: SQLite

func sqlite(_ o: Options) throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ampora-store-bench-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("bench.db").path
    let store = try FleetStores.open("sqlite:" + path)
    log("sqlite: \(o.rows) rows, batches of \(o.batch)")
    let insertTime = try seconds { for b in batches(o.rows, o.batch, round: 0) { try store.write(b) } }
    record(Result(backend: "sqlite", method: "batch-new", rows: o.rows, seconds: insertTime))
    let updates = batches(o.rows, o.batch, round: 1)
    let updateTime = try seconds { for b in updates { try store.write(b) } }
    record(Result(backend: "sqlite", method: "batch", rows: o.rows, seconds: updateTime))
    try service(store, o, backend: "sqlite")
    store.close()

    var db: OpaquePointer?
    sqlite3_open(path, &db)
    defer { sqlite3_close(db) }
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", nil, nil, nil)
    let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    func bindRow(_ s: OpaquePointer?, _ r: AgentRow) {
        sqlite3_bind_text(s, 1, r.uid, -1, transient)
        sqlite3_bind_int64(s, 2, 1)
        sqlite3_bind_int64(s, 3, r.firstSeen)
        sqlite3_bind_int64(s, 4, r.lastSeen)
        sqlite3_bind_int64(s, 5, r.capabilities)
        for (i, b) in [(6, r.description), (7, r.health), (9, r.remoteConfigStatus)] {
            let bytes = b ?? []
            bytes.withUnsafeBytes { _ = sqlite3_bind_blob(s, Int32(i), $0.baseAddress, Int32($0.count), transient) }
        }
        sqlite3_bind_text(s, 8, r.effectiveConfigHash ?? "", -1, transient)
        sqlite3_bind_text(s, 10, r.owner, -1, transient)
    }
    let n = min(o.autocommitRows, o.rows)
    var s: OpaquePointer?
    sqlite3_prepare_v2(
        db,
        """
        INSERT INTO agents (uid, connected, first_seen, last_seen, capabilities, description, health,
            effective_config_hash, remote_config_status, owner) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
        ON CONFLICT (uid) DO UPDATE SET connected = excluded.connected, last_seen = excluded.last_seen,
            health = excluded.health, remote_config_status = excluded.remote_config_status
        """, -1, &s, nil)
    let rows = (0..<n).map { row($0, round: 2) }
    let autocommit = seconds {
        for r in rows {
            bindRow(s, r)
            sqlite3_step(s)
            sqlite3_reset(s)
        }
    }
    sqlite3_finalize(s)
    record(Result(backend: "sqlite", method: "autocommit", rows: n, seconds: autocommit))

    sqlite3_exec(
        db,
        """
        CREATE TABLE raw_insert (uid TEXT, connected INTEGER, first_seen INTEGER, last_seen INTEGER, capabilities INTEGER,
            description BLOB, health BLOB, effective_config_hash TEXT, remote_config_status BLOB, owner TEXT)
        """, nil, nil, nil)
    sqlite3_prepare_v2(db, "INSERT INTO raw_insert VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)", -1, &s, nil)
    let all = (0..<o.rows).map { row($0, round: 3) }
    let raw = seconds {
        for start in stride(from: 0, to: o.rows, by: o.batch) {
            sqlite3_exec(db, "BEGIN", nil, nil, nil)
            for r in all[start..<min(o.rows, start + o.batch)] {
                bindRow(s, r)
                sqlite3_step(s)
                sqlite3_reset(s)
            }
            sqlite3_exec(db, "COMMIT", nil, nil, nil)
        }
    }
    sqlite3_finalize(s)
    record(Result(backend: "sqlite", method: "raw", rows: o.rows, seconds: raw))
}

let o = parse()
do {
    // The machines are shared and noisy: every method runs `repeats` times, interleaved, and
    // the best run counts.
    for round in 1...o.repeats {
        log("round \(round) of \(o.repeats)")
        if o.only != "postgres" { try sqlite(o) }
        if o.only != "sqlite", let url = o.postgres { try postgres(url, o) }
    }
} catch {
    log("error: \(error)")
    exit(1)
}
var best: [Result] = []
for r in results {
    if let i = best.firstIndex(where: { $0.backend == r.backend && $0.method == r.method }) {
        if r.perSecond > best[i].perSecond { best[i] = r }
    } else {
        best.append(r)
    }
}
print("| backend | method | rows | seconds (best of \(o.repeats)) | rows/s | ÷ raw |")
print("|---|---|---:|---:|---:|---:|")
for r in best {
    let raw = best.first { $0.backend == r.backend && $0.method == "raw" }
    let ratio = raw.map { String(format: "%.2f", r.perSecond / $0.perSecond) } ?? "–"
    print("| \(r.backend) | \(r.method) | \(r.rows) | \(String(format: "%.3f", r.seconds)) | \(Int(r.perSecond)) | \(ratio) |")
}
