import ExportCore

/// One entry of the tamper-evident disclosure log as the bytes its Merkle leaf hashes: one line of
/// JSON, UTF-8, no spaces, keys in a fixed order (docs/audit.md):
///
///     {"index":0,"kind":"disclosure","partner":"acme-offers","delivery":"dlv-…","customer_id":42,
///      "fields":["ref","email_sha256"],"reason":null,"consent_scope":"offers",
///      "consent_granted_at":"2026-01-02T03:04:05Z","disclosed_at":"2026-11-30T02:00:07Z"}
///
/// A deletion notice has kind `deletion`, its reason, the key field as its one field, and empty
/// consent scope and time.
public struct LogEntry: Sendable, Equatable {
    public var index: UInt64
    public var kind: DisclosureKind
    public var partner: String
    public var delivery: String
    public var customerID: Int64
    public var fields: [String]
    public var reason: DeletionReason?
    public var consentScope: String
    public var consentGrantedAt: String
    /// nil for a row an earlier version wrote for a delivery that was never acknowledged.
    public var disclosedAt: String?

    public init(index: UInt64, kind: DisclosureKind, partner: String, delivery: String, customerID: Int64, fields: [String],
                reason: DeletionReason?, consentScope: String, consentGrantedAt: String, disclosedAt: String?) {
        self.index = index
        self.kind = kind
        self.partner = partner
        self.delivery = delivery
        self.customerID = customerID
        self.fields = fields
        self.reason = reason
        self.consentScope = consentScope
        self.consentGrantedAt = consentGrantedAt
        self.disclosedAt = disclosedAt
    }

    public var leafBytes: [UInt8] {
        var out: [UInt8] = []
        LeafWriter(kind: kind, partner: partner, delivery: delivery, fields: fields, reason: reason, disclosedAt: disclosedAt)
            .write(index: index, customerID: customerID, scope: Array(consentScope.utf8),
                   grantedAt: Array(consentGrantedAt.utf8), into: &out)
        return out
    }
}

/// Writes leaves for many entries of one delivery: what they share is encoded once, into one
/// template (one buffer, so that writing a leaf touches one array, not five).
public struct LeafWriter: Sendable {
    /// `{"index":` · `,"kind":…,"customer_id":` · `,"fields":[…],"reason":…,"consent_scope":` ·
    /// `,"consent_granted_at":` · `,"disclosed_at":…}` — the pieces between an entry's own values.
    private let template: [UInt8]
    private let cuts: (Int, Int, Int, Int)

