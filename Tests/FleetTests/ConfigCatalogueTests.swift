import Core
import Testing

@testable import Fleet

/// The catalogue's cache of encoded remote configs, against a real SQLite store.
@Suite struct ConfigCatalogueTests {
    /// A config map of one file, and its blob as the store keeps it.
    static func blob(_ text: String) -> (hash: String, row: BlobRow) {
        var map = AgentConfigMap()
        var file = AgentConfigFile()
        file.body = Array(text.utf8)
        file.contentType = "text/yaml"
        map.configMap[""] = file
        let bytes: [UInt8] = map.serializedBytes()
        let hash = ConfigHash.hex(ConfigHash.of(map))
        return (hash, BlobRow(hash: hash, kind: "config", body: bytes))
    }

    /// A hash with no blob is looked up once, not on every call (callers hold the inventory
    /// lock); a new blob or config makes the catalogue look again.
    @Test func aMissingConfigIsNotReadAgainUntilABlobArrives() throws {
        let store = try FleetStores.open(try TestDatabases.freshURL("sqlite"))
        defer { store.close() }
        let catalogue = ConfigCatalogue(store: store, configs: [])
        let (hash, row) = Self.blob("receivers: {}\n")
        #expect(catalogue.shared(hash) == nil)
        var batch = WriteBatch()
        batch.blobs = [row]
        try store.write(batch)
        #expect(catalogue.shared(hash) == nil, "remembered as absent: the store is not read again")
        #expect(catalogue.noteBlob(String(repeating: "e", count: 64)))
        #expect(catalogue.shared(hash)?.hash == ConfigHash.bytes(hex: hash), "read again after a new blob")

        let (other, otherRow) = Self.blob("exporters: {}\n")
        #expect(catalogue.shared(other) == nil)
        batch.blobs = [otherRow]
        try store.write(batch)
        catalogue.adopt(ConfigRow(name: "other", hash: other, version: 1, updatedAt: 0))
        #expect(catalogue.shared(other) != nil, "a config adopted under that hash is read")
    }
}
