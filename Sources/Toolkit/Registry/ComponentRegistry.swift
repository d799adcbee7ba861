/// One line of the registry table: `kind, type, stability, note`, as in components.tsv.
public struct RegistryRow: Sendable, Hashable {
    /// `receiver`, `processor`, `exporter`, `connector`, `extension`, or `section` (a vendor's own top-level key).
    public var kind: String
    /// The type as written in YAML keys.
    public var type: String
    /// `level:signal+signal …`, or `deprecated-alias`, `removed`, `renamed`.
    public var stability: String
    /// Free text: module, distributions, `renamed from`, `deprecated alias of 'x'`, replacement advice.
    public var note: String

    /// Creates a row.
    public init(kind: String, type: String, stability: String, note: String) {
        self.kind = kind
        self.type = type
        self.stability = stability
        self.note = note
    }
}

/// What the registry knows about one component type.
public struct RegistryEntry: Sendable, Hashable {
    /// Lifecycle of the type itself.
    public enum Status: Sendable, Hashable {
        case current
        /// Still accepted, under an old name of `ComponentRegistry.Entry.aliasOf`.
        case deprecatedAlias
        /// No longer exists.
        case removed
    }

    /// Kind.
    public var kind: ComponentKind
    /// Type.
    public var type: String
    /// Status.
    public var status: Status
    /// Stability level per signal (`traces`) or connector pair (`traces_to_metrics`); `extension` for extensions.
    public var levels: [String: String]
    /// For aliases: the current name.
    public var aliasOf: String?
    /// The row's note (replacement advice for removed types).
    public var note: String

    /// True when the note marks the component as unmaintained.
    public var isUnmaintained: Bool { note.includes("UNMAINTAINED") }
}

/// Component types a distribution knows, used for unknown/removed/deprecated and signal-support checks.
public struct ComponentRegistry: Sendable {
    var entries: [String: RegistryEntry] = [:]
    /// Why a type is absent from this registry when another distribution or release has it, by `kind/type`.
    var absence: [String: String] = [:]
    /// Top-level keys a vendor distribution adds (Splunk's `config_sources`), from `section` rows.
    public private(set) var extraSections: Set<String> = []

    /// Builds a registry from rows.
    public init(rows: [RegistryRow]) {
        for row in rows {
            if row.kind == "section" { extraSections.insert(row.type) }
            guard let kind = ComponentKind(rawValue: row.kind) else { continue }
            var entry = RegistryEntry(kind: kind, type: row.type, status: .current, levels: [:], note: row.note)
            switch row.stability {
            case "deprecated-alias":
                entry.status = .deprecatedAlias
                entry.aliasOf = Self.quoted(after: "deprecated alias of", in: row.note)
            case "removed", "renamed":
                entry.status = .removed
            default:
                for group in row.stability.split(separator: " ") {
                    let parts = group.split(separator: ":", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    for signal in parts[1].split(separator: "+") { entry.levels[String(signal)] = String(parts[0]) }
                }
            }
            entries["\(kind.rawValue)/\(row.type)"] = entry
        }
    }

    /// Parses a components.tsv-shaped file (tab separated; a header line starting with `kind` is skipped).
    public init(tsv: String) throws(RegistryError) {
        self.init(rows: try Self.rows(tsv: tsv))
    }

    /// Adds (or replaces) the types of `rows`: a vendor distribution's own components on top of another registry.
    public mutating func add(_ rows: [RegistryRow]) {
        let added = ComponentRegistry(rows: rows)
        for (key, entry) in added.entries { entries[key] = entry }
        extraSections.formUnion(added.extraSections)
    }

    /// The rows of a components.tsv-shaped file.
    public static func rows(tsv: String) throws(RegistryError) -> [RegistryRow] {
        var rows: [RegistryRow] = []
        for (index, line) in tsv.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingSpaces
            if trimmed.isEmpty || trimmed.hasPrefix("#") || (index == 0 && trimmed.hasPrefix("kind")) { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map { String($0).trimmingSpaces }
            guard fields.count >= 3, ComponentKind(rawValue: fields[0]) != nil || fields[0] == "section" else {
                throw RegistryError(message: "line \(index + 1): expected kind<TAB>type<TAB>stability[<TAB>note]")
            }
            rows.append(
                RegistryRow(
                    kind: fields[0], type: fields[1], stability: fields[2], note: fields.count > 3 ? fields[3] : ""))
        }
        return rows
    }

    /// The registry that ships with the tool.
    public static let builtin = ComponentRegistry(rows: builtinRows)

    /// Why `type` is not in this registry although another distribution or release has it, when known.
    public func absenceNote(_ kind: ComponentKind, _ type: String) -> String? {
        absence["\(kind.rawValue)/\(type)"]
    }

    /// The entry for a type, if known.
    public func entry(_ kind: ComponentKind, _ type: String) -> RegistryEntry? {
        entries["\(kind.rawValue)/\(type)"]
    }

    /// The entry that decides signal support: an alias's target, or the entry itself.
    public func effectiveEntry(_ kind: ComponentKind, _ type: String) -> RegistryEntry? {
        guard let entry = entry(kind, type) else { return nil }
        if entry.status == .deprecatedAlias, let target = entry.aliasOf, let resolved = self.entry(kind, target) {
            return resolved
        }
        return entry
    }

    /// All entries, sorted by kind then type.
    public var allEntries: [RegistryEntry] {
        entries.values.sorted { ($0.kind, $0.type) < ($1.kind, $1.type) }
    }

    /// Known current types of a kind, used for "did you mean" hints.
    public func types(of kind: ComponentKind) -> [String] {
        entries.values.filter { $0.kind == kind && $0.status != .removed }.map(\.type).sorted()
    }

    static func quoted(after marker: String, in text: String) -> String? {
        guard let range = text.firstRange(of: marker) else { return nil }
        let rest = text[range.upperBound...]
        guard let open = rest.firstIndex(of: "'") else { return nil }
        let afterOpen = rest[rest.index(after: open)...]
        guard let close = afterOpen.firstIndex(of: "'") else { return nil }
        return String(afterOpen[..<close])
    }
}

/// A registry file that could not be read.
public struct RegistryError: Error, Sendable {
    /// What is wrong.
    public var message: String
}
