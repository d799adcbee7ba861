/// A replacement inside one line of a source file.
public struct TextEdit: Sendable, Hashable {
    /// File name.
    public var file: String
    /// 1-based line.
    public var line: Int
    /// 1-based column in Unicode scalars.
    public var column: Int
    /// Scalars replaced.
    public var length: Int
    /// New text.
    public var replacement: String
    /// The rule this repairs.
    public var rule: RuleID
}

/// Autofixes that keep comments and layout: only the characters that change are touched.
public enum Fixer {
    /// The edits that repair fixable findings in `unit` (deprecated aliases, unquoted OTTL, bare `$VAR`).
    public static func edits(
        for unit: ConfigUnit, sources: [String: SourceText], registry: ComponentRegistry = .builtin,
        rules: Set<RuleID> = [.deprecatedAlias, .ottlUnquoted, .bareEnvVar]
    ) -> [TextEdit] {
        guard let root = unit.root else { return [] }
        let config = CollectorConfig(root: root)
        var edits: [TextEdit] = []
        func edit(_ position: SourcePosition, expect: String, _ replacement: String, rule: RuleID) {
            guard let line = sources[position.file]?.line(position.line) else { return }
            let scalars = Array(line.unicodeScalars)
            var start = position.column - 1
            guard start >= 0, start < scalars.count else { return }
            if scalars[start] == "\"" || scalars[start] == "'" { start += 1 }
            let expected = Array(expect.unicodeScalars)
            guard start + expected.count <= scalars.count, Array(scalars[start..<(start + expected.count)]) == expected
            else { return }
            edits.append(
                TextEdit(
                    file: position.file, line: position.line, column: start + 1, length: expected.count,
                    replacement: replacement, rule: rule))
        }
        if rules.contains(.deprecatedAlias) {
            for component in config.allComponents {
                guard let entry = registry.entry(component.kind, component.id.type), entry.status == .deprecatedAlias,
                    let target = entry.aliasOf
                else { continue }
                let renamed = ComponentID(type: target, name: component.id.name)
                // Renaming onto an ID that already exists would merge two components: leave it to a human.
                if config.component(component.kind, renamed) != nil { continue }
                edit(component.position, expect: component.id.type, target, rule: .deprecatedAlias)
                var refs: [ComponentRef] = []
                switch component.kind {
                case .receiver: refs = config.pipelines.flatMap(\.receivers)
                case .processor: refs = config.pipelines.flatMap(\.processors)
                case .exporter: refs = config.pipelines.flatMap(\.exporters)
                case .connector: refs = config.pipelines.flatMap { $0.receivers + $0.exporters }
                case .extension: refs = config.serviceExtensions
                }
                for ref in refs where ref.id == component.id {
                    edit(ref.position, expect: component.id.type, target, rule: .deprecatedAlias)
                }
            }
        }
        if rules.contains(.ottlUnquoted) {
            let context = CheckContext(config: config, options: CheckOptions(registry: registry), sizeBytes: 0)
            for (node, _) in HygieneChecks.ottlLists(context) {
                for item in node.items ?? [node] {
                    guard let cut = HygieneChecks.cutStatement(item, sources) else { continue }
                    let quoted = "'" + cut.written.replacing("'", with: "''") + "'"
                    edit(item.position, expect: cut.written, quoted, rule: .ottlUnquoted)
                }
            }
        }
        if rules.contains(.bareEnvVar) {
            Walker.scalars(root, path: "") { node, _ in
                guard let text = node.scalar, text.includes("$"), !text.includes("\n") else { return }
                for reference in ReferenceScanner.references(text) where reference.form == .bare {
                    let position = HygieneChecks.column(node, reference.offset)
                    guard position != node.position || reference.offset == 0 else { continue }
                    edit(position, expect: reference.raw, "${env:\(reference.name)}", rule: .bareEnvVar)
                }
            }
        }
        // Overlapping edits (a bare $VAR inside an OTTL statement being quoted) keep the first one.
        var kept: [TextEdit] = []
        for edit in Set(edits).sorted(by: { ($0.file, $0.line, $0.column) < ($1.file, $1.line, $1.column) }) {
            if let last = kept.last, last.file == edit.file, last.line == edit.line,
                edit.column < last.column + last.length
            {
                continue
            }
            kept.append(edit)
        }
        return kept
    }

    /// `source` with `edits` applied (edits for other files are ignored).
    public static func apply(_ edits: [TextEdit], to source: SourceText) -> String {
        var lines = source.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let mine = edits.filter { $0.file == source.name }.sorted { ($0.line, $0.column) > ($1.line, $1.column) }
        for edit in mine where edit.line >= 1 && edit.line <= lines.count {
            var scalars = Array(lines[edit.line - 1].unicodeScalars)
            let start = edit.column - 1
            guard start >= 0, start + edit.length <= scalars.count else { continue }
            scalars.replaceSubrange(start..<(start + edit.length), with: Array(edit.replacement.unicodeScalars))
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars)
            lines[edit.line - 1] = String(view)
        }
        return lines.joined(separator: "\n")
    }

    /// A unified diff of two texts with the same line count (fixes never add or remove lines), with the file
    /// name as given on both sides so `patch -p0` and `git apply -p0` take it.
    public static func unifiedDiff(old: String, new: String, name: String, context: Int = 3) -> String {
        // A final newline ends the last line; it is not an empty line after it (patch would look for one).
        func lines(_ text: String) -> [Substring] {
            let all = text.split(separator: "\n", omittingEmptySubsequences: false)
            return text.hasSuffix("\n") ? Array(all.dropLast()) : all
        }
        let a = lines(old)
        let b = lines(new)
        let noNewline = "\n\\ No newline at end of file\n"
        let lastA = old.hasSuffix("\n") ? "\n" : noNewline
        let lastB = new.hasSuffix("\n") ? "\n" : noNewline
        guard a.count == b.count else { return "" }
        let changed = a.indices.filter { a[$0] != b[$0] }
        guard !changed.isEmpty else { return "" }
        var out = "--- \(name)\n+++ \(name)\n"
        var groups: [[Int]] = []
        for index in changed {
            if let last = groups.last?.last, index - last <= context * 2 {
                groups[groups.count - 1].append(index)
            } else {
                groups.append([index])
            }
        }
        for group in groups {
            let start = max(0, group.first! - context)
            let end = min(a.count - 1, group.last! + context)
            let count = end - start + 1
            out += "@@ -\(start + 1),\(count) +\(start + 1),\(count) @@\n"
            for index in start...end {
                let last = index == a.count - 1
                if a[index] == b[index] {
                    out += " \(a[index])" + (last ? lastA : "\n")
                } else {
                    out += "-\(a[index])" + (last ? lastA : "\n") + "+\(b[index])" + (last ? lastB : "\n")
                }
            }
        }
        return out
    }
}
