import COpenSSL
import Core

/// SHA-256 content addresses for config blobs.
public enum ConfigHash {
    /// SHA-256 of `bytes`.
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        _ = SHA256(bytes, bytes.count, &digest)
        return digest
    }

    /// The canonical encoding of a config map: files sorted by name, each as length-prefixed
    /// name, content type and body. Protobuf map order is not fixed, so its bytes cannot be hashed.
    public static func canonicalBytes(_ map: AgentConfigMap) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(map.configMap.values.reduce(0) { $0 + $1.body.count } + 64 * map.configMap.count)
        func field(_ bytes: some Collection<UInt8>) {
            var n = UInt64(bytes.count)
            for _ in 0..<8 {
                out.append(UInt8(truncatingIfNeeded: n >> 56))
                n <<= 8
            }
            out.append(contentsOf: bytes)
        }
        // Byte order, not String order (which compares by canonical equivalence).
        let names = map.configMap.keys.map { (bytes: Array($0.utf8), name: $0) }
            .sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        for (_, name) in names {
            let file = map.configMap[name]!
            field(Array(name.utf8))
            field(Array(file.contentType.utf8))
            field(file.body)
        }
        return out
    }

    /// The content address of a config map.
    public static func of(_ map: AgentConfigMap) -> [UInt8] {
        sha256(canonicalBytes(map))
    }

    /// Lower-case hex.
    public static func hex(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        appendHex(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static let digits = Array("0123456789abcdef".utf8)

    /// Appends lower-case hex of `bytes` (also COPY's bytea text).
    static func appendHex(_ bytes: [UInt8], to out: inout [UInt8]) {
        out.reserveCapacity(out.count + bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
    }

    /// Parses lower- or upper-case hex; nil when malformed.
    public static func bytes(hex: String) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
