import Core
import Synchronization

/// The named configs and the encoded remote configs built from their blobs: the one owner of
/// what `putConfig` stores and what assignments point at.
final class ConfigCatalogue: Sendable {
    private struct State {
        var configs: [String: ConfigRow] = [:]
        /// Encoded remote configs by hash: built once, shared by every agent and reply.
        var shared: [String: SharedRemoteConfig] = [:]
        /// Blob hashes known to be stored (or queued), so a blob is handed to the writer once.
        var blobsSeen: Set<String> = []
        /// The components each config (by hash) declares; an empty set when it does not parse.
        var used: [String: Set<String>] = [:]
    }

    private let store: any FleetStore
    private let state = Mutex(State())

    /// A catalogue over `configs` as loaded from `store`.
    init(store: any FleetStore, configs: [ConfigRow]) {
        self.store = store
        state.withLock { s in for config in configs { s.configs[config.name] = config } }
    }

    /// The current version of `name`.
    func config(named name: String) -> ConfigRow? {
        state.withLock { $0.configs[name] }
    }

    /// Every named config, by name.
    var all: [ConfigRow] {
        state.withLock { $0.configs.values.sorted { $0.name < $1.name } }
    }

    /// Records that a blob is on its way to the store; false when it was already.
    func noteBlob(_ hash: String) -> Bool {
        state.withLock { $0.blobsSeen.insert(hash).inserted }
    }

    /// Makes `row` the current version of its config; written to the database already.
    func adopt(_ row: ConfigRow) {
        state.withLock { s in
            s.configs[row.name] = row
            s.blobsSeen.insert(row.hash)
        }
        learnComponents(row.hash)
    }

    /// The components the config with this hash declares, if `learnComponents` read it: a
    /// lookup, for callers under the inventory lock.
    func usedComponents(_ hash: String) -> Set<String>? {
        state.withLock { $0.used[hash] }
    }

    /// Parses the config with this hash (once) for the components it declares: before it is
    /// targeted, never under the inventory lock (it may read the database).
    func learnComponents(_ hash: String, map: AgentConfigMap? = nil) {
        guard state.withLock({ $0.used[hash] }) == nil else { return }
        let config =
            map
            ?? (try? store.blob(hash: hash)).flatMap { try? AgentConfigMap(serializedBytes: $0.body) }
        let parsed = config.flatMap(ComponentCompatibility.used(by:)) ?? []
        state.withLock { $0.used[hash] = parsed }
    }

    /// The pre-encoded remote config for a hash: built once, shared by every agent and reply.
    func shared(_ hash: String) -> SharedRemoteConfig? {
        if let cached = state.withLock({ $0.shared[hash] }) { return cached }
        // Read outside the lock; two callers racing build it twice and keep the first.
        guard let blob = try? store.blob(hash: hash), let map = try? AgentConfigMap(serializedBytes: blob.body),
            let bytes = ConfigHash.bytes(hex: hash)
        else { return nil }
        var config = AgentRemoteConfig()
        config.config = map
        config.configHash = bytes
        let built = SharedRemoteConfig(config)
        return state.withLock { s in
            if let first = s.shared[hash] { return first }
            s.shared[hash] = built
            return built
        }
    }
}
