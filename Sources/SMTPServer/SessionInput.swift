import NIOCore

/// A session's input not yet framed (issue #15). Message content that
/// leaves nothing over is framed in NIO's read buffer itself, not copied;
/// the session's own buffer waits aside meanwhile and is taken back once
/// that read is consumed or commands follow the end of data, so NIO can
/// read into its buffer again and a partial command never holds a large
/// read buffer.
struct SessionInput {
    /// Read and not yet framed.
    var bytes = ByteBuffer()
    /// The session's own buffer while `bytes` is a read buffer of NIO's.
    private var own: ByteBuffer?

    var readableBytes: Int { bytes.readableBytes }

    /// Takes a read: adopted as it is when it is message content
    /// (`content`) with nothing before it, else copied after what waits.
    mutating func append(_ read: inout ByteBuffer, content: Bool) {
        if bytes.readableBytes == 0 && content {
            if own == nil { own = bytes }
            bytes = read
        } else {
            bytes.writeBuffer(&read)
        }
    }

    /// After framing: back to the own buffer once NIO's is consumed or what
    /// is left is commands (`commands`), else compacted when far in.
    mutating func settle(commands: Bool) {
        if var own, bytes.readableBytes == 0 || commands {
            own.clear()
            own.writeBuffer(&bytes)
            bytes = own
            self.own = nil
        } else if bytes.readerIndex > 65536 || bytes.readableBytes == 0 {
            bytes.discardReadBytes()
        }
    }

    /// Throws away what waits (plaintext pipelined after STARTTLS).
    mutating func clear() {
        bytes.clear()
    }
}
