/// The official distributions' component lists by release and the vendor lists, generated from published
/// manifests by scripts/gen_registry.py (see BuiltinDistributions.swift).
enum DistributionData {
    /// The distributions built from manifests in opentelemetry-collector-releases.
    static let official = ["core", "contrib", "k8s", "otlp"]

    /// Where each module was present: `kind/module` to (distribution, first minor, last minor).
    static let rangesByModule: [String: [(distribution: String, first: Int, last: Int)]] = {
        var result: [String: [(String, Int, Int)]] = [:]
        for (distribution, kind, module, first, last) in ranges {
            result["\(kind)/\(module)", default: []].append((distribution, first, last))
        }
        return result
    }()

    /// The type a core module had at `minor` (the earliest known name before the first release with metadata).
    static func coreType(_ kind: String, _ module: String, at minor: Int) -> String? {
        let history = coreTypes.filter { $0.0 == kind && $0.1 == module }
        return (history.last { $0.3 <= minor } ?? history.first)?.2
    }
}

extension ComponentRegistry {
    /// The registry for a distribution (nil: every known type) at a Collector release: which types exist, which
    /// were removed by then and, for the core components, which name they had. Stability levels and the contrib
    /// renames are only known for the built-in snapshot release.
    public static func distribution(_ name: String?, version: CollectorVersion) throws(RegistryError)
        -> ComponentRegistry
    {
        var official = name
        var vendorRows: [RegistryRow] = []
        if let name, !DistributionData.official.contains(name) {
            guard let rows = DistributionData.vendors[name] else {
                let known = (DistributionData.official + DistributionData.vendors.keys.sorted())
                throw RegistryError(
                    message:
                        "unknown distribution '\(name)' (known: \(known.joined(separator: ", "))); describe others with --registry-add FILE"
                )
            }
            // Vendor builds take most of contrib; their own types come from the vendor list.
            vendorRows = rows
            official = nil
        }
        if official == nil, version == .registrySnapshot {
            var registry = ComponentRegistry.builtin
            registry.add(vendorRows)
            return registry
        }
        let releases = DistributionData.releases
        guard version.major == 0, let first = releases.first, let last = releases.last, version.minor >= first else {
            throw RegistryError(
                message:
                    "no manifest data for \(version): the tool knows v0.\(releases.first ?? 0) to v0.\(releases.last ?? 0)"
            )
        }
        var registry = ComponentRegistry(rows: builtinRows, at: min(version.minor, last), in: official)
        registry.add(vendorRows)
        return registry
    }

    /// The module directory a row names (`module=hostmetricsreceiver`), or the conventional one for its type.
    static func module(of entry: RegistryEntry) -> String {
        if let range = entry.note.firstRange(of: "module=") {
            return String(entry.note[range.upperBound...].prefix { $0 != ";" && $0 != " " })
        }
        return entry.type.replacing("_", with: "") + entry.kind.rawValue
    }

    init(rows: [RegistryRow], at minor: Int, in distribution: String?) {
        let snapshot = ComponentRegistry(rows: rows)
        let name = distribution ?? "official"
        func presence(_ entry: RegistryEntry, _ module: String) -> [(first: Int, last: Int)] {
            (DistributionData.rangesByModule["\(entry.kind.rawValue)/\(module)"] ?? [])
                .filter { distribution == nil || $0.distribution == distribution }.map { ($0.first, $0.last) }
        }
        var usedModules: Set<String> = []
        for (key, original) in snapshot.entries.sorted(by: { $0.key < $1.key }) {
            var entry = original
            let module = Self.module(of: entry)
            let ranges = presence(entry, module)
            if entry.status != .deprecatedAlias { usedModules.insert("\(entry.kind.rawValue)/\(module)") }
            switch entry.status {
            case .deprecatedAlias:
                // Kept when its target is kept and renamed by then; see the rename handling below.
                if minor >= CollectorVersion.registrySnapshot.minor { entries[key] = entry }
                continue
            case .removed:
                if ranges.contains(where: { $0.first <= minor && minor <= $0.last }) {
                    entry.status = .current
                    entry.note = "\(name) v0.\(minor) ships \(module); stability not known for this release"
                }
                entries[key] = entry
                continue
            case .current:
                break
            }
            if ranges.isEmpty {
                // Never in an official manifest (custom builds only): kept for the union of every known type.
                if distribution != nil {
                    absence[key] = "not part of the \(name) distribution"
                    continue
                }
            } else if ranges.contains(where: { $0.first <= minor && minor <= $0.last }) {
                // present
            } else if let firstSeen = ranges.map(\.first).min(), minor < firstSeen {
                absence[key] = "added to the \(name) distribution in v0.\(firstSeen)"
                continue
            } else {
                let lastSeen = ranges.map(\.last).max() ?? minor
                entry.status = .removed
                entry.note = "removed from the \(name) distribution after v0.\(lastSeen)"
                entry.levels = [:]
                entries[key] = entry
                continue
            }
            // The name the type had at that release.
            let oldName =
                DistributionData.coreType(entry.kind.rawValue, module, at: minor)
                ?? (minor < CollectorVersion.registrySnapshot.minor ? Self.renamedFrom(entry.note) : nil)
            if let oldName, oldName != entry.type {
                var old = entry
                old.type = oldName
                entries["\(entry.kind.rawValue)/\(oldName)"] = old
                if DistributionData.coreType(entry.kind.rawValue, module, at: minor) != nil {
                    absence[key] = "named '\(oldName)' in v0.\(minor)"
                    continue
                }
                // When a contrib rename happened is not in the data: both names are accepted before the snapshot.
            }
            entries[key] = entry
        }
        // Aliases whose rename had happened by then (core renames are dated; contrib ones only at the snapshot).
        for (key, alias) in snapshot.entries where alias.status == .deprecatedAlias && entries[key] == nil {
            guard let target = alias.aliasOf, let current = entries["\(alias.kind.rawValue)/\(target)"],
                current.status == .current, absence["\(alias.kind.rawValue)/\(target)"] == nil
            else { continue }
            let module = Self.module(of: current)
            if let renamedAt = DistributionData.coreTypes.first(where: {
                $0.0 == alias.kind.rawValue && $0.1 == module && $0.2 == target
            })?.3, renamedAt <= minor {
                entries[key] = alias
            }
        }
        // Modules in the manifests that the snapshot does not describe (removed long ago, or newer than it).
        for (moduleKey, ranges) in DistributionData.rangesByModule.sorted(by: { $0.key < $1.key })
        where !usedModules.contains(moduleKey) {
            let parts = moduleKey.split(separator: "/", maxSplits: 1).map(String.init)
            guard let kind = ComponentKind(rawValue: parts[0]),
                ranges.contains(where: {
                    (distribution == nil || $0.distribution == distribution) && $0.first <= minor && minor <= $0.last
                })
            else { continue }
            let type =
                DistributionData.coreType(parts[0], parts[1], at: minor)
                ?? (parts[1].hasSuffix(parts[0]) ? String(parts[1].dropLast(parts[0].count)) : parts[1])
            let key = "\(kind.rawValue)/\(type)"
            guard entries[key] == nil || entries[key]?.status == .removed else { continue }
            entries[key] = RegistryEntry(
                kind: kind, type: type, status: .current, levels: [:], aliasOf: nil,
                note: "\(name) v0.\(minor) ships \(parts[1]); stability not known for this release")
        }
    }

    /// `renamed from 'old'` in a row's note.
    static func renamedFrom(_ note: String) -> String? {
        quoted(after: "renamed from", in: note)
    }
}