    public init(kind: DisclosureKind, partner: String, delivery: String, fields: [String], reason: DeletionReason?, disclosedAt: String?) {
        var template = Array(#"{"index":"#.utf8)
        let head = template.count
        template.append(contentsOf: #","kind":"#.utf8)
        Self.appendString(kind.rawValue, to: &template)
        template.append(contentsOf: #","partner":"#.utf8)
        Self.appendString(partner, to: &template)
        template.append(contentsOf: #","delivery":"#.utf8)
        Self.appendString(delivery, to: &template)
        template.append(contentsOf: #","customer_id":"#.utf8)
        let middle = template.count
        template.append(contentsOf: #","fields":["#.utf8)
        for (i, field) in fields.enumerated() {
            if i > 0 { template.append(UInt8(ascii: ",")) }
            Self.appendString(field, to: &template)
        }
        template.append(contentsOf: #"],"reason":"#.utf8)
        if let reason { Self.appendString(reason.rawValue, to: &template) } else { template.append(contentsOf: "null".utf8) }
        template.append(contentsOf: #","consent_scope":"#.utf8)
        let tail = template.count
        template.append(contentsOf: #","consent_granted_at":"#.utf8)
        let granted = template.count
        template.append(contentsOf: #","disclosed_at":"#.utf8)
        if let disclosedAt { Self.appendString(disclosedAt, to: &template) } else { template.append(contentsOf: "null".utf8) }
        template.append(UInt8(ascii: "}"))
        self.template = template
        cuts = (head, middle, tail, granted)
    }

    /// Appends the leaf of one entry to `out`.
    public func write(index: UInt64, customerID: Int64, scope: [UInt8], grantedAt: [UInt8], into out: inout [UInt8]) {
        scope.withUnsafeBytes { s in grantedAt.withUnsafeBytes { g in write(index: index, customerID: customerID, scope: s, grantedAt: g, into: &out) } }
    }

    public func write(index: UInt64, customerID: Int64, scope: UnsafeRawBufferPointer, grantedAt: UnsafeRawBufferPointer,
                      into out: inout [UInt8]) {
        withLeaf(index: index, customerID: customerID, scope: scope, grantedAt: grantedAt) { out.append(contentsOf: $0) }
    }

    /// Calls `body` with the leaf of one entry, written on the stack (valid during the call only):
    /// this runs once per entry recorded, so nothing is allocated or reference-counted per leaf.
    public func withLeaf<R>(index: UInt64, customerID: Int64, scope: UnsafeRawBufferPointer, grantedAt: UnsafeRawBufferPointer,
                            _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let most = template.count + 20 + 21 + scope.count * 6 + 2 + grantedAt.count * 6 + 2
        return try template.withUnsafeBytes { pieces in
            try withUnsafeTemporaryAllocation(byteCount: most, alignment: 1) { buffer in
                var cursor = LeafCursor(base: buffer.baseAddress!)
                let (head, middle, tail, granted) = cuts
                cursor.put(UnsafeRawBufferPointer(rebasing: pieces[0..<head]))
                cursor.decimal(index, negative: false)
                cursor.put(UnsafeRawBufferPointer(rebasing: pieces[head..<middle]))
                cursor.decimal(customerID.magnitude, negative: customerID < 0)
                cursor.put(UnsafeRawBufferPointer(rebasing: pieces[middle..<tail]))
                cursor.string(scope)
                cursor.put(UnsafeRawBufferPointer(rebasing: pieces[tail..<granted]))
                cursor.string(grantedAt)
                cursor.put(UnsafeRawBufferPointer(rebasing: pieces[granted...]))
                return try body(UnsafeRawBufferPointer(start: buffer.baseAddress, count: cursor.n))
            }
        }
    }

    /// Writes a leaf's pieces into memory the caller sized for the worst case.
    private struct LeafCursor {
        let base: UnsafeMutableRawPointer
        var n = 0

        mutating func put(_ bytes: UnsafeRawBufferPointer) {
            guard bytes.count > 0 else { return }
            (base + n).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            n += bytes.count
        }

        mutating func byte(_ value: UInt8) {
            base.storeBytes(of: value, toByteOffset: n, as: UInt8.self)
            n += 1
        }

        mutating func decimal(_ value: UInt64, negative: Bool) {
            if negative { byte(UInt8(ascii: "-")) }
            var digits = 1
            var rest = value / 10
            while rest > 0 {
                digits += 1
                rest /= 10
            }
            rest = value
            for i in stride(from: digits - 1, through: 0, by: -1) {
                base.storeBytes(of: UInt8(ascii: "0") + UInt8(rest % 10), toByteOffset: n + i, as: UInt8.self)
                rest /= 10
            }
            n += digits
        }

        /// A JSON string: `"` and `\` escaped, control characters as \u00XX, everything else as it is.
        mutating func string(_ bytes: UnsafeRawBufferPointer) {
            byte(UInt8(ascii: "\""))
            for value in bytes {
                switch value {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                    byte(UInt8(ascii: "\\"))
                    byte(value)
                case 0..<0x20:
                    byte(UInt8(ascii: "\\"))
                    byte(UInt8(ascii: "u"))
                    byte(UInt8(ascii: "0"))
                    byte(UInt8(ascii: "0"))
                    byte(LeafWriter.hexDigit(value >> 4))
                    byte(LeafWriter.hexDigit(value & 0x0F))
                default:
                    byte(value)
                }
            }
            byte(UInt8(ascii: "\""))
        }
    }

    static func hexDigit(_ value: UInt8) -> UInt8 { value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10 }

    static func appendString(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { appendString(UnsafeRawBufferPointer($0), to: &out) }
    }

    /// A JSON string, escaped as in every leaf (``LeafCursor/string(_:)``), appended to `out`.
    static func appendString(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(byteCount: bytes.count * 6 + 2, alignment: 1) { buffer in
            var cursor = LeafCursor(base: buffer.baseAddress!)
            cursor.string(bytes)
            out.append(contentsOf: UnsafeRawBufferPointer(start: buffer.baseAddress, count: cursor.n))
        }
    }
}
