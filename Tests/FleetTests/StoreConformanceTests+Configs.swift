import Testing

@testable import Fleet

extension StoreConformanceTests {
    static func version(_ v: Int64, hash: String, draft: Bool = false) -> ConfigVersionRow {
        ConfigVersionRow(
            name: "base", version: v, hash: hash, createdAt: 100 + v, author: "alice", message: "v\(v) ünïcode\nline",
            draft: draft, findings: "[{\"rule\":\"x\"}]")
    }

    /// Versions with their blobs, drafts that do not touch the current config, publication,
    /// newest-first pages; a version number taken twice is a conflict that leaves nothing behind.
    @Test(arguments: TestDatabases.backends)
    func configVersionsDraftsAndPublication(_ backend: String) throws {
        let url = try TestDatabases.freshURL(backend)
        let store = try FleetStores.open(url)
        let one = Self.version(1, hash: "h1")
        try store.saveConfigVersion(
            one, blob: BlobRow(hash: "h1", kind: "config", body: [0, 1, 255]),
            current: ConfigRow(name: "base", hash: "h1", version: 1, updatedAt: 101))
        let two = Self.version(2, hash: "h2", draft: true)
        try store.saveConfigVersion(two, blob: BlobRow(hash: "h2", kind: "config", body: []), current: nil)
        var three = Self.version(3, hash: "h3", draft: true)
        three.author = nil
        three.message = nil
        three.findings = nil
        try store.saveConfigVersion(three, blob: BlobRow(hash: "h3", kind: "config", body: [3]), current: nil)
        #expect(try store.loadConfigs() == [ConfigRow(name: "base", hash: "h1", version: 1, updatedAt: 101)])
        #expect(try store.blob(hash: "h1")?.body == [0, 1, 255])
        #expect(try store.blob(hash: "h2")?.body == [])

        let taken = #expect(throws: StoreError.self) {
            try store.saveConfigVersion(
                Self.version(3, hash: "h4"), blob: BlobRow(hash: "h4", kind: "config", body: [4]),
                current: ConfigRow(name: "base", hash: "h4", version: 3, updatedAt: 104))
        }
        #expect(taken?.kind == .conflict)
        #expect(try store.blob(hash: "h4") == nil, "the blob went with the failed version")
        #expect(try store.loadConfigs().map(\.hash) == ["h1"])

        try store.publishConfigVersion(ConfigRow(name: "base", hash: "h2", version: 2, updatedAt: 200), findings: "[]")
        store.close()

        let reopened = try FleetStores.open(url)
        defer { reopened.close() }
        #expect(try reopened.loadConfigs() == [ConfigRow(name: "base", hash: "h2", version: 2, updatedAt: 200)])
        var published = two
        published.draft = false
        published.findings = "[]"
        #expect(try reopened.configVersions(name: "base", limit: 10) == [three, published, one])
        #expect(try reopened.configVersions(name: "base", limit: 1) == [three])
        #expect(try reopened.configVersions(name: "base", limit: 10, before: 3) == [published, one])
        #expect(try reopened.configVersion(name: "base", version: 1) == one)
        #expect(try reopened.configVersion(name: "base", version: 9) == nil)
        #expect(try reopened.configVersions(name: "other", limit: 10).isEmpty)
    }

    /// Versions written by `saveConfig` (before drafts existed) read as published, without an
    /// author, message or findings.
    @Test(arguments: TestDatabases.backends)
    func versionsFromBeforeDraftsReadAsPublished(_ backend: String) throws {
        let store = try FleetStores.open(try TestDatabases.freshURL(backend))
        defer { store.close() }
        try store.saveConfig(
            ConfigRow(name: "old", hash: "c1", version: 1, updatedAt: 10),
            blob: BlobRow(hash: "c1", kind: "config", body: [7]))
        #expect(
            try store.configVersions(name: "old", limit: 5) == [
                ConfigVersionRow(
                    name: "old", version: 1, hash: "c1", createdAt: 10, author: nil, message: nil, draft: false,
                    findings: nil)
            ])
    }
}
