import ExportCore
import Foundation

/// Standard Webhooks signing: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, over the
/// exact, uncompressed bytes of the feed.
public enum WebhookSignature {
    /// Signs the file at `path` without loading it whole.
    public static func sign(id: String, timestamp: Int64, bodyAt path: String, key: [UInt8]) throws -> String {
        var mac = HMACSHA256(key: key)
        mac.update(Array("\(id).\(timestamp).".utf8))
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw DeliveryError.payload("cannot read the payload \(path) to sign it")
        }
        defer { try? handle.close() }
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { chunk.withUnsafeBytes { mac.update($0) } }
        return "v1," + Data(mac.mac()).base64EncodedString()
    }

    /// Signs bytes in memory (tests, small bodies).
    public static func sign(id: String, timestamp: Int64, body: [UInt8], key: [UInt8]) -> String {
        var mac = HMACSHA256(key: key)
        mac.update(Array("\(id).\(timestamp).".utf8))
        mac.update(body)
        return "v1," + Data(mac.mac()).base64EncodedString()
    }
}
