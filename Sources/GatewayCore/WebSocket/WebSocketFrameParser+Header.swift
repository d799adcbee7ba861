extension WebSocketFrameParser {
    /// Collects header bytes; once the header is whole, vets it and opens the frame. Returns an
    /// event when the frame is already complete (empty payload, or whole in an in-place buffer)
    /// or the header breaks a rule.
    mutating func readHeader(
        _ input: RawSpan, inPlace: Bool, _ offset: inout Int, _ inflater: WebSocketInflater?
    ) -> ParsedFrame? {
        while headerCount < headerNeeded, offset < input.byteCount {
            headerBytes[headerCount] = input.byte(offset)
            headerCount += 1
            offset += 1
            if headerCount == 2 {
                if let (code, reason) = checkFirstTwoBytes() { return fail(code, reason) }
                let length7 = headerByte(1) & 0x7F
                headerNeeded = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + 4
            }
        }
        guard headerCount == headerNeeded else { return nil }
        return openFrame(input, inPlace: inPlace, &offset, inflater)
    }

    func headerByte(_ index: Int) -> UInt8 {
        headerBytes[index]
    }

    /// Every rule decidable from the first two bytes, so a bad frame fails before its length
    /// or payload is read.
    func checkFirstTwoBytes() -> (WebSocketCloseCode, String)? {
        let b0 = headerByte(0)
        let b1 = headerByte(1)
        if b0 & 0x30 != 0 { return (.protocolError, "RSV2 or RSV3 set without a negotiated extension") }
        guard let op = WebSocketOpcode(rawValue: b0 & 0x0F) else {
            return (.protocolError, "unknown opcode \(b0 & 0x0F)")
        }
        let finBit = b0 & 0x80 != 0
        let rsv1 = b0 & 0x40 != 0
        if op.isControl {
            if !finBit { return (.protocolError, "fragmented control frame") }
            if b1 & 0x7F > 125 { return (.protocolError, "control frame payload over 125 bytes") }
            if rsv1 { return (.protocolError, "RSV1 set on a control frame") }
        } else if op == .continuation {
            if messageKind == nil { return (.protocolError, "continuation frame with no message open") }
            if rsv1 { return (.protocolError, "RSV1 set on a continuation frame") }
        } else {
            if messageKind != nil { return (.protocolError, "new data frame while a fragmented message is open") }
            if rsv1 && !configuration.permessageDeflate {
                return (.protocolError, "RSV1 set without a negotiated extension")
            }
        }
        if b1 & 0x80 == 0 { return (.protocolError, "unmasked client frame") }
        return nil
    }

    /// Reads length and mask, applies the size limit before any payload is buffered, and
    /// either completes the frame at once or starts collecting its payload.
    mutating func openFrame(
        _ input: RawSpan, inPlace: Bool, _ offset: inout Int, _ inflater: WebSocketInflater?
    ) -> ParsedFrame? {
        let b0 = headerByte(0)
        let length7 = headerByte(1) & 0x7F
        var length: UInt64 = UInt64(length7)
        if length7 >= 126 {
            length = 0
            for i in 2..<(headerNeeded - 4) { length = length << 8 | UInt64(headerByte(i)) }
            if length >> 63 != 0 { return fail(.protocolError, "64-bit payload length with the top bit set") }
        }
        // The four mask bytes as a native load of them would read them (memory order).
        var little: UInt32 = 0
        for i in 0..<4 { little |= UInt32(headerByte(headerNeeded - 4 + i)) << (8 * UInt32(i)) }
        maskKey = UInt32(littleEndian: little)
        let op = WebSocketOpcode(rawValue: b0 & 0x0F)!
        if !op.isControl {
            // Earlier fragments never exceed the limit, so the subtraction cannot wrap.
            if length > UInt64(configuration.maxMessageSize - message.count) {
                return fail(.messageTooBig, "message exceeds \(configuration.maxMessageSize) bytes")
            }
            if op != .continuation {
                messageKind = op
                messageCompressed = b0 & 0x40 != 0
            }
        }
        opcode = op
        fin = b0 & 0x80 != 0
        frameRemaining = Int(length)
        frameOffset = 0
        headerCount = 0
        headerNeeded = 2
        phase = .payload
        if op.isControl {
            control.reserveCapacity(frameRemaining)
        } else if inPlace, fin, op != .continuation, input.byteCount - offset >= frameRemaining {
            return completeInPlace(&offset)
        }
        if frameRemaining == 0 { return completeFrame(inflater) }
        return nil
    }
}
