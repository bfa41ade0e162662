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

/// Writes leaves for many entries of one delivery: what they share is encoded once.
public struct LeafWriter: Sendable {
    private let head: [UInt8]
    private let middle: [UInt8]
    private let tail: [UInt8]

    public init(kind: DisclosureKind, partner: String, delivery: String, fields: [String], reason: DeletionReason?, disclosedAt: String?) {
        head = Array(#"{"index":"#.utf8)
        var middle = Array(#","kind":"#.utf8)
        Self.appendString(kind.rawValue, to: &middle)
        middle.append(contentsOf: #","partner":"#.utf8)
        Self.appendString(partner, to: &middle)
        middle.append(contentsOf: #","delivery":"#.utf8)
        Self.appendString(delivery, to: &middle)
        middle.append(contentsOf: #","customer_id":"#.utf8)
        self.middle = middle
        var tail = Array(#","fields":["#.utf8)
        for (i, field) in fields.enumerated() {
            if i > 0 { tail.append(UInt8(ascii: ",")) }
            Self.appendString(field, to: &tail)
        }
        tail.append(contentsOf: #"],"reason":"#.utf8)
        if let reason { Self.appendString(reason.rawValue, to: &tail) } else { tail.append(contentsOf: "null".utf8) }
        tail.append(contentsOf: #","consent_scope":"#.utf8)
        self.tail = tail
        var end = Array(#","disclosed_at":"#.utf8)
        if let disclosedAt { Self.appendString(disclosedAt, to: &end) } else { end.append(contentsOf: "null".utf8) }
        end.append(UInt8(ascii: "}"))
        self.end = end
    }

    private let end: [UInt8]
    private let granted = Array(#","consent_granted_at":"#.utf8)
    private static let hex = Array("0123456789abcdef".utf8)

    /// Appends the leaf of one entry to `out`.
    public func write(index: UInt64, customerID: Int64, scope: [UInt8], grantedAt: [UInt8], into out: inout [UInt8]) {
        scope.withUnsafeBytes { s in grantedAt.withUnsafeBytes { g in write(index: index, customerID: customerID, scope: s, grantedAt: g, into: &out) } }
    }

    public func write(index: UInt64, customerID: Int64, scope: UnsafeRawBufferPointer, grantedAt: UnsafeRawBufferPointer,
                      into out: inout [UInt8]) {
        // One growth of `out`, then bytes copied in place: this runs once per entry recorded.
        let most = head.count + 20 + middle.count + 21 + tail.count + scope.count * 6 + 2 + granted.count
            + grantedAt.count * 6 + 2 + end.count
        // Written on the stack, then one copy into `out` (growing `out` by a generic sequence of
        // zeros first showed in profiles).
        var n = 0
        withUnsafeTemporaryAllocation(byteCount: most, alignment: 1) { buffer in
            let base = buffer.baseAddress!
            func put(_ bytes: UnsafeRawBufferPointer) {
                guard bytes.count > 0 else { return }
                (base + n).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                n += bytes.count
            }
            func decimal(_ value: UInt64, negative: Bool) {
                if negative {
                    base.storeBytes(of: UInt8(ascii: "-"), toByteOffset: n, as: UInt8.self)
                    n += 1
                }
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
            func string(_ bytes: UnsafeRawBufferPointer) {
                base.storeBytes(of: UInt8(ascii: "\""), toByteOffset: n, as: UInt8.self)
                n += 1
                for byte in bytes {
                    switch byte {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                        base.storeBytes(of: UInt8(ascii: "\\"), toByteOffset: n, as: UInt8.self)
                        base.storeBytes(of: byte, toByteOffset: n + 1, as: UInt8.self)
                        n += 2
                    case 0..<0x20:
                        for (i, b) in [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                       Self.hex[Int(byte >> 4)], Self.hex[Int(byte & 0x0F)]].enumerated() {
                            base.storeBytes(of: b, toByteOffset: n + i, as: UInt8.self)
                        }
                        n += 6
                    default:
                        base.storeBytes(of: byte, toByteOffset: n, as: UInt8.self)
                        n += 1
                    }
                }
                base.storeBytes(of: UInt8(ascii: "\""), toByteOffset: n, as: UInt8.self)
                n += 1
            }
            head.withUnsafeBytes(put)
            decimal(index, negative: false)
            middle.withUnsafeBytes(put)
            decimal(customerID.magnitude, negative: customerID < 0)
            tail.withUnsafeBytes(put)
            string(scope)
            granted.withUnsafeBytes(put)
            string(grantedAt)
            end.withUnsafeBytes(put)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<n]))
        }
    }

    static func appendString(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { appendString(UnsafeRawBufferPointer($0), to: &out) }
    }

    /// A JSON string: `"` and `\` escaped, control characters as \u00XX, everything else as it is.
    static func appendString(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most values (scopes, times, ids) need no escape: copied whole.
        if !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out.append(contentsOf: bytes)
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            case 0..<0x20:
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
