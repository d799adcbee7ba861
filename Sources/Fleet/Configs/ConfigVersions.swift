import Core
import Foundation
import Synchronization

/// The versions of named configs: immutable file maps numbered 1, 2, … per name, drafts and
/// published alike, checked by the Toolkit when saved and again when published. The current
/// published version of each config stays with `ConfigCatalogue`, which assignments read; a
/// draft never gets there. Versions are read from the database, not kept in memory: operators
/// ask for them rarely, and agents never.
final class ConfigVersions: Sendable {
    private let store: any FleetStore
    private let catalogue: ConfigCatalogue
    let maxBytes: Int
    let maxFiles: Int
    private let clock: @Sendable () -> Int64
    /// Held from reading a config's newest version to writing the next, so that numbering and
    /// `If-Match` are decided by one writer at a time (in this process; another server on the
    /// same database loses with a conflict instead).
    private let writing = Mutex(())

    /// Versions stored in `store`, published through `catalogue`.
    init(store: any FleetStore, catalogue: ConfigCatalogue, options: FleetOptions) {
        self.store = store
        self.catalogue = catalogue
        self.maxBytes = options.maxConfigBytes
        self.maxFiles = options.maxConfigFiles
        self.clock = options.clock
    }

    /// The entity tag of version `version`, and of a config whose newest version it is.
    static func etag(_ version: Int64) -> String { "\"v\(version)\"" }

    /// True when an `If-Match` value admits a config whose newest version is `newest` (RFC 9110
    /// §13.1.1: `*` or a listed strong tag; nothing matches a config that does not exist).
    static func matches(_ header: String, newest: Int64?) -> Bool {
        guard let newest else { return false }
        return header.split(separator: ",").contains { part in
            let tag = part.trimmingCharacters(in: .whitespaces)
            return tag == "*" || tag == etag(newest)
        }
    }

    // MARK: Writing

    /// Stores `request` as the next version of `name`, or answers the version that already
    /// holds the same content (the newest, or the current published one). Publishing refuses
    /// content with errors; a draft keeps them with its findings.
    func save(_ name: String, _ request: NewConfigVersion) throws(FleetError) -> SavedConfigVersion {
        try Self.checkName(name)
        try Self.checkText(request.author, "author", limit: 256, newlines: false)
        if let message = request.message { try Self.checkText(message, "message", limit: 4096, newlines: true) }
        let map = try checkedMap(request.files)
        let files = ConfigLint.ordered(map)
        // The Toolkit's check is the slow part: it runs before the lock, on content alone.
        let findings = ConfigLint.findings(files)
        if !request.draft { try Self.refuseErrors(findings) }
        let findingsJSON = Self.encode(findings)
        let hash = ConfigHash.hex(ConfigHash.of(map))
        return try writing.withLock { _ throws(FleetError) -> SavedConfigVersion in
            let newest = try read { () throws(StoreError) in try store.configVersions(name: name, limit: 1).first }
            try Self.checkPrecondition(request.ifMatch, newest: newest?.version)
            let current = catalogue.config(named: name)
            var same: ConfigVersionRow?
            if let newest, newest.hash == hash {
                same = newest
            } else if let current, current.hash == hash {
                let version = current.version
                same = try read { () throws(StoreError) in try store.configVersion(name: name, version: version) }
            }
            if let same, let newest {
                guard !request.draft, current?.version != same.version else {
                    return SavedConfigVersion(
                        info: info(same, current: current?.version), created: false, etag: Self.etag(newest.version))
                }
                let published = try publishLocked(same, findings: findingsJSON)
                return SavedConfigVersion(info: published, created: false, etag: Self.etag(newest.version))
            }
            let now = clock()
            // The configs row only ever names a stored version, but a database written before
            // drafts existed is trusted no further than that.
            let version = max(newest?.version ?? 0, current?.version ?? 0) + 1
            let row = ConfigVersionRow(
                name: name, version: version, hash: hash, createdAt: now, author: request.author,
                message: request.message, draft: request.draft, findings: findingsJSON)
            let made = request.draft ? nil : ConfigRow(name: name, hash: hash, version: version, updatedAt: now)
            try write { () throws(StoreError) in
                try store.saveConfigVersion(
                    row, blob: BlobRow(hash: hash, kind: "config", body: map.serializedBytes()), current: made)
            }
            if let made { catalogue.adopt(made) } else { _ = catalogue.noteBlob(hash) }
            return SavedConfigVersion(
                info: info(row, current: made?.version ?? current?.version), created: true, etag: Self.etag(version))
        }
    }

