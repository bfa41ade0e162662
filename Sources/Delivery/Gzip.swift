import CZlib
import Foundation

/// Gzip for `gzip: true` partners: compresses a payload file into another, streaming.
public enum Gzip {
    public static func compress(file source: String, to destination: String) throws {
        guard let input = FileHandle(forReadingAtPath: source) else { throw DeliveryError.payload("cannot read \(source)") }
        defer { try? input.close() }
        let fd = open(destination, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw DeliveryError.payload("cannot create \(destination): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        fchmod(fd, 0o600)
        var stream = z_stream()
        guard pe_deflate_init_gzip(&stream, 6) == Z_OK else { throw DeliveryError.payload("zlib could not start") }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: 1 << 16)
        var finished = false
        while !finished {
            let chunk = try input.read(upToCount: 1 << 20) ?? Data()
            let flush = chunk.isEmpty ? Z_FINISH : Z_NO_FLUSH
            var bytes = [UInt8](chunk)
            try bytes.withUnsafeMutableBufferPointer { inBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = uInt(inBuffer.count)
                repeat {
                    let produced = try output.withUnsafeMutableBufferPointer { outBuffer -> Int in
                        stream.next_out = outBuffer.baseAddress
                        stream.avail_out = uInt(outBuffer.count)
                        let rc = deflate(&stream, flush)
                        guard rc != Z_STREAM_ERROR else { throw DeliveryError.payload("zlib failed") }
                        if rc == Z_STREAM_END { finished = true }
                        return outBuffer.count - Int(stream.avail_out)
                    }
                    if produced > 0 {
                        let written = output.withUnsafeBytes { write(fd, $0.baseAddress, produced) }
                        guard written == produced else { throw DeliveryError.payload("cannot write \(destination)") }
                    }
                } while stream.avail_out == 0
            }
        }
        guard fsync(fd) == 0 else { throw DeliveryError.payload("cannot sync \(destination)") }
    }
}
