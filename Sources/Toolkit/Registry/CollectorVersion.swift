/// A Collector release, `v0.MINOR[.PATCH]`: what exists and what was removed depends on it.
public struct CollectorVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Major version (0 for every release so far).
    public var major: Int
    /// Minor version (128 in v0.128.0).
    public var minor: Int
    /// Patch version.
    public var patch: Int

    /// Creates a version.
    public init(_ major: Int, _ minor: Int, _ patch: Int = 0) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses `v0.128`, `0.128.1` or `v0.128.0`; nil for anything else.
    public init?(_ text: String) {
        let digits = text.hasPrefix("v") ? text.dropFirst() : Substring(text)
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count) else { return nil }
        let numbers = parts.compactMap { $0.allSatisfy(\.isASCIIDigit) && !$0.isEmpty ? Int($0) : nil }
        guard numbers.count == parts.count else { return nil }
        self.init(numbers[0], numbers[1], numbers.count == 3 ? numbers[2] : 0)
    }

    public var description: String { "v\(major).\(minor).\(patch)" }

    public static func < (a: CollectorVersion, b: CollectorVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }

    /// The release the built-in component facts (stability, renames) describe.
    public static let registrySnapshot = CollectorVersion(0, 158)
}