    /// Makes version `version` of `name` the current one: a draft is published, an older
    /// published version becomes current again. Refused while the Toolkit finds errors in it.
    func publish(_ name: String, version: Int64, ifMatch: String?) throws(FleetError) -> SavedConfigVersion {
        let row = try existing(name, version)
        let findings = ConfigLint.findings(try files(of: row))
        try Self.refuseErrors(findings)
        return try writing.withLock { _ throws(FleetError) -> SavedConfigVersion in
            let newest = try read { () throws(StoreError) in try store.configVersions(name: name, limit: 1).first }
            try Self.checkPrecondition(ifMatch, newest: newest?.version)
            let etag = Self.etag(newest?.version ?? version)
            if !row.draft, catalogue.config(named: name)?.version == version {
                return SavedConfigVersion(info: info(row, current: version), created: false, etag: etag)
            }
            return SavedConfigVersion(
                info: try publishLocked(row, findings: Self.encode(findings)), created: false, etag: etag)
        }
    }

    /// Publishes `row` with the findings of its latest check; the caller holds `writing`.
    private func publishLocked(_ row: ConfigVersionRow, findings: String) throws(FleetError) -> ConfigVersionInfo {
        let config = ConfigRow(name: row.name, hash: row.hash, version: row.version, updatedAt: clock())
        try write { () throws(StoreError) in try store.publishConfigVersion(config, findings: findings) }
        catalogue.adopt(config)
        var published = row
        published.draft = false
        published.findings = findings
        return info(published, current: row.version)
    }

    // MARK: Reading

    /// Versions of `name`, newest first.
    func list(_ name: String, limit: Int, before: Int64?) throws(FleetError) -> ConfigVersionList {
        let (newest, rows) = try read { () throws(StoreError) in
            (
                try store.configVersions(name: name, limit: 1).first,
                try store.configVersions(
                    name: name, limit: limit, before: before)
            )
        }
        guard let newest else { throw FleetError(.notFound, "config_not_found", "no config named \(name)") }
        let current = catalogue.config(named: name)?.version
        return ConfigVersionList(
            items: rows.map { info($0, current: current) }, current: current, etag: Self.etag(newest.version))
    }

    /// One version with its files.
    func detail(_ name: String, version: Int64) throws(FleetError) -> ConfigVersionDetail {
        let row = try existing(name, version)
        return ConfigVersionDetail(
            info: info(row, current: catalogue.config(named: name)?.version), files: try files(of: row))
    }

    /// The config's entity tag; nil when it has no version or the database cannot be read.
    func etag(_ name: String) -> String? {
        guard let newest = try? store.configVersions(name: name, limit: 1).first else { return nil }
        return Self.etag(newest.version)
    }

    /// `ampora-tool diff --json` from version `old` to version `new`.
    func diff(_ name: String, from old: Int64, to new: Int64) throws(FleetError) -> String {
        let a = try ConfigLint.root(try files(of: try existing(name, old)), version: old)
        let b = try ConfigLint.root(try files(of: try existing(name, new)), version: new)
        return ConfigLint.diff(old: a, new: b)
    }

    /// `ampora-tool graph` of version `version`.
    func graph(_ name: String, version: Int64, format: ConfigGraphFormat) throws(FleetError) -> String {
        ConfigLint.graph(
            try ConfigLint.root(try files(of: try existing(name, version)), version: version), format: format)
    }

    private func existing(_ name: String, _ version: Int64) throws(FleetError) -> ConfigVersionRow {
        let row = try read { () throws(StoreError) in try store.configVersion(name: name, version: version) }
        guard let row else {
            throw FleetError(.notFound, "version_not_found", "config \(name) has no version \(version)")
        }
        return row
    }

    private func files(of row: ConfigVersionRow) throws(FleetError) -> [(name: String, file: ConfigFile)] {
        let blob = try read { () throws(StoreError) in try store.blob(hash: row.hash) }
        guard let blob, let map = try? AgentConfigMap(serializedBytes: blob.body) else {
            throw FleetError(.notFound, "content_missing", "the content of version \(row.version) is not stored")
        }
        return ConfigLint.ordered(map)
    }

    private func info(_ row: ConfigVersionRow, current: Int64?) -> ConfigVersionInfo {
        ConfigVersionInfo(
            name: row.name, version: row.version, hash: row.hash, author: row.author, message: row.message,
            createdAt: row.createdAt, draft: row.draft, current: !row.draft && current == row.version,
            findings: Self.decode(row.findings))
    }

    // MARK: Storage

    private static func encode(_ findings: [ConfigFinding]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(findings)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }

    private static func decode(_ text: String?) -> [ConfigFinding] {
        guard let text else { return [] }
        return (try? JSONDecoder().decode([ConfigFinding].self, from: Data(text.utf8))) ?? []
    }

    private func read<T>(_ body: () throws(StoreError) -> T) throws(FleetError) -> T {
        do {
            return try body()
        } catch {
            throw FleetError(.unavailable, "database_unavailable", "the config could not be read: \(error.message)")
        }
    }

    private func write(_ body: () throws(StoreError) -> Void) throws(FleetError) {
        do {
            try body()
        } catch  where error.kind == .conflict {
            throw FleetError(
                .conflict, "version_conflict",
                "the config was not stored: \(error.message) (another server may have taken the version number; send it again)"
            )
        } catch {
            throw FleetError(.unavailable, "database_unavailable", "the config was not stored: \(error.message)")
        }
    }
}
