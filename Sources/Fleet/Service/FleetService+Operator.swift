import Core
import Foundation

extension FleetService {
    /// Counts by connection, health and config state, for an overview.
    public func agentFacets() -> AgentFacets {
        inventory.facets()
    }

    /// A filtered, sorted page of agents (an unknown group has no members).
    public func agents(_ query: AgentQuery) -> AgentPage {
        var query = query
        if let name = query.group {
            guard let selector = groupSelector(name) else { return AgentPage(items: [], total: 0, nextCursor: nil) }
            // The group's pairs join the query's; a pair the query also names must agree.
            for (key, value) in selector {
                let isLabel = key.hasPrefix(AgentLabels.selectorPrefix)
                let name = isLabel ? String(key.dropFirst(AgentLabels.selectorPrefix.count)) : key
                let existing = isLabel ? query.labels[name] : query.attributes[name]
                if let existing, existing != value { return AgentPage(items: [], total: 0, nextCursor: nil) }
                if isLabel { query.labels[name] = value } else { query.attributes[name] = value }
            }
        }
        return inventory.page(query)
    }

    /// One agent in full, with its newest history. Reads the database: call it off an async
    /// executor.
    public func agent(_ uid: InstanceUID, historyLimit: Int = 100) -> AgentDetail? {
        guard let state = inventory.agent(uid) else { return nil }
        // The agent itself is in memory; only its written history needs the database. While the
        // database is down the answer says so instead of waiting on it or failing.
        // Unwritten events are taken before the database is read: a batch written in between then
        // shows up twice (and is dropped once below) instead of not at all.
        let key = state.row.uid
        let unwritten = writer.machine.withLock { w in
            (w.writingHistory + w.pending.history).filter { $0.uid == key }
        }
        var complete = counters.storeHealthy
        var history: [HistoryRow] = []
        if complete {
            do {
                history = try store.history(uid: key, limit: historyLimit)
            } catch {
                complete = false
            }
        }
        let written = Set(history)
        history = Array((unwritten.reversed().filter { !written.contains($0) } + history).prefix(historyLimit))
        func json<M: ProtoMessage>(_ type: M.Type, _ bytes: [UInt8]?) -> String? {
            bytes.flatMap { try? M(serializedBytes: $0) }.map { $0.jsonString(pretty: false) }
        }
        // Bounded: an agent decides how large its description is, the operator asking for it does not.
        let description = state.row.description.flatMap { try? AgentDescription(serializedBytes: $0) }
            .map { BoundedRendering.description($0) }
        return AgentDetail(
            summary: state.summary,
            descriptionJSON: description?.value.jsonString(pretty: false),
            descriptionTruncated: description?.truncated ?? false,
            healthJSON: json(ComponentHealth.self, state.row.health),
            packageStatusesJSON: json(PackageStatuses.self, state.row.packageStatuses),
            customCapabilitiesJSON: json(CustomCapabilities.self, state.row.customCapabilities),
            connectionSettingsStatusJSON: json(ConnectionSettingsStatus.self, state.row.connectionSettingsStatus),
            componentsHash: state.row.componentsHash,
            owner: state.row.owner,
            labels: inventory.labels.of(uid),
            revoked: certificates.isRevoked(uid),
            history: history.map(AgentEvent.init),
            historyComplete: complete)
    }

    /// Stores a named config (YAML text) as a published version with the one file "" and
    /// returns the config's current version. Written to the database before it is
    /// acknowledged: call it off an async executor.
    public func putConfig(
        name: String, body: [UInt8], contentType: String = "text/yaml", author: String = "api", ifMatch: String? = nil
    ) throws(FleetError) -> ConfigVersion {
        let saved = try putConfigVersion(
            name: name, body: body, contentType: contentType, author: author, ifMatch: ifMatch)
        let current = inventory.catalogue.config(named: name)
        return ConfigVersion(
            name: name, hash: saved.info.hash, version: saved.info.version,
            updatedAt: current?.version == saved.info.version ? current?.updatedAt ?? 0 : saved.info.createdAt)
    }

