/// Minimise: one source row → exactly the mapping's fields in their forms, or a rejection.
///
/// Every form is resolved once per partner (``Transform``); per record the minimiser only copies,
/// slices, hashes or parses bytes into a reused ``RecordBuffer``.
public struct Minimiser: Sendable {
    /// One field's work. Trivially copyable (no references), so the per-record loop does no
    /// reference counting.
    struct Step: Sendable {
        /// Position in the row (the plan's ``SourceColumns``).
        let column: Int
        /// Position of the source column in ``CustomerSchema/columns``, for rejection reasons.
        let schemaColumn: Int
        let required: Bool
        let transform: Transform

        var source: String { CustomerSchema.columns[schemaColumn].name }
    }

    /// A form resolved against its column's type.
    enum Transform: Sendable {
        case clearText
        case clearInteger
        case clearList
        case initial
        case prefix(Int)
        case year
        case sha256(Normalisation)
        case pseudonym

        static func resolve(form: Form, column: CustomerColumn) -> Transform {
            switch (form, column.type) {
            case (.clear, .integer): .clearInteger
            case (.clear, .list): .clearList
            case (.clear, _): .clearText
            case (.initial, _): .initial
            case (.prefix(let n), _): .prefix(n)
            case (.year, _): .year
            case (.sha256, _): .sha256(.forColumn(column.name))
            case (.pseudonym, _): .pseudonym
            }
        }
    }

    let steps: [Step]
    let pseudonymizer: Pseudonymizer?

    /// Fills `record` from `row`; returns why the record cannot be rendered, or nil.
    public func minimise<Row: CustomerRow>(_ row: Row, into record: inout RecordBuffer) -> RejectionReason? {
        record.reset(customerID: row.customerID)
        return steps.withUnsafeBufferPointer { steps in minimise(row, steps: steps, into: &record) }
    }

    private func minimise<Row: CustomerRow>(_ row: Row, steps: UnsafeBufferPointer<Step>,
                                            into record: inout RecordBuffer) -> RejectionReason? {
        for step in steps {
            let rejection: RejectionReason? = row.withValue(at: step.column) { value in
                switch value {
                case .null:
                    if step.required { return .requiredValueMissing(field: step.source) }
                    record.values.append(.null)
                    return nil
                case .integer(let n):
                    return DecimalText.withDigits(n) { apply(step, to: $0, record: &record) }
                case .bytes(let bytes):
                    return apply(step, to: bytes, record: &record)
                }
            }
            if let rejection { return rejection }
        }
        return nil
    }

    private func apply(_ step: Step, to value: UnsafeRawBufferPointer, record: inout RecordBuffer) -> RejectionReason? {
        switch step.transform {
        case .clearText, .clearInteger:
            record.appendText { $0.append(contentsOf: value) }
        case .clearList:
            let start = record.listItems.count
            do {
                record.replacedCharacters += try JSONStringList.parse(value, into: &record.bytes, items: &record.listItems)
            } catch {
                return .malformedList(field: step.source)
            }
            record.values.append(.list(start..<record.listItems.count))
        case .initial:
            var replaced = 0
            record.appendText { out in
                let start = out.count
                replaced = Self.appendPrefix(of: value, characters: 1, to: &out)
                if out.count > start { out.append(UInt8(ascii: ".")) }
            }
            record.replacedCharacters += replaced
        case .prefix(let n):
            var replaced = 0
            record.appendText { replaced = Self.appendPrefix(of: value, characters: n, to: &$0) }
            record.replacedCharacters += replaced
        case .year:
            guard let year = Self.year(of: value) else { return .invalidTimestamp(field: step.source) }
            record.values.append(.number(year))
        case .sha256(let normalisation):
            record.scratch.removeAll(keepingCapacity: true)
            record.replacedCharacters += normalisation.append(normalising: value, to: &record.scratch)
            if record.scratch.isEmpty {
                record.values.append(.null)
            } else {
                let start = record.bytes.count
                record.scratch.withUnsafeBytes { HashForm.append(sha256Of: $0, to: &record.bytes) }
                record.values.append(.text(start..<record.bytes.count))
            }
        case .pseudonym:
            guard let pseudonymizer else { preconditionFailure("ExportPlan builds a pseudonymizer for every pseudonym form") }
            record.appendText { pseudonymizer.append(pseudonymOf: value, to: &$0) }
        }
        return nil
    }

