/// One minimised record, ready to render: the output values of a mapping's fields, in order.
///
/// Reused from record to record so that the hot path does not allocate: text lives in one byte
/// arena, and values point into it by range. Text is raw (it may hold any byte the source held);
/// renderers make it valid JSON or XML.
public struct RecordBuffer: Sendable {
    /// One output value.
    public enum Value: Sendable, Equatable {
        /// A NULL source value: JSON `null`, an absent XML element.
        case null
        /// Text: a range of ``RecordBuffer/bytes``.
        case text(Range<Int>)
        /// A number (the `year` form).
        case number(Int)
        /// A list of texts: a range of ``RecordBuffer/listItems``.
        case list(Range<Int>)
    }

    public internal(set) var customerID: Int64 = 0
    /// One value per mapping field, in mapping order.
    public internal(set) var values: [Value] = []
    public internal(set) var bytes: [UInt8] = []
    public internal(set) var listItems: [Range<Int>] = []
    /// Invalid UTF-8 sequences the forms replaced with U+FFFD while minimising this record.
    public internal(set) var replacedCharacters = 0
    /// Working space of the forms (normalised values before hashing), reused.
    var scratch: [UInt8] = []

    public init() {}

    mutating func reset(customerID: Int64) {
        self.customerID = customerID
        values.removeAll(keepingCapacity: true)
        bytes.removeAll(keepingCapacity: true)
        listItems.removeAll(keepingCapacity: true)
        replacedCharacters = 0
    }

    /// Appends text produced by `body` (which appends to ``bytes``) as the next value.
    mutating func appendText(_ body: (inout [UInt8]) -> Void) {
        let start = bytes.count
        body(&bytes)
        values.append(.text(start..<bytes.count))
    }

    /// The value as a Swift value, for previews and tests: nil, String, Int or [String].
    public func decoded(_ value: Value) -> Any? {
        switch value {
        case .null: return nil
        case .text(let r): return String(decoding: bytes[r], as: UTF8.self)
        case .number(let n): return n
        case .list(let r): return listItems[r].map { String(decoding: bytes[$0], as: UTF8.self) }
        }
    }
}
