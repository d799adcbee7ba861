/// Which settings hold secrets and which of their values are literal secrets; shared by `plaintext-secret` and
/// `normalize --redact` so redaction hides everything the rule would report.
enum Secrets {
    static let words = [
        "password", "passwd", "secret", "token", "api_key", "apikey", "access_key", "private_key", "credential",
    ]
    static let headers: Set<String> = [
        "authorization", "x-api-key", "api-key", "apikey", "dd-api-key", "x-honeycomb-team", "x-sf-token",
        "signoz-access-token", "lightstep-access-token", "x-auth-token", "private-token",
    ]
    static let nonSecretSuffixes = ["_file", "_path", "_url", "_endpoint", "_type", "_name", "_env", "_id", "_header"]

    /// True for a key that holds a secret, given the key of the map it is in (`headers`, `api`).
    static func isSecretKey(_ key: String, parentKey: String) -> Bool {
        let lower = key.lowercased()
        if parentKey.lowercased().hasSuffix("headers") { return headers.contains(lower) }
        // The Datadog exporter keeps its API key as `api.key`.
        if lower == "key", parentKey.lowercased() == "api" { return true }
        if nonSecretSuffixes.contains(where: { lower.hasSuffix($0) }) { return false }
        return words.contains { lower.includes($0) }
    }

    /// True when `value` is written out as a secret: not a reference, not a variable's name, not a placeholder.
    static func isLiteral(_ value: String) -> Bool {
        let text = value.trimmingSpaces
        guard !text.isEmpty, !text.includes("$"), text != "true", text != "false", Int(text) == nil else {
            return false
        }
        if text.includes("<"), text.includes(">") { return false }  // <your-api-key>
        let letters = text.unicodeScalars.filter { $0.properties.isAlphabetic || ("0"..."9").contains($0) }
        // 00000000-0000-…, xxxx, ****: example values that only mark where a secret goes.
        if letters.allSatisfy({ $0 == "0" || $0 == "x" || $0 == "X" }) { return false }
        // `TOKEN`, `password`: the field's own name as a stand-in.
        if words.contains(String(String.UnicodeScalarView(letters)).lowercased()) { return false }
        // MYSQL_PASSWORD: the name of a variable, to be substituted by something outside the config.
        if text.includes("_"),
            text.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" })
        {
            return false
        }
        return true
    }

    /// The last key of a dotted YAML path (`exporters.otlp.headers` gives `headers`).
    static func lastKey(_ path: String) -> String {
        path.split(separator: ".").last.map(String.init) ?? path
    }
}
