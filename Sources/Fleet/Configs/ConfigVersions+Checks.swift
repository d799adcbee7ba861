import Core

extension ConfigVersions {
    // MARK: Checks

    static func checkName(_ name: String) throws(FleetError) {
        guard FleetService.isValidName(name) else {
            throw FleetError(
                .invalid, "invalid_name",
                "config names are 1-128 characters of letters, digits, '.', '_' and '-', and not '.' or '..'")
        }
    }

    /// Text that goes into a database column: bounded, and without control characters (a NUL
    /// would end it early in SQLite and be refused by PostgreSQL).
    static func checkText(_ text: String, _ what: String, limit: Int, newlines: Bool) throws(FleetError) {
        guard text.utf8.count <= limit else {
            throw FleetError(.invalid, "invalid_\(what)", "the \(what) is longer than \(limit) bytes")
        }
        let allowed: Set<Unicode.Scalar> = newlines ? ["\n", "\r", "\t"] : []
        guard !text.unicodeScalars.contains(where: { isControl($0) && !allowed.contains($0) }) else {
            throw FleetError(.invalid, "invalid_\(what)", "the \(what) holds control characters")
        }
    }

    private static func isControl(_ c: Unicode.Scalar) -> Bool { c.value < 0x20 || c.value == 0x7f }

    /// The files as the map agents receive, after the bounds every version keeps.
    func checkedMap(_ files: [String: ConfigFile]) throws(FleetError) -> AgentConfigMap {
        guard !files.isEmpty else {
            throw FleetError(.invalid, "empty_config", "a config version needs at least one file")
        }
        // Before anything looks at the files: ten thousand of them are refused in constant time.
        guard files.count <= maxFiles else {
            throw FleetError(
                .invalid, "too_many_files", "a config version holds at most \(maxFiles) files, not \(files.count)")
        }
        let total = files.values.reduce(0) { $0 + $1.body.count }
        guard total <= maxBytes else {
            throw FleetError(
                .tooLarge, "config_too_large", "the files hold \(total) bytes; a config holds at most \(maxBytes)")
        }
        var map = AgentConfigMap()
        for (name, file) in files {
            guard name.utf8.count <= 255, !name.unicodeScalars.contains(where: Self.isControl) else {
                throw FleetError(
                    .invalid, "invalid_file_name", "file names are at most 255 bytes, without control characters")
            }
            try Self.checkText(file.contentType, "content_type", limit: 255, newlines: false)
            guard String(validating: file.body, as: UTF8.self) != nil else {
                throw FleetError(.invalid, "invalid_utf8", "file '\(name)' is not valid UTF-8 text")
            }
            var entry = AgentConfigFile()
            entry.body = file.body
            entry.contentType = file.contentType
            map.configMap[name] = entry
        }
        return map
    }

    static func checkPrecondition(_ ifMatch: String?, newest: Int64?) throws(FleetError) {
        guard let ifMatch, !matches(ifMatch, newest: newest) else { return }
        let now = newest.map { "its newest version is \(etag($0))" } ?? "it has no version"
        throw FleetError(.preconditionFailed, "precondition_failed", "If-Match is \(ifMatch), but \(now)")
    }

    static func refuseErrors(_ findings: [ConfigFinding]) throws(FleetError) {
        let errors = findings.filter(\.isError)
        guard let first = errors.first else { return }
        // PUT's one file is named "": then the place is a line and column alone.
        let place = (first.file.isEmpty ? "" : first.file + ":") + "\(first.line):\(first.column)"
        var error = FleetError(
            .invalid, "invalid_config",
            "the Toolkit found \(errors.count) error\(errors.count == 1 ? "" : "s"), the first at \(place): \(first.message)"
        )
        error.findings = findings
        throw error
    }
}
