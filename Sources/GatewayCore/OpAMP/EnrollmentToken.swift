import COpenSSL

/// How an enrollment token is known to the server: the hex SHA-256 of the token as sent.
public enum EnrollmentToken {
    /// Hex SHA-256 of `token`'s UTF-8 bytes.
    public static func hash(_ token: String) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var bytes = Array(token.utf8)
        _ = SHA256(&bytes, bytes.count, &digest)
        let digits = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(64)
        for byte in digest {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}
