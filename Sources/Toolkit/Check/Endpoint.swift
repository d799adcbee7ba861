/// A `host:port` or URL endpoint, split the way the checks need it.
struct Endpoint: Hashable {
    var scheme: String?
    var host: String
    var port: Int?

    /// Parses `host:port`, `:port`, `[v6]:port` or `scheme://host[:port]/path`; nil for unix sockets and the like.
    init?(_ text: String) {
        var rest = Substring(text.trimmingSpaces)
        if let range = rest.firstRange(of: "://") {
            scheme = String(rest[..<range.lowerBound]).lowercased()
            rest = rest[range.upperBound...]
            if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) { rest = rest[..<slash] }
            if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        }
        guard !rest.isEmpty, !rest.hasPrefix("/"), !rest.includes(" ") else { return nil }
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            port = after.hasPrefix(":") ? Int(after.dropFirst()) : nil
        } else if let colon = rest.lastIndex(of: ":"), rest.firstIndex(of: ":") == colon {
            host = String(rest[..<colon])
            port = Int(rest[rest.index(after: colon)...])
        } else if rest.includes(":") {
            host = String(rest)
            port = nil
        } else {
            host = String(rest)
            port = nil
        }
        if port == nil, let scheme {
            port = scheme == "https" ? 443 : scheme == "http" ? 80 : nil
        }
    }

    /// Binds every interface.
    var isAllInterfaces: Bool { host.isEmpty || host == "0.0.0.0" || host == "::" }

    /// Loopback only.
    var isLoopback: Bool {
        let host = host.lowercased()
        return host == "localhost" || host.hasPrefix("127.") || host == "::1" || host.hasSuffix(".localhost")
    }

    /// A Docker Compose or Kubernetes service name (`jaeger`, `otel.monitoring.svc.cluster.local`): traffic that
    /// stays on the cluster or host network, where plaintext is the common, deliberate choice.
    var isClusterLocal: Bool {
        let host = host.lowercased()
        guard !host.isEmpty, host.first?.isLetter == true else { return false }
        return !host.includes(".") || host.hasSuffix(".svc") || host.hasSuffix(".svc.cluster.local")
    }

    /// Two listeners can collide when ports match and either binds everything or both bind the same host.
    func overlaps(_ other: Endpoint) -> Bool {
        guard let port, port != 0, port == other.port else { return false }
        let a = isLoopback ? "localhost" : host
        let b = other.isLoopback ? "localhost" : other.host
        return isAllInterfaces || other.isAllInterfaces || a == b
    }
}
