import COpenSSL

/// How an enrollment token is known to the server: the hex SHA-256 of the token as sent.
public enum EnrollmentToken {
    /// Hex SHA-256 of `token`'s UTF-8 bytes.
    public static func hash(_ token: String) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var bytes = Array(token.utf8)
        _ = SHA256(&bytes, bytes.count, &digest)
        return hex(digest)
    }

    /// Lower-case hex, as digests are written in identities and in the database.
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
