import Foundation
import Testing

@testable import Fleet

/// One suite, both backends: every store must behave the same.
@Suite struct StoreConformanceTests {
    static func row(_ i: Int, connected: Bool = true, owner: String = "test") -> AgentRow {
        var row = AgentRow(uid: String(format: "0190a000-0000-7000-8000-%012d", i))
        row.connected = connected
        row.firstSeen = 1000 + Int64(i)
        row.lastSeen = 2000 + Int64(i)
        row.capabilities = 0x3007
        row.description = [0x0a, 0x02, 0x0a, 0x00]
        row.effectiveConfigHash = String(repeating: "ab", count: 32)
        row.owner = owner
        row.rolledBackFrom = i % 2 == 0 ? String(repeating: "cd", count: 32) : nil
        return row
    }

    @Test(arguments: TestDatabases.backends)
    func migrationsRunOnceAndReopen(_ backend: String) throws {
        let url = try TestDatabases.freshURL(backend)
        let first = try FleetStores.open(url)
        #expect(first.backend == backend)
        try first.write(
            {
                var b = WriteBatch()
                b.agents = [Self.row(1)]
                return b
            }())
        first.close()
        let second = try FleetStores.open(url)
        defer { second.close() }
        #expect(try second.loadAgents().map(\.uid) == [Self.row(1).uid])
    }

    @Test(arguments: TestDatabases.backends)
    func batchesUpsertTouchAndAppend(_ backend: String) throws {
        let store = try FleetStores.open(try TestDatabases.freshURL(backend))
        defer { store.close() }
        var batch = WriteBatch()
        batch.agents = (0..<500).map { Self.row($0) }
        batch.blobs = [
            BlobRow(hash: "h1", kind: "config", body: [1, 2, 3]), BlobRow(hash: "h1", kind: "config", body: [1, 2, 3]),
        ]
        batch.history = [
            HistoryRow(uid: Self.row(1).uid, at: 1, kind: "connected", detail: "tab\tand\\backslash\nnewline"),
            HistoryRow(uid: Self.row(1).uid, at: 2, kind: "disconnected", detail: ""),
        ]
        try store.write(batch)
        var second = WriteBatch()
        var changed = Self.row(1, connected: false)
        changed.description = nil
        changed.health = [9, 9]
        changed.firstSeen = 5000
        second.agents = [changed]
        second.touches = [(Self.row(2).uid, 99_999), (Self.row(3).uid, 1)]
        second.blobs = [
            BlobRow(hash: "h1", kind: "config", body: [1, 2, 3]), BlobRow(hash: "h2", kind: "config", body: []),
        ]
        try store.write(second)

        let agents = Dictionary(uniqueKeysWithValues: try store.loadAgents().map { ($0.uid, $0) })
        #expect(agents.count == 500)
        let one = try #require(agents[Self.row(1).uid])
        #expect(one.connected == false)
        #expect(one.description == nil)
        #expect(one.health == [9, 9])
        #expect(one.firstSeen == Self.row(1).firstSeen, "first seen never moves forward")
        #expect(agents[Self.row(2).uid]?.lastSeen == 99_999)
        #expect(agents[Self.row(3).uid]?.lastSeen == Self.row(3).lastSeen, "last seen never moves back")
        #expect(agents[Self.row(7).uid] == Self.row(7))
        #expect(try store.blobCount(kind: "config") == 2)
        #expect(try store.blob(hash: "h1")?.body == [1, 2, 3])
        #expect(try store.blob(hash: "h2")?.body == [])
        let history = try store.history(uid: Self.row(1).uid, limit: 10)
        #expect(history.map(\.kind) == ["disconnected", "connected"])
        #expect(history.last?.detail == "tab\tand\\backslash\nnewline")
    }

