import CSQLite

extension SQLiteStore {
    /// `execute`, with blobs bound as bytes in the same transaction.
    public func execute(_ statements: [(sql: String, params: [String?])], storing blobs: [BlobRow], at: Int64)
        throws(StoreError)
    {
        try locked { () throws(StoreError) in
            try transaction { () throws(StoreError) in
                for blob in blobs {
                    let b = try prepare(
                        "INSERT INTO blobs (hash, kind, body, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING"
                    )
                    defer { sqlite3_finalize(b.handle) }
                    b.bind(1, blob.hash)
                    b.bind(2, blob.kind)
                    b.bind(3, blob.body)
                    b.bind(4, at)
                    try step(b)
                }
                for statement in statements {
                    let s = try prepare(Self.positional(statement.sql))
                    defer { sqlite3_finalize(s.handle) }
                    for (i, value) in statement.params.enumerated() { s.bind(Int32(i + 1), value) }
                    try step(s)
                }
            }
        }
    }
}
