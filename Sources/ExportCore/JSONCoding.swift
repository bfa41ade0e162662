import Foundation

/// The one way partner-export writes and reads JSON that is not a feed: `--json` outputs, the stored
/// run report, log lines, the ledger's small JSON columns. Keys sorted (stable for scripts and golden
/// files), slashes not escaped; feeds have their own byte writers (FeedRendering).
public enum JSONCoding {
    /// Pretty-printed, two-space indentation, with a final newline (what commands print).
    public static func pretty<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return compactEmptyContainers(try encoder.encode(value)) + "\n"
    }

    /// Foundation prints an empty array or object over two lines; as `[]` and `{}` it reads better.
    /// A newline only occurs between tokens in JSON (strings escape it), so this never touches a value.
    static func compactEmptyContainers(_ data: Data) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(data.count)
        let bytes = [UInt8](data)
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            out.append(byte)
            i += 1
            guard byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") else { continue }
            var j = i
            var newlines = 0
            while j < bytes.count, bytes[j] == 0x0A || bytes[j] == 0x20 {
                if bytes[j] == 0x0A { newlines += 1 }
                j += 1
            }
            let closing = byte == UInt8(ascii: "[") ? UInt8(ascii: "]") : UInt8(ascii: "}")
            if newlines > 0, j < bytes.count, bytes[j] == closing {
                out.append(closing)
                i = j + 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// On one line (log lines, ledger columns).
    public static func compact<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}
