/// The five kinds of Collector components.
public enum ComponentKind: String, Sendable, Hashable, CaseIterable, Comparable {
    case receiver, processor, exporter, connector, `extension`

    /// The top-level section that declares components of this kind.
    public var section: String { rawValue == "extension" ? "extensions" : rawValue + "s" }

    public static func < (a: ComponentKind, b: ComponentKind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// A component ID, `type[/name]`, as the Collector parses it.
public struct ComponentID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The component type (`otlp_grpc`).
    public var type: String
    /// The optional instance name after the slash.
    public var name: String?

    /// Creates an ID.
    public init(type: String, name: String? = nil) {
        self.type = type
        self.name = name
    }

    public var description: String { name.map { "\(type)/\($0)" } ?? type }

    public static func < (a: ComponentID, b: ComponentID) -> Bool { a.description < b.description }

    /// Parses `type[/name]`, returning the Collector's complaint when the text is not an ID.
    public static func parse(_ text: String) -> Result<ComponentID, IDError> {
        let trimmed = text.trimmingSpaces
        var type = trimmed
        var name: String?
        if let slash = trimmed.firstIndex(of: "/") {
            type = String(trimmed[..<slash]).trimmingSpaces
            let rest = String(trimmed[trimmed.index(after: slash)...]).trimmingSpaces
            guard !rest.isEmpty else { return .failure(IDError(message: "the part after '/' must not be empty")) }
            guard rest.unicodeScalars.allSatisfy(isNameScalar) else {
                return .failure(IDError(message: "name '\(rest)' has whitespace, control or symbol characters"))
            }
            name = rest
        }
        guard !type.isEmpty else { return .failure(IDError(message: "the type part must not be empty")) }
        guard isValidType(type) else {
            return .failure(
                IDError(
                    message:
                        "type '\(type)' must start with a letter and hold only letters, digits and '_' (at most 63 characters)"
                ))
        }
        return .success(ComponentID(type: type, name: name))
    }

    static func isValidType(_ type: String) -> Bool {
        let scalars = Array(type.unicodeScalars)
        guard let first = scalars.first, scalars.count <= 63, first.isASCIILetter else { return false }
        return scalars.allSatisfy { $0.isASCIILetter || ("0"..."9").contains($0) || $0 == "_" }
    }

    static func isNameScalar(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .spaceSeparator, .lineSeparator, .paragraphSeparator, .control, .format, .surrogate, .privateUse,
            .unassigned, .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            return false
        default:
            return true
        }
    }
}

/// Why a text is not a valid ID.
public struct IDError: Error, Sendable, Hashable {
    /// The reason.
    public var message: String
}

/// The telemetry signals a pipeline can carry.
public enum Signal: String, Sendable, Hashable, CaseIterable, Comparable {
    case traces, metrics, logs, profiles

    public static func < (a: Signal, b: Signal) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// A pipeline ID, `signal[/name]`.
public struct PipelineID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The signal.
    public var signal: Signal
    /// The optional name.
    public var name: String?

    public var description: String { name.map { "\(signal.rawValue)/\($0)" } ?? signal.rawValue }

    public static func < (a: PipelineID, b: PipelineID) -> Bool {
        (a.signal, a.name ?? "") < (b.signal, b.name ?? "")
    }

    /// Parses `signal[/name]`.
    public static func parse(_ text: String) -> Result<PipelineID, IDError> {
        switch ComponentID.parse(text) {
        case .failure(let error): return .failure(error)
        case .success(let id):
            guard let signal = Signal(rawValue: id.type) else {
                return .failure(
                    IDError(message: "'\(id.type)' is not a signal (traces, metrics, logs or profiles)"))
            }
            return .success(PipelineID(signal: signal, name: id.name))
        }
    }
}

extension Unicode.Scalar {
    var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
}