    @Test(arguments: TestDatabases.backends)
    func configsAssignmentsAndOwnership(_ backend: String) throws {
        let store = try FleetStores.open(try TestDatabases.freshURL(backend))
        defer { store.close() }
        try store.saveConfig(
            ConfigRow(name: "base", hash: "c1", version: 1, updatedAt: 10),
            blob: BlobRow(hash: "c1", kind: "config", body: [7]))
        try store.saveConfig(
            ConfigRow(name: "base", hash: "c2", version: 2, updatedAt: 20),
            blob: BlobRow(hash: "c2", kind: "config", body: [8]))
        #expect(try store.loadConfigs() == [ConfigRow(name: "base", hash: "c2", version: 2, updatedAt: 20)])
        let a = AssignmentRow(
            id: "a1", config: "base", hash: "c2", selector: ["env": "prod", "team": "x"], uids: [], sequence: 1,
            createdAt: 5)
        let b = AssignmentRow(
            id: "a2", config: "base", hash: "c1", selector: [:], uids: [Self.row(1).uid], sequence: 2, createdAt: 6)
        try store.saveAssignment(a)
        try store.saveAssignment(b)
        #expect(try store.loadAssignments() == [a, b])
        #expect(throws: StoreError.self) { try store.saveAssignment(a) }

        var batch = WriteBatch()
        batch.agents = [Self.row(1, owner: "me"), Self.row(2, owner: "other")]
        try store.write(batch)
        try store.markDisconnected(owner: "me")
        let agents = try store.loadAgents()
        #expect(agents.map(\.connected) == [false, true])
    }

    /// The first binding of a uid stays: a second identity for it is not stored, and bindings
    /// outlive a reopen.
    @Test(arguments: TestDatabases.backends)
    func identityBindingsKeepTheFirst(_ backend: String) throws {
        let url = try TestDatabases.freshURL(backend)
        let store = try FleetStores.open(url)
        let uid = Self.row(1).uid
        try store.saveIdentity(IdentityRow(uid: uid, identity: "sha256:aa", boundAt: 1))
        try store.saveIdentity(IdentityRow(uid: uid, identity: "sha256:bb", boundAt: 2))
        store.close()
        let reopened = try FleetStores.open(url)
        defer { reopened.close() }
        #expect(try reopened.loadIdentities() == [IdentityRow(uid: uid, identity: "sha256:aa", boundAt: 1)])
    }

