import Core
import Toolkit

/// Which components a config needs and an agent's build has, as `receivers/otlp`-style names:
/// a Collector refuses to start with a declared component its build lacks, so such a config is
/// not sent to it (`INCOMPATIBLE`).
enum ComponentCompatibility {
    /// Every component a config declares, its files merged in file-name order (as the
    /// Supervisor merges them); nil when it does not parse.
    static func used(by map: AgentConfigMap) -> Set<String>? {
        let sources = map.configMap.keys.sorted().compactMap { name -> SourceText? in
            guard let file = map.configMap[name] else { return nil }
            return SourceText(
                name: name.isEmpty ? "config.yaml" : name, text: String(decoding: file.body, as: UTF8.self))
        }
        guard !sources.isEmpty, let root = Loader.unit(sources).root else { return nil }
        return Set(CollectorConfig(root: root).allComponents.map { "\($0.kind.section)/\($0.id.type)" })
    }

    /// The components an agent reported (`AvailableComponents`: kinds, then types); nil when
    /// it reported none.
    static func available(_ components: AvailableComponents) -> Set<String>? {
        var out: Set<String> = []
        for (kind, details) in components.components {
            for type in details.subComponentMap.keys { out.insert("\(kind)/\(type)") }
        }
        return out.isEmpty ? nil : out
    }
}
