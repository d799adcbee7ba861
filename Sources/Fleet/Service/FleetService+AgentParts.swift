import Core

/// One file of an agent's effective config, as the operator API shows it.
public struct EffectiveConfigFile: Sendable, Equatable {
    /// The file's name in the agent's config map ("" for a single unnamed file).
    public var name: String
    /// The content type the agent reported.
    public var contentType: String
    /// The file in canonical form with secrets redacted; nil when it could not be parsed as
    /// YAML (then nothing of it is shown, since its secrets could not be found).
    public var redacted: String?
    /// Its size as reported, in bytes.
    public var size: Int
}

/// An agent's effective config: the files it says it runs.
public struct AgentEffectiveConfig: Sendable, Equatable {
    /// The hex hash of the whole config map.
    public var hash: String
    /// The files in the order the Supervisor merges them.
    public var files: [EffectiveConfigFile]
}

// What an agent reported in full (its effective config, its available components): kept once
// per distinct content as a blob, read here for the operator API.
extension FleetService {
    /// The effective config agent `uid` last reported, secrets redacted by the Toolkit's rules.
    /// Reads the database: call it off an async executor.
    public func effectiveConfig(of uid: InstanceUID) throws(FleetError) -> AgentEffectiveConfig {
        guard let state = inventory.agent(uid) else {
            throw FleetError(.notFound, "agent_not_found", "no agent \(uid)")
        }
        guard let hash = state.row.effectiveConfigHash else {
            throw FleetError(.notFound, "effective_config_not_reported", "\(uid) has not reported an effective config")
        }
        let body = try blobBody(hash, what: "effective config", unknown: "effective_config_unknown")
        guard let map = try? AgentConfigMap(serializedBytes: body) else {
            throw FleetError(.unavailable, "effective_config_unreadable", "the stored effective config does not decode")
        }
        let files = ConfigLint.ordered(map).map { name, file in
            EffectiveConfigFile(
                name: name, contentType: file.contentType, redacted: ConfigLint.redacted(file.body, name: name),
                size: file.body.count)
        }
        return AgentEffectiveConfig(hash: hash, files: files)
    }

    /// The components agent `uid`'s build has (`AvailableComponents`), as it reported them.
    /// Reads the database: call it off an async executor.
    public func availableComponents(of uid: InstanceUID) throws(FleetError) -> (hash: String, json: String) {
        guard let state = inventory.agent(uid) else {
            throw FleetError(.notFound, "agent_not_found", "no agent \(uid)")
        }
        guard let hash = state.row.componentsHash else {
            throw FleetError(
                .notFound, "components_not_reported", "\(uid) has not reported its available components")
        }
        let body = try blobBody("components:" + hash, what: "available components", unknown: "components_unknown")
        guard let components = try? AvailableComponents(serializedBytes: body) else {
            throw FleetError(.unavailable, "components_unreadable", "the stored available components do not decode")
        }
        return (hash, components.jsonString(pretty: false))
    }

    /// A blob by key: from the writer's queue while it is not written yet, else the database.
    private func blobBody(_ key: String, what: String, unknown: String) throws(FleetError) -> [UInt8] {
        let queued = writer.machine.withLock { w in
            (w.pending.blobs.last { $0.hash == key } ?? w.writingBlobs.last { $0.hash == key })?.body
        }
        if let queued { return queued }
        let row: BlobRow?
        do {
            row = try store.blob(hash: key)
        } catch {
            throw FleetError(.unavailable, "database_unavailable", "the \(what) could not be read: \(error.message)")
        }
        guard let row else {
            // Only the hash was reported (the full map was never sent to this server).
            throw FleetError(.notFound, unknown, "the \(what) with hash \(key) was never received in full")
        }
        return row.body
    }
}
