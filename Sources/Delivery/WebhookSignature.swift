import ExportCore
import Foundation

/// Standard Webhooks signing: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, over the
/// exact, uncompressed bytes of the feed.
public enum WebhookSignature {
    public static func sign(id: String, timestamp: Int64, feed: FeedBytes, key: [UInt8]) -> String {
        var mac = HMACSHA256(key: key)
        mac.update(Array("\(id).\(timestamp).".utf8))
        for part in feed.parts { mac.update(part) }
        return "v1," + Data(mac.mac()).base64EncodedString()
    }

    public static func sign(id: String, timestamp: Int64, body: [UInt8], key: [UInt8]) -> String {
        sign(id: id, timestamp: timestamp, feed: FeedBytes(body), key: key)
    }
}
