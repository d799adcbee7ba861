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
        /// Hashes `shared` found no blob for, since the last blob arrived: an agent that rolled
        /// back to a config that is not ours is looked up under the inventory lock, and must not
        /// cost a database read per message.
        var absent: Set<String> = []
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
        state.withLock { s in
            let inserted = s.blobsSeen.insert(hash).inserted
            if inserted && !s.absent.isEmpty { s.absent.removeAll() }
            return inserted
        }
    }

    /// Makes `row` the current version of its config; written to the database already.
    func adopt(_ row: ConfigRow) {
        state.withLock { s in
            s.configs[row.name] = row
            s.blobsSeen.insert(row.hash)
            s.absent.remove(row.hash)
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
        let (cached, absent) = state.withLock { ($0.shared[hash], $0.absent.contains(hash)) }
        if let cached { return cached }
        if absent { return nil }
        // Read outside the lock; two callers racing build it twice and keep the first.
        // A database that does not answer is asked again next time; a blob that is not there is not.
        let found: BlobRow?
        do { found = try store.blob(hash: hash) } catch { return nil }
        guard let blob = found, let map = try? AgentConfigMap(serializedBytes: blob.body),
            let bytes = ConfigHash.bytes(hex: hash)
        else {
            state.withLock { s in if s.shared[hash] == nil { s.absent.insert(hash) } }
            return nil
        }
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
