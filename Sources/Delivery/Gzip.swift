import CZlib
import ExportCore

/// Gzip for `gzip: true` partners, in memory: the wire bytes are always made from the feed the
/// ledger's SHA-256 vouches for (never read back from a stored `.gz`).
public enum Gzip {
    public static func compress(_ feed: FeedBytes, level: Int32 = 6) throws -> [UInt8] {
        var stream = z_stream()
        guard pe_deflate_init_gzip(&stream, level) == Z_OK else { throw ExportError.internalFailure("zlib could not start") }
        defer { deflateEnd(&stream) }
        var out: [UInt8] = []
        out.reserveCapacity(feed.count / 4 + 64)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let parts = feed.parts
        for (index, part) in parts.enumerated() {
            let flush = index == parts.count - 1 ? Z_FINISH : Z_NO_FLUSH
            try part.withUnsafeBufferPointer { input in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = uInt(input.count)
                var rc: Int32
                repeat {
                    rc = chunk.withUnsafeMutableBufferPointer { output -> Int32 in
                        stream.next_out = output.baseAddress
                        stream.avail_out = uInt(output.count)
                        return deflate(&stream, flush)
                    }
                    guard rc != Z_STREAM_ERROR else { throw ExportError.internalFailure("zlib failed") }
                    out.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                } while stream.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END)
            }
        }
        if parts.isEmpty {
            var rc: Int32
            repeat {
                rc = chunk.withUnsafeMutableBufferPointer { output -> Int32 in
                    stream.next_out = output.baseAddress
                    stream.avail_out = uInt(output.count)
                    return deflate(&stream, Z_FINISH)
                }
                out.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
            } while rc != Z_STREAM_END
        }
        return out
    }
}