    /// The CA's tables: one authority (replaced on demand), issued certificates revoked per
    /// agent with the identities refused, bindings replaced, labels; all outlive a reopen.
    @Test(arguments: TestDatabases.backends)
    func authorityCertificatesRevocationsAndLabels(_ backend: String) throws {
        let url = try TestDatabases.freshURL(backend)
        let store = try FleetStores.open(url)
        #expect(try store.loadAuthority() == nil)
        let first = AuthorityRow(certificate: "A", privateKey: "K", keyEncrypted: true, keyFile: nil, createdAt: 5)
        try store.saveAuthority(first)
        let second = AuthorityRow(certificate: "B", privateKey: nil, keyEncrypted: false, keyFile: "/k", createdAt: 6)
        try store.saveAuthority(second)
        let uid = Self.row(1).uid
        let certificate = CertificateRow(
            serial: "4a0b", uid: uid, identity: "sha256:cc", certificate: "PEM", publicKey: "3059", notBefore: 1,
            notAfter: 2)
        try store.saveCertificate(certificate)
        try store.rebindIdentity(IdentityRow(uid: uid, identity: "sha256:aa", boundAt: 1))
        try store.rebindIdentity(IdentityRow(uid: uid, identity: "sha256:cc", boundAt: 2))
        try store.saveLabels(uid: uid, labels: ["env": "prod", "team": "a b"])
        try store.revoke(uid: uid, identities: ["sha256:cc", "sha256:dd"], at: 9)
        try store.revoke(uid: uid, identities: ["sha256:cc"], at: 10)
        store.close()
        let reopened = try FleetStores.open(url)
        defer { reopened.close() }
        #expect(try reopened.loadAuthority() == second)
        var revoked = certificate
        revoked.revokedAt = 9
        #expect(try reopened.loadCertificates() == [revoked])
        #expect(Set(try reopened.loadRevokedIdentities()) == ["sha256:cc", "sha256:dd"])
        #expect(try reopened.loadRevokedAgents() == [uid], "the agent itself, once")
        try reopened.readmit(uid: uid)
        #expect(try reopened.loadRevokedAgents().isEmpty)
        #expect(
            Set(try reopened.loadRevokedIdentities()) == ["sha256:cc", "sha256:dd"], "its certificates stay refused")
        #expect(try reopened.loadIdentities() == [IdentityRow(uid: uid, identity: "sha256:cc", boundAt: 2)])
        #expect(try reopened.loadLabels() == [uid: ["env": "prod", "team": "a b"]])
    }

    /// A database from before agents were revoked as such: the migration refuses every agent
    /// that had an identity revoked.
    @Test(arguments: TestDatabases.backends)
    func revokedAgentsAreBackFilledFromRevokedCertificates(_ backend: String) throws {
        let url = try TestDatabases.freshURL(backend)
        let first = try FleetStores.open(url)
        let uid = "0190f1a2-3b4c-7d5e-8f60-718293a4b5c6"
        // The database as it was before that migration (and the ones after it) ran.
        let revokedMigration = try #require(
            Schema.migrations.firstIndex { $0.contains { $0.contains("CREATE TABLE revoked_agents") } })
        try first.execute([
            ("DROP TABLE revoked_agents", []),
            ("ALTER TABLE rollouts DROP COLUMN gate_baseline", []),
            ("ALTER TABLE agents DROP COLUMN rolled_back_from", []),
            ("INSERT INTO revoked_identities (identity, uid, revoked_at) VALUES ('sha256:aa', $1, 7)", [uid]),
            ("INSERT INTO revoked_identities (identity, uid, revoked_at) VALUES ('sha256:bb', $1, 8)", [uid]),
            ("UPDATE ampora_meta SET value = $1 WHERE key = 'schema_version'", [String(revokedMigration)]),
        ])
        first.close()
        let store = try FleetStores.open(url)
        defer { store.close() }
        #expect(try store.loadRevokedAgents() == [uid])
        #expect(try store.select("SELECT revoked_at FROM revoked_agents", []) == [["7"]])
    }

    @Test func foreignAndCorruptSQLiteFilesAreRefused() throws {
        let url = try TestDatabases.freshURL("sqlite")
        let path = String(url.dropFirst("sqlite:".count))
        TestDatabases.sqlite(path, "CREATE TABLE customers (id INTEGER)")
        let foreign = #expect(throws: StoreError.self) { try FleetStores.open(url) }
        #expect(foreign?.kind == .incompatible)
        #expect(foreign?.message.contains("customers") == true)

        let garbage = path + ".garbage"
        try Data(repeating: 0x5a, count: 8192).write(to: URL(fileURLWithPath: garbage))
        let corrupt = #expect(throws: StoreError.self) { try FleetStores.open("sqlite:" + garbage) }
        #expect(corrupt?.kind == .incompatible)
        #expect(try Data(contentsOf: URL(fileURLWithPath: garbage)) == Data(repeating: 0x5a, count: 8192), "untouched")
    }

    @Test(arguments: TestDatabases.backends)
    func newerSchemaIsRefused(_ backend: String) throws {
        let url = try TestDatabases.freshURL(backend)
        try FleetStores.open(url).close()
        let bump = "UPDATE ampora_meta SET value = '999' WHERE key = 'schema_version'"
        if backend == "sqlite" {
            TestDatabases.sqlite(String(url.dropFirst("sqlite:".count)), bump)
        } else {
            try TestDatabases.postgres(url, bump)
        }
        let error = #expect(throws: StoreError.self) { try FleetStores.open(url) }
        #expect(error?.kind == .incompatible)
        #expect(error?.message.contains("newer") == true)
    }

    @Test func foreignPostgresSchemaIsRefused() throws {
        guard TestDatabases.backends.contains("postgres") else { return }
        let url = try TestDatabases.freshURL("postgres")
        try TestDatabases.postgres(url, "CREATE TABLE invoices (id int)")
        let error = #expect(throws: StoreError.self) { try FleetStores.open(url) }
        #expect(error?.kind == .incompatible)
        #expect(error?.message.contains("invoices") == true)
    }

    /// A database from before agent uids compared by bytes: the migration keeps its agents,
    /// and forgetting one still deletes its history (found through the history's own index).
    @Test func postgresUidsCompareByBytesAfterTheMigrationAndKeepTheAgents() throws {
        guard TestDatabases.backends.contains("postgres") else { return }
        let url = try TestDatabases.freshURL("postgres")
        let first = try FleetStores.open(url)
        var batch = WriteBatch()
        // Without a rollback: the old schema below has no column for it.
        batch.agents = (0..<3).map {
            var row = Self.row($0, connected: $0 != 1)
            row.rolledBackFrom = nil
            return row
        }
        batch.history = [HistoryRow(uid: Self.row(1).uid, at: 1, kind: "disconnected", detail: "")]
        try first.write(batch)
        first.close()
        // The database as it was before that migration (and the ones after it) ran.
        let collationMigration = try #require(Schema.migrations.firstIndex { $0 == ["%AGENTS_UID_BYTES%"] })
        try TestDatabases.postgres(
            url,
            """
            ALTER TABLE agents ALTER COLUMN uid TYPE TEXT COLLATE "default";
            DROP TABLE revoked_agents;
            ALTER TABLE rollouts DROP COLUMN gate_baseline;
            ALTER TABLE agents DROP COLUMN rolled_back_from;
            UPDATE ampora_meta SET value = '\(collationMigration)' WHERE key = 'schema_version'
            """)
        let store = try #require(try FleetStores.open(url) as? PostgresStore)
        defer { store.close() }
        #expect(try store.loadAgents() == batch.agents)
        let collation = try store.select(
            "SELECT collation_name FROM information_schema.columns WHERE table_name = 'agents' AND column_name = 'uid'",
            [])
        #expect(collation.first?[0] == "C")
        #expect(try store.history(uid: Self.row(1).uid, limit: 5).count == 1)
        var forget = WriteBatch()
        forget.forgotten = [Self.row(1).uid]
        try store.write(forget)
        #expect(try store.loadAgents().map(\.uid) == [Self.row(0).uid, Self.row(2).uid])
        #expect(try store.history(uid: Self.row(1).uid, limit: 5).isEmpty)
    }

    @Test func unreachablePostgresIsAClearError() {
        let error = #expect(throws: StoreError.self) {
            try FleetStores.open("postgres://nobody:secret@127.0.0.1:1/none?connect_timeout=2")
        }
        #expect(error?.kind == .unavailable)
        #expect(error?.message.contains("secret") == false, "passwords never reach logs")
    }
}

