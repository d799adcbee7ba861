import Core
import Testing

@testable import Fleet

/// What every agent's records cost inline (BENCHMARKS.md, "Connection settings by reference"):
/// a large value stored in them again (the connection settings were 568 bytes) shows here first.
@Suite struct RecordSizeTests {
    @Test func perAgentRecordsStaySmall() {
        #expect(MemoryLayout<HotTable.Entry>.size <= 32, "\(MemoryLayout<HotTable.Entry>.size) bytes")
        #expect(MemoryLayout<DesiredState>.size <= 64, "\(MemoryLayout<DesiredState>.size) bytes")
    }
}
