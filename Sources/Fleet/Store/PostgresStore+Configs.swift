extension PostgresStore {
    /// `execute`, with blobs sent as hex and decoded by the server in the same transaction.
    public func execute(_ statements: [(sql: String, params: [String?])], storing blobs: [BlobRow], at: Int64)
        throws(StoreError)
    {
        try locked { () throws(StoreError) in
            try exec("BEGIN")
            do throws(StoreError) {
                for blob in blobs {
                    _ = try rows(
                        "INSERT INTO blobs (hash, kind, body, created_at) VALUES ($1, $2, decode($3, 'hex'), $4) ON CONFLICT DO NOTHING",
                        [blob.hash, blob.kind, ConfigHash.hex(blob.body), String(at)])
                }
                for statement in statements { _ = try rows(statement.sql, statement.params) }
                try exec("COMMIT")
            } catch {
                _ = try? exec("ROLLBACK")
                throw error
            }
        }
    }
}