    /// `putConfig`, answering with the version as stored and the config's entity tag.
    public func putConfigVersion(
        name: String, body: [UInt8], contentType: String = "text/yaml", author: String = "api", ifMatch: String? = nil
    ) throws(FleetError) -> SavedConfigVersion {
        guard Self.isValidName(name) else {
            throw FleetError(
                .invalid, "invalid_name",
                "config names are 1-128 characters of letters, digits, '.', '_' and '-', and not '.' or '..'")
        }
        guard !body.isEmpty else { throw FleetError(.invalid, "empty_config", "the config body is empty") }
        guard body.count <= options.maxConfigBytes else {
            throw FleetError(.invalid, "config_too_large", "the config is larger than \(options.maxConfigBytes) bytes")
        }
        guard String(validating: body, as: UTF8.self) != nil else {
            throw FleetError(.invalid, "invalid_utf8", "the config is not valid UTF-8 text")
        }
        let saved = try configVersions.save(
            name,
            NewConfigVersion(
                files: ["": ConfigFile(body: body, contentType: contentType)], author: author, ifMatch: ifMatch))
        announceCatalogue()
        return saved
    }

    /// Every named config.
    public func listConfigs() -> [ConfigVersion] {
        inventory.catalogue.all.map(ConfigVersion.init)
    }

    /// Assigns the current version of config `name` to the agents `selector` (or `uids`)
    /// selects, and offers it to every connected one that accepts remote config. Written to the
    /// database before it is acknowledged: call it off an async executor.
    public func assign(config name: String, selector: [String: String], uids: [String] = []) throws(FleetError)
        -> Assignment
    {
        var canonical: [String] = []
        for text in uids {
            guard let uid = InstanceUID(string: text) else {
                throw FleetError(.invalid, "invalid_uid", "\(text) is not a UUID")
            }
            canonical.append(uid.description)
        }
        guard let config = inventory.catalogue.config(named: name) else {
            throw FleetError(.notFound, "config_not_found", "no config named \(name)")
        }
        var random = SystemRandomNumberGenerator()
        var row = AssignmentRow(
            id: String(format: "%016llx", random.next() as UInt64), config: name, hash: config.hash,
            selector: selector, uids: canonical, sequence: inventory.assignments.nextSequence,
            createdAt: options.clock())
        do {
            // After every stored one, also those of other instances this one has not heard of yet.
            row.sequence = max(row.sequence, try store.nextAssignmentSequence())
            try store.saveAssignment(row)
        } catch {
            throw FleetError(.unavailable, "database_unavailable", "the assignment was not stored: \(error.message)")
        }
        inventory.assignments.append(Assignments.Entry(row: row, config: inventory.catalogue.shared(row.hash)))
        // Other instances first: each then walks its own part of the fleet while this one does.
        announceCatalogue()
        inventory.refreshAll(now: options.clock()) { requestPush($0) }
        return Assignment(row)
    }

    /// Pushes to `uids`; past `broadcastAbove` agents, one broadcast per loop instead (every
    /// connection is visited: cheaper than a message per agent when most agents changed).
    func requestPush(_ uids: [InstanceUID], broadcastAbove: Int = 2000) {
        guard !uids.isEmpty, let handler = onPush else { return }
        counters.update { $0.pushesRequested += uids.count }
        handler(uids.count > broadcastAbove ? nil : uids)
    }

    /// Progress of an assignment: kept as agents change, so a poll costs no walk over the fleet.
    public func assignmentStatus(_ id: String) -> AssignmentStatus? {
        guard let row = inventory.assignments.row(id: id) else { return nil }
        let counts = inventory.progress(id)
        var status = AssignmentStatus(assignment: Assignment(row))
        status.targets = counts.targets
        status.applied = counts.applied
        status.applying = counts.applying
        status.failed = counts.failed
        status.pending = counts.targets - counts.applied - counts.applying - counts.failed
        return status
    }

    /// Letters, digits, '.', '_' and '-', not `.` or `..` (which a URL path would resolve away).
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 128 && name != "." && name != ".."
            && name.utf8.allSatisfy { c in
                (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 46 || c == 95 || c == 45
            }
    }
}
