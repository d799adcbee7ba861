/// PostgreSQL COPY binary format (`COPY … FROM STDIN (FORMAT binary)`): a fixed header, then
/// per row a 16-bit field count and each field as a 32-bit length (-1 for NULL) followed by the
/// column type's binary form, big-endian; a field count of -1 ends the data. The server takes
/// bytea and text as they are instead of parsing hex and escapes, about half of what a COPY
/// of agent rows cost it in text (BENCHMARKS.md, "Status writes in binary"). Each writer appends one
/// field; the types must match the columns exactly (`BIGINT` for every integer).
enum CopyBinary {
    /// The signature, then 32-bit flags and header-extension length, both zero.
    static let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0, 0, 0, 0, 0]
    static let trailer: [UInt8] = [0xFF, 0xFF]

    /// Starts a row of `fields` fields.
    static func row(fields: Int16, _ out: inout [UInt8]) {
        let v = UInt16(bitPattern: fields)
        out.append(UInt8(v >> 8))
        out.append(UInt8(v & 0xFF))
    }

    static func length(_ n: Int32, _ out: inout [UInt8]) {
        let v = UInt32(bitPattern: n)
        out.append(UInt8(v >> 24))
        out.append(UInt8((v >> 16) & 0xFF))
        out.append(UInt8((v >> 8) & 0xFF))
        out.append(UInt8(v & 0xFF))
    }

    /// A `BIGINT`.
    static func int(_ n: Int64, _ out: inout [UInt8]) {
        length(8, &out)
        let v = UInt64(bitPattern: n)
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((v >> UInt64(shift)) & 0xFF)) }
    }

    /// A `TEXT`: its UTF-8 bytes (the server checks them as it would the text format's).
    static func text(_ s: String?, _ out: inout [UInt8]) {
        guard var string = s else { return length(-1, &out) }
        string.withUTF8 { utf8 in
            length(Int32(utf8.count), &out)
            out.append(contentsOf: utf8)
        }
    }

    /// A `BYTEA`: the bytes themselves.
    static func bytes(_ b: [UInt8]?, _ out: inout [UInt8]) {
        guard let b else { return length(-1, &out) }
        length(Int32(b.count), &out)
        out.append(contentsOf: b)
    }
}
