#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#else
    import Darwin
#endif

/// Shell-style path patterns for `ignore` in `.ampora-lint.yaml` (`*` also crosses `/`, so `vendor/*` covers a tree).
enum Glob {
    static func matches(_ pattern: String, _ path: String) -> Bool {
        let trimmed = path.hasPrefix("./") ? String(path.dropFirst(2)) : path
        return fnmatch(pattern, trimmed, 0) == 0 || fnmatch(pattern, path, 0) == 0
    }

    static func matchesAny(_ patterns: [String], _ path: String) -> Bool {
        patterns.contains { matches($0, path) }
    }
}
