import Core

extension FleetService {
    /// What the Toolkit finds in one config file, without storing anything: the check a
    /// version gets when saved, for an editor that lints as the operator types. Call it off an
    /// async executor (the check can take a while on a large file).
    public func lint(file name: String, body: [UInt8]) -> [ConfigFinding] {
        ConfigLint.findings([(name, ConfigFile(body: body))])
    }
}

extension FleetService {
    /// Every group's name and selector, without counting members: what a filter menu needs,
    /// cheap at any fleet size (`listGroups` scans the inventory once per call).
    public func groupSelectors() -> [(name: String, selector: [String: String])] {
        groups.withLock { $0.values.sorted { $0.name < $1.name }.map { ($0.name, $0.selector) } }
    }
}
