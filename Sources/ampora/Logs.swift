import ArgumentParser
import Core
import Foundation
import Logging
import Synchronization

/// How `ampora serve` writes its log lines on standard error.
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    /// swift-log's own stream format, for people.
    case text
    /// One JSON object per line, for log collectors.
    case json
}

/// The least severe level `ampora serve` logs (swift-log's levels).
enum LogLevel: String, ExpressibleByArgument, CaseIterable {
    case trace, debug, info, notice, warning, error, critical

    var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
}

/// The process's swift-log set-up.
enum Logs {
    /// Installs the handler every logger of the process (ours and the libraries') writes through.
    /// swift-log allows this once per process.
    static func bootstrap(format: LogFormat, level: LogLevel) {
        let threshold = level.level
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = threshold
                return handler
            case .json:
                return JSONLogHandler(label: label, logLevel: threshold)
            }
        }
    }
}

/// One JSON object per line on standard error: `timestamp` (RFC 3339, UTC, milliseconds),
/// `level`, `label`, `message`, then every metadata entry as a string field of its own (nested
/// dictionaries as dotted keys), so a log collector needs no parser beyond JSON.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    /// Field names the handler writes itself; metadata under these names is renamed, not dropped.
    static let reserved: Set<String> = ["timestamp", "level", "label", "message", "error"]

    init(label: String, logLevel: Logger.Level) {
        self.label = label
        self.logLevel = logLevel
        self.metadataProvider = LoggingSystem.metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        StandardError.write(
            Self.line(
                at: Self.now(), level: event.level, label: label, message: event.message.description,
                error: event.error.map { "\($0)" }, metadata: merged))
    }

    /// The JSON line (newline included) for one event.
    static func line(
        at timestamp: String, level: Logger.Level, label: String, message: String, error: String?,
        metadata: Logger.Metadata
    ) -> String {
        var json = JSONWriter(pretty: false)
        json.beginObject()
        func field(_ name: String, _ value: String) {
            json.key(name)
            json.string(value)
        }
        field("timestamp", timestamp)
        field("level", level.rawValue)
        field("label", label)
        field("message", message)
        if let error { field("error", error) }
        var flat: [(String, String)] = []
        flatten(metadata, prefix: "", into: &flat)
        for (name, value) in flat {
            field(reserved.contains(name) ? "metadata.\(name)" : name, value)
        }
        json.endObject()
        return json.text + "\n"
    }

    /// Metadata as (key, string) pairs in key order; a dictionary's entries become `key.inner`.
    static func flatten(_ metadata: Logger.Metadata, prefix: String, into out: inout [(String, String)]) {
        for key in metadata.keys.sorted() {
            guard let value = metadata[key] else { continue }
            switch value {
            case .string(let text): out.append((prefix + key, text))
            case .stringConvertible(let item): out.append((prefix + key, item.description))
            case .dictionary(let inner): flatten(inner, prefix: prefix + key + ".", into: &out)
            case .array: out.append((prefix + key, value.description))
            }
        }
    }

    /// `text` as a JSON string: quote, backslash and every control character escaped (RFC 8259 §7).
    static func appendQuoted(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// The wall-clock time as RFC 3339 in UTC with milliseconds, e.g. `2026-01-31T12:00:00.250Z`.
    static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return rfc3339(seconds: spec.tv_sec, milliseconds: Int(spec.tv_nsec / 1_000_000))
    }

    static func rfc3339(seconds: time_t, milliseconds: Int) -> String {
        var t = seconds
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds), 3))Z"
    }
}

/// Standard error, one whole line per call: lines from several threads never interleave, even
/// when longer than a pipe writes atomically.
enum StandardError {
    private static let lock = Mutex(())

    static func write(_ line: String) {
        let bytes = Array(line.utf8)
        // FileHandle writes until all is written (retrying short writes and EINTR); a log line
        // that cannot be written cannot be reported anywhere else, so a failure is dropped.
        lock.withLock { _ in try? FileHandle.standardError.write(contentsOf: bytes) }
    }
}
