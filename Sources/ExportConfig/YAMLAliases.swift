/// Finds YAML anchors (`&name`) and aliases (`*name`) before the file is composed. Configuration
/// never needs them, and aliases can expand exponentially ("billion laughs"): Yams' own duplicate-key
/// check expands aliased keys, so a 1 KB file could take minutes. The scan is linear and only looks
/// where a node can start: at the start of a line (after indentation), after `- `, `: `, `? `, `[`,
/// `{` or `,`, outside quotes and comments.
enum YAMLAliases {
    /// The 1-based line of the first anchor or alias, or nil.
    static func firstLine(in text: String) -> Int? {
        var line = 1
        var atNodeStart = true
        var quote: UInt8?
        var inComment = false
        var previous: UInt8 = 0x0A
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            defer {
                previous = byte
                i += 1
            }
            if byte == 0x0A {
                line += 1
                atNodeStart = true
                inComment = false
                if quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") { atNodeStart = false }
                continue
            }
            if inComment { continue }
            if let open = quote {
                if byte == UInt8(ascii: "\\") && open == UInt8(ascii: "\"") {
                    i += 1
                } else if byte == open {
                    if open == UInt8(ascii: "'") && i + 1 < bytes.count && bytes[i + 1] == open {
                        i += 1
                    } else {
                        quote = nil
                    }
                }
                continue
            }
            switch byte {
            case 0x20, 0x09:
                continue
            case UInt8(ascii: "#") where previous == 0x20 || previous == 0x09 || previous == 0x0A:
                inComment = true
            case UInt8(ascii: "&"), UInt8(ascii: "*"):
                if atNodeStart, i + 1 < bytes.count, !isSpaceOrFlow(bytes[i + 1]) { return line }
                atNodeStart = false
            case UInt8(ascii: "'"), UInt8(ascii: "\""):
                if atNodeStart { quote = byte }
                atNodeStart = false
            case UInt8(ascii: "-"), UInt8(ascii: "?"), UInt8(ascii: ":"):
                // `- x`, `? x`, `key: x`: a node may start after the indicator and a space.
                atNodeStart = i + 1 >= bytes.count || bytes[i + 1] == 0x20 || bytes[i + 1] == 0x09 || bytes[i + 1] == 0x0A
            case UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: ","):
                atNodeStart = true
            case UInt8(ascii: "!"):
                // A tag (`!!str &a x`): the node's properties continue after it.
                while i + 1 < bytes.count && !isSpaceOrFlow(bytes[i + 1]) { i += 1 }
            default:
                atNodeStart = false
            }
        }
        return nil
    }

    private static func isSpaceOrFlow(_ byte: UInt8) -> Bool {
        [0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "{"),
         UInt8(ascii: "}")].contains(byte)
    }
}
