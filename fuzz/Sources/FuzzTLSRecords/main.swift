import GatewayCore

/// The test certificate (scripts/fuzz.sh runs from the repository root).
let context: TLSContext = {
    do {
        return try TLSContext(
            TLSSettings(
                certificateFile: "Tests/GatewayTests/Fixtures/tls/server.pem",
                keyFile: "Tests/GatewayTests/Fixtures/tls/server.key"))
    } catch {
        fatalError("FuzzTLSRecords: \(error)")
    }
}()

/// libFuzzer entry: any byte stream, cut into reads of the sizes its own bytes choose, must be
/// taken by a TLS connection without trapping, and nothing may come back in the clear.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTLSRecords(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let harness = TLSConnectionHarness(context: context)
    var offset = 0
    var cut = 0
    while offset < bytes.count {
        // The read sizes come from the input itself, so records split anywhere.
        let length = max(1, Int(bytes[cut % bytes.count]) * 4)
        cut += 1
        let chunk = Array(bytes[offset..<min(bytes.count, offset + length)])
        offset += chunk.count
        let reply = harness.receive(chunk)
        if let first = reply.sent.first, !(0x14...0x17).contains(first) {
            fatalError("a reply that is not a TLS record (change cipher spec, alert, handshake or data): \(first)")
        }
        if reply.closing { break }
    }
    harness.tick(after: 60_000)
    return 0
}
