import Core
import Testing

@testable import Gateway
@testable import GatewayCore

/// The idle-agent memory budget is 1 KiB of user space per agent; these records are what an
/// idle agent costs besides its (empty) buffers, so they are kept in check here.
@Suite struct FootprintTests {
    @Test func idleConnectionRecordsFitTheBudget() {
        let uring = MemoryLayout<URingLoop<URing>.Record?>.stride
        let epoll = MemoryLayout<EpollLoop<EpollSystem>.Record?>.stride
        #expect(uring <= 512, "URingLoop.Record is \(uring) bytes")
        #expect(epoll <= 512, "EpollLoop.Record is \(epoll) bytes")
    }

    @Test func idleParsersHoldNoBuffer() {
        let http = HTTPRequestParser()
        #expect(http.retainedCapacity == 0)
        let ws = WebSocketFrameParser()
        #expect(ws.bufferedCapacity == 0)
    }
}
