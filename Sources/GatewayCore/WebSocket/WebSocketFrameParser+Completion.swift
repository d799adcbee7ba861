extension WebSocketFrameParser {
    /// Handles a frame whose payload is fully buffered.
    mutating func completeFrame(_ inflater: WebSocketInflater?) -> ParsedFrame? {
        phase = .header
        switch opcode {
        case .ping: return .event(.ping(takeControl()))
        case .pong: return .event(.pong(takeControl()))
        case .close: return closeEvent(takeControl())
        case .continuation, .text, .binary:
            guard fin, let kind = messageKind else { return nil }
            let payload = message
            message = []
            return finishMessage(kind, payload, inflater)
        }
    }

    /// The in-place fast path: the whole single-frame message is in the caller's buffer, so the
    /// in-place entry unmasks it there and lends it out.
    mutating func completeInPlace(_ offset: inout Int) -> ParsedFrame {
        let range = offset..<offset + frameRemaining
        offset = range.upperBound
        frameRemaining = 0
        phase = .header
        let kind = messageKind ?? .binary
        messageKind = nil
        return .inPlace(range, kind: kind, compressed: messageCompressed)
    }

    /// Moves the control payload out so the parser keeps no buffer between frames.
    mutating func takeControl() -> [UInt8] {
        let payload = control
        control = []
        return payload
    }

    /// Hands out a reassembled message, inflating it first when it was compressed.
    mutating func finishMessage(
        _ kind: WebSocketOpcode, _ payload: [UInt8], _ inflater: WebSocketInflater?
    ) -> ParsedFrame? {
        messageKind = nil
        if messageCompressed {
            return inflate(kind, payload.span.bytes, inflater)
        }
        return .event(kind == .text ? .text(payload) : .binary(payload))
    }

    mutating func inflate(
        _ kind: WebSocketOpcode, _ compressed: RawSpan, _ inflater: WebSocketInflater?
    ) -> ParsedFrame {
        messageCompressed = false
        guard let inflater else { return fail(.internalError, "compressed message but no inflater") }
        switch inflater.inflate(compressed, limit: configuration.maxMessageSize) {
        case .success(let bytes): return .event(kind == .text ? .text(bytes) : .binary(bytes))
        case .failure(.tooBig):
            return fail(.messageTooBig, "inflated message exceeds \(configuration.maxMessageSize) bytes")
        case .failure(.corrupt): return fail(.invalidPayload, "invalid permessage-deflate data")
        }
    }

    /// Vets a close payload (RFC 6455 §5.5.1, §7.4): empty, or a valid code and a UTF-8 reason.
    mutating func closeEvent(_ payload: [UInt8]) -> ParsedFrame {
        if payload.isEmpty { return closed(code: nil, reason: "") }
        if payload.count == 1 { return fail(.protocolError, "one-byte close payload") }
        let code = WebSocketCloseCode(rawValue: UInt16(payload[0]) << 8 | UInt16(payload[1]))
        guard code.isValidOnWire else { return fail(.protocolError, "invalid close code \(code.rawValue)") }
        guard let reason = String(validating: payload[2...], as: UTF8.self) else {
            return fail(.invalidPayload, "close reason is not UTF-8")
        }
        return closed(code: code, reason: reason)
    }

    /// Terminal like a failure: nothing after a close frame is parsed, so drop any buffer.
    mutating func closed(code: WebSocketCloseCode?, reason: String) -> ParsedFrame {
        phase = .closed
        message = []
        messageKind = nil
        return .event(.close(code: code, reason: reason))
    }
}
