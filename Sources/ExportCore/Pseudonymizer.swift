import Foundation

/// The `pseudonym` form: hex HMAC-SHA256 of a value under the partner's key.
///
/// The HMAC key schedule is computed once per partner; each record copies the keyed state.
/// Stable for one partner, unlinkable across partners (each has its own key).
public struct Pseudonymizer: Sendable {
    /// Keys shorter than this are refused (docs/design.md, "Contracts and mappings").
    public static let minimumKeyLength = 16

    private let keyed: HMACSHA256

    /// - Throws: ``KeyTooShort`` when `key` has fewer than 16 bytes.
    public init(key: [UInt8]) throws {
        guard key.count >= Self.minimumKeyLength else { throw KeyTooShort(length: key.count) }
        keyed = HMACSHA256(key: key)
    }

    /// Appends the hex pseudonym of `value` to `out`.
    public func append(pseudonymOf value: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        var mac = keyed
        mac.update(value)
        mac.finalize { Hex.append($0, to: &out) }
    }

    /// The hex pseudonym of `value`'s UTF-8 bytes.
    public func pseudonym(of value: String) -> String {
        var out: [UInt8] = []
        Array(value.utf8).withUnsafeBytes { append(pseudonymOf: $0, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    public struct KeyTooShort: Error, Sendable {
        public let length: Int
    }
}

/// The `sha256` form: hex SHA-256 of a normalised value.
public enum HashForm {
    /// Appends the hex SHA-256 of `bytes` to `out`.
    public static func append(sha256Of bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        var hasher = SHA256Hasher()
        hasher.update(bytes)
        hasher.finalize { Hex.append($0, to: &out) }
    }

    /// The hex SHA-256 of `value`'s UTF-8 bytes.
    public static func sha256(of value: String) -> String {
        var out: [UInt8] = []
        Array(value.utf8).withUnsafeBytes { append(sha256Of: $0, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }
}
