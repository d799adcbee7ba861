extension FleetService {
    /// Stores a new version of config `name`, checked by the Toolkit (errors refuse publishing,
    /// not a draft), or answers the version that already has that content. Written to the
    /// database before it is acknowledged: call it off an async executor.
    public func saveConfigVersion(name: String, _ request: NewConfigVersion) throws(FleetError)
        -> SavedConfigVersion
    {
        let saved = try configVersions.save(name, request)
        // A draft changes nothing other instances serve.
        if !saved.info.draft { announceCatalogue() }
        return saved
    }

    /// Publishes version `version` of `name` (a draft, or an older published version) as the
    /// one assignments take. Call it off an async executor.
    public func publishConfigVersion(name: String, version: Int64, ifMatch: String? = nil) throws(FleetError)
        -> SavedConfigVersion
    {
        let published = try configVersions.publish(name, version: version, ifMatch: ifMatch)
        announceCatalogue()
        return published
    }

    /// Versions of `name`, newest first: at most `limit`, older than `before` when given. Reads
    /// the database: call it off an async executor.
    public func configVersionList(name: String, limit: Int = 100, before: Int64? = nil) throws(FleetError)
        -> ConfigVersionList
    {
        try configVersions.list(name, limit: limit, before: before)
    }

    /// Agents per config state for each listed version (by its hash), over the fleet.
    public func configStateCounts(of versions: [ConfigVersionInfo]) -> [Int64: [ConfigState: Int]] {
        let counts = inventory.configStateCounts(targets: versions.map(\.hash))
        var out: [Int64: [ConfigState: Int]] = [:]
        for version in versions { out[version.version] = counts[version.hash] }
        return out
    }

    /// Agents per config state over every published version of `name` (the agents tracked
    /// towards one of its versions), and the config's entity tag as the same read saw it. Reads
    /// the versions from the database: call it off an async executor.
    public func configStateCounts(name: String) throws(FleetError) -> (counts: [ConfigState: Int], etag: String) {
        let first = try configVersions.list(name, limit: 1000, before: nil)
        var page = first
        var versions = page.items.filter { !$0.draft }
        while page.items.count == 1000, let last = page.items.last {
            page = try configVersions.list(name, limit: 1000, before: last.version)
            versions += page.items.filter { !$0.draft }
        }
        var total: [ConfigState: Int] = [:]
        for counts in configStateCounts(of: versions).values {
            total.merge(counts, uniquingKeysWith: +)
        }
        return (total, first.etag)
    }

    /// One version of `name` with its files. Reads the database: call it off an async executor.
    public func configVersion(name: String, version: Int64) throws(FleetError) -> ConfigVersionDetail {
        try configVersions.detail(name, version: version)
    }

    /// The entity tag of config `name` (its newest version), nil when it has none or the
    /// database cannot be read. Call it off an async executor.
    public func configETag(name: String) -> String? {
        configVersions.etag(name)
    }

    /// The Toolkit's semantic diff from version `old` to `new`, as `ampora-tool diff --json`
    /// prints it. Call it off an async executor.
    public func configDiff(name: String, from old: Int64, to new: Int64) throws(FleetError) -> String {
        try configVersions.diff(name, from: old, to: new)
    }

    /// The pipeline graph of a version, as `ampora-tool graph` draws it. Call it off an async executor.
    public func configGraph(name: String, version: Int64, format: ConfigGraphFormat) throws(FleetError) -> String {
        try configVersions.graph(name, version: version, format: format)
    }
}