    /// The value field `index` takes for customer `id` when the field comes from `id` (a deletion
    /// notice's key when the ledger does not hold it: a ledger written before it kept keys); nil
    /// when the field comes from another column.
    public func value(ofField index: Int, forID id: Int64) -> [UInt8]? {
        guard steps.indices.contains(index), steps[index].source == "id" else { return nil }
        var record = RecordBuffer()
        record.reset(customerID: id)
        let step = steps[index]
        let rejection = DecimalText.withDigits(id) { apply(step, to: $0, record: &record) }
        guard rejection == nil, case .text(let range)? = record.values.last else { return nil }
        return Array(record.bytes[range])
    }

    /// The column field `index` is read from.
    public func source(ofField index: Int) -> String? { steps.indices.contains(index) ? steps[index].source : nil }

    /// The text field `index` takes when its column holds `value` (nil: the value renders as null,
    /// or the form gives no text) — the key a record would be sent under, computed without the record.
    public func value(ofField index: Int, from value: UnsafeRawBufferPointer, customerID id: Int64) -> [UInt8]? {
        guard steps.indices.contains(index) else { return nil }
        var record = RecordBuffer()
        record.reset(customerID: id)
        guard apply(steps[index], to: value, record: &record) == nil, case .text(let range)? = record.values.last else { return nil }
        return Array(record.bytes[range])
    }

    /// Appends the first `count` characters (extended grapheme clusters) of `value`; returns how many
    /// invalid UTF-8 sequences were replaced.
    static func appendPrefix(of value: UnsafeRawBufferPointer, characters count: Int, to out: inout [UInt8]) -> Int {
        // Fast path: when the first count+1 bytes are ASCII and none is CR (CR LF is one character),
        // each of the first `count` bytes is one character.
        let probe = min(value.count, count + 1)
        var simple = true
        for i in 0..<probe where value[i] >= 0x80 || value[i] == 0x0D {
            simple = false
            break
        }
        if simple {
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: value[0..<min(value.count, count)]))
            return 0
        }
        let (string, replaced) = UTF8Scan.decode(value)
        out.append(contentsOf: string.prefix(count).utf8)
        return replaced
    }

    /// The year of an RFC 3339 timestamp (`YYYY-MM-DD…`), or nil.
    static func year(of value: UnsafeRawBufferPointer) -> Int? {
        guard value.count >= 10 else { return nil }
        func digit(_ i: Int) -> Int? {
            let b = value[i]
            return b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") ? Int(b - UInt8(ascii: "0")) : nil
        }
        guard value[4] == UInt8(ascii: "-"), value[7] == UInt8(ascii: "-"),
              let y0 = digit(0), let y1 = digit(1), let y2 = digit(2), let y3 = digit(3),
              let m0 = digit(5), let m1 = digit(6), let d0 = digit(8), let d1 = digit(9) else { return nil }
        let month = m0 * 10 + m1
        let day = d0 * 10 + d1
        guard (1...12).contains(month), (1...31).contains(day) else { return nil }
        if value.count > 10 {
            let t = value[10]
            guard t == UInt8(ascii: "T") || t == UInt8(ascii: "t") || t == UInt8(ascii: " ") else { return nil }
        }
        // PostgreSQL writes a date before year 1 as "0044-03-15 … BC": its year is not 44 (as `infinity` is no year).
        var end = value.count
        while end > 0, value[end - 1] == UInt8(ascii: " ") { end -= 1 }
        if end >= 2, value[end - 2] | 0x20 == UInt8(ascii: "b"), value[end - 1] | 0x20 == UInt8(ascii: "c") { return nil }
        let year = y0 * 1000 + y1 * 100 + y2 * 10 + y3
        return year == 0 ? nil : year
    }
}
