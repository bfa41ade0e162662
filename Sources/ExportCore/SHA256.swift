import CCrypto
import Foundation

/// SHA-256 (FIPS 180-4), streaming, over OpenSSL's libcrypto. A plain value: copying it copies the
/// state, with no allocation.
public struct SHA256Hasher {
    private var state = pe_sha256()

    public init() { pe_sha256_init(&state) }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        pe_sha256_update(&state, bytes.baseAddress, bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Hands the 32-byte digest to `body` without allocating it.
    public consuming func finalize<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { digest in
            pe_sha256_final(&state, digest.baseAddress)
            return try body(UnsafeRawBufferPointer(digest))
        }
    }

    /// The digest as lower-case hex.
    public consuming func hexDigest() -> String {
        finalize { Hex.string($0) }
    }
}

/// HMAC-SHA256 (RFC 2104) over OpenSSL's libcrypto. The key schedule is done once, in `init`; each
/// message starts from a copy of the keyed value, which costs no allocation.
public struct HMACSHA256: Sendable {
    private var state = pe_hmac_sha256()

    public init(key: [UInt8]) {
        key.withUnsafeBytes { pe_hmac_sha256_init(&state, $0.baseAddress, $0.count) }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        pe_hmac_sha256_update(&state, bytes.baseAddress, bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Hands the 32-byte MAC to `body` without allocating it.
    public consuming func finalize<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { mac in
            pe_hmac_sha256_final(&state, mac.baseAddress)
            return try body(UnsafeRawBufferPointer(mac))
        }
    }

    /// The MAC's bytes.
    public consuming func mac() -> [UInt8] {
        finalize { Array($0) }
    }
}

/// The `sha256//<base64>` public-key pin of a DER certificate (what `pinned_public_key` holds), or nil
/// when the bytes are not a certificate.
public func publicKeyPin(ofCertificate der: [UInt8]) -> String? {
    var digest = [UInt8](repeating: 0, count: 32)
    let status = der.withUnsafeBufferPointer { bytes in
        digest.withUnsafeMutableBufferPointer { pe_certificate_spki_sha256(bytes.baseAddress, bytes.count, $0.baseAddress) }
    }
    guard status == 0 else { return nil }
    return "sha256//" + Data(digest).base64EncodedString()
}