@Suite struct SQLiteParameterTests {
    @Test func parametersInOrderBecomeAnonymousOthersKeepTheirNumbers() {
        #expect(
            SQLiteStore.positional("INSERT INTO t VALUES ($1, $2), ($3, $4)") == "INSERT INTO t VALUES (?, ?), (?, ?)")
        #expect(
            SQLiteStore.positional("SELECT a FROM t WHERE b = $1 OR c = $1") == "SELECT a FROM t WHERE b = ?1 OR c = ?1"
        )
        #expect(SQLiteStore.positional("SELECT $2, $1") == "SELECT ?2, ?1")
        #expect(SQLiteStore.positional("SELECT $1, $10") == "SELECT ?1, ?10")
        #expect(SQLiteStore.positional("SELECT 1") == "SELECT 1")
        #expect(SQLiteStore.positional("SELECT 'é', $1") == "SELECT 'é', ?")
    }

    @Test func aThousandParametersInOneStatementBindWhereTheyBelong() throws {
        let store = try FleetStores.open(try TestDatabases.freshURL("sqlite"))
        defer { store.close() }
        try store.execute([("CREATE TABLE wide (k INTEGER, v TEXT)", [])])
        let rows = (1...500).map { "($\($0 * 2 - 1), $\($0 * 2))" }.joined(separator: ", ")
        let params: [String?] = (1...500).flatMap { [String($0), "v\($0)"] }
        try store.execute([("INSERT INTO wide (k, v) VALUES \(rows)", params)])
        let read = try store.select("SELECT k, v FROM wide WHERE k = $1 OR k = $2 ORDER BY k", ["7", "500"])
        #expect(read == [["7", "v7"], ["500", "v500"]])
    }
}
