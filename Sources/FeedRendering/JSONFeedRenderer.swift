import ExportCore

/// The JSON feed (`application/json`): every string exactly as stored, control characters and NUL
/// escaped, invalid UTF-8 as U+FFFD. A hand-written byte writer: stable key order, no Foundation.
public struct JSONFeedRenderer: FeedRenderer {
    public var format: FeedFormat { .json }
    /// `"name":` for each field, escaped once, back to back; `keyRanges[i]` is field i's.
    private let keys: [UInt8]
    private let keyRanges: [Range<Int>]
    public let separator: [UInt8] = Array(",\n".utf8)
    public let deletionSeparator: [UInt8] = Array(",\n".utf8)
    /// `{"<key name>":` for deletion notices.
    private let deletionKey: [UInt8]

    public init(mapping: Mapping) {
        var deletionKey = Array("{".utf8)
        _ = Array((mapping.key ?? "key").utf8).withUnsafeBytes { JSONText.appendString($0, to: &deletionKey) }
        deletionKey.append(UInt8(ascii: ":"))
        self.deletionKey = deletionKey
        var keys: [UInt8] = []
        var ranges: [Range<Int>] = []
        for field in mapping.fields {
            let start = keys.count
            _ = Array(field.name.utf8).withUnsafeBytes { JSONText.appendString($0, to: &keys) }
            keys.append(UInt8(ascii: ":"))
            ranges.append(start..<keys.count)
        }
        self.keys = keys
        keyRanges = ranges
    }

    /// The keys sit in one buffer and list items are reached by index, so no array is retained per field.
    public func appendRecord(_ record: RecordBuffer, to out: inout [UInt8]) -> Int {
        var replaced = 0
        out.append(UInt8(ascii: "{"))
        keys.withUnsafeBytes { keys in
            record.bytes.withUnsafeBytes { bytes in
                for (i, value) in record.values.enumerated() {
                    if i > 0 { out.append(UInt8(ascii: ",")) }
                    out.append(contentsOf: UnsafeRawBufferPointer(rebasing: keys[keyRanges[i]]))
                    switch value {
                    case .null:
                        out.append(contentsOf: JSONText.null)
                    case .text(let range):
                        replaced += JSONText.appendString(UnsafeRawBufferPointer(rebasing: bytes[range]), to: &out)
                    case .number(let n):
                        DecimalText.append(n, to: &out)
                    case .list(let items):
                        out.append(UInt8(ascii: "["))
                        for k in items {
                            if k > items.lowerBound { out.append(UInt8(ascii: ",")) }
                            replaced += JSONText.appendString(UnsafeRawBufferPointer(rebasing: bytes[record.listItems[k]]), to: &out)
                        }
                        out.append(UInt8(ascii: "]"))
                    }
                }
            }
        }
        out.append(UInt8(ascii: "}"))
        return replaced
    }

    /// `{"<key>":"…","reason":"consent_withdrawn"}`
    public func appendDeletion(_ notice: DeletionNotice, to out: inout [UInt8]) {
        out.append(contentsOf: deletionKey)
        _ = notice.key.withUnsafeBytes { JSONText.appendString($0, to: &out) }
        out.append(contentsOf: ",\"reason\":\"".utf8)
        out.append(contentsOf: notice.reason.rawValue.utf8)
        out.append(contentsOf: "\"}".utf8)
    }

    /// `],"deletion_count":N,"deletions":[…]}` after the records.
    public func tail(deletions: [UInt8], count: Int) -> [UInt8] {
        var out = Array("\n],\"deletion_count\":\(count),\"deletions\":[".utf8)
        if count > 0 {
            out.append(UInt8(ascii: "\n"))
            out.append(contentsOf: deletions)
            out.append(UInt8(ascii: "\n"))
        }
        out.append(contentsOf: "]}\n".utf8)
        return out
    }

    public func head(_ envelope: Envelope, recordCount: Int, deletionCount: Int) -> [UInt8] {
        var out: [UInt8] = []
        func field(_ name: String, _ value: String) {
            out.append(contentsOf: "\"\(name)\":".utf8)
            _ = Array(value.utf8).withUnsafeBytes { JSONText.appendString($0, to: &out) }
            out.append(UInt8(ascii: ","))
        }
        out.append(UInt8(ascii: "{"))
        field("partner", envelope.partner)
        field("run", envelope.run)
        field("delivery", envelope.delivery)
        out.append(contentsOf: "\"batch\":\(envelope.batch),".utf8)
        field("generated_at", envelope.generatedAt)
        field("mode", envelope.mode.rawValue)
        let count = String(recordCount)
        out.append(contentsOf: "\"record_count\":\(count)".utf8)
        out.append(contentsOf: ",\"records\":[\n".utf8)
        return out
    }
}

/// JSON string escaping over raw bytes.
enum JSONText {
    static let null: [UInt8] = Array("null".utf8)
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `bytes` as a quoted JSON string; returns how many invalid UTF-8 sequences became U+FFFD.
    static func appendString(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) -> Int {
        var replaced = 0
        out.append(UInt8(ascii: "\""))
        var i = 0
        let n = bytes.count
        while i < n {
            // Runs of printable ASCII other than quote and backslash go in one copy.
            let end = ByteClass.plainRun(bytes, from: i, table: ByteClass.json)
            if end > i {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<end]))
                i = end
                if i == n { break }
            }
            let b = bytes[i]
            if b >= 0x20 && b < 0x80 {
                out.append(UInt8(ascii: "\\"))
                out.append(b)
                i += 1
            } else if b < 0x20 {
                out.append(UInt8(ascii: "\\"))
                switch b {
                case 0x08: out.append(UInt8(ascii: "b"))
                case 0x09: out.append(UInt8(ascii: "t"))
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0C: out.append(UInt8(ascii: "f"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                default:
                    out.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                }
                i += 1
            } else {
                let length = UTF8Scan.sequenceLength(bytes, at: i)
                if length > 0 {
                    out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<(i + length)]))
                    i += length
                } else {
                    out.append(contentsOf: UTF8Scan.replacement)
                    replaced += 1
                    i += -length
                }
            }
        }
        out.append(UInt8(ascii: "\""))
        return replaced
    }
}
