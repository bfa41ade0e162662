/// Bytes of a feed as they are held in memory: pieces back to back (envelope head, records, tail),
/// so that a batch is never copied whole to be sent.
public struct FeedBytes: Sendable, Equatable {
    public let parts: [[UInt8]]

    public init(parts: [[UInt8]]) { self.parts = parts }
    public init(_ bytes: [UInt8]) { parts = [bytes] }

    public var count: Int { parts.reduce(0) { $0 + $1.count } }

    /// Hex SHA-256 of all the pieces in order.
    public var sha256: String {
        var hasher = SHA256Hasher()
        for part in parts { hasher.update(part) }
        return hasher.hexDigest()
    }

    /// The bytes in one buffer (tests, small feeds).
    public var joined: [UInt8] { parts.count == 1 ? parts[0] : parts.flatMap { $0 } }

    /// The pieces, moved out (so that a buffer can be reused without being copied).
    public consuming func takeParts() -> [[UInt8]] { parts }
}

/// One request: a feed to send under its delivery id (the `Idempotency-Key`).
public struct Upload: Sendable {
    public let deliveryID: String
    public let contentType: String
    /// The feed as rendered: what the signature covers.
    public let feed: FeedBytes
    /// What goes on the wire: the feed itself, or its gzip.
    public let wire: FeedBytes
    public let gzip: Bool
    /// The newest signed checkpoint of the disclosure log, base64 (`Partner-Export-Checkpoint`): a
    /// partner that keeps them is a witness of the log (docs/audit.md).
    public let checkpoint: String?

    public init(deliveryID: String, contentType: String, feed: FeedBytes, wire: FeedBytes, gzip: Bool, checkpoint: String? = nil) {
        self.checkpoint = checkpoint
        self.deliveryID = deliveryID
        self.contentType = contentType
        self.feed = feed
        self.wire = wire
        self.gzip = gzip
    }
}

/// What one HTTP attempt came to.
public struct Exchange: Sendable, Equatable {
    /// The HTTP status, when the partner answered.
    public let status: Int?
    /// libcurl's result code (0 when the transfer completed, whatever the status).
    public let curlCode: Int32
    /// libcurl's message when the transfer failed.
    public let error: String?
    /// Seconds from the answer's `Retry-After`, when it had one.
    public let retryAfter: Int?
    /// The first bytes of the partner's answer.
    public let answerPrefix: [UInt8]
    public let duration: Double
    /// Whether any of the request left this machine, so that the partner may have read it.
    public let requestSent: Bool
    /// The certificate the server presented, when TLS refused it: subject, issuer and SHA-256
    /// fingerprint (what the runbook's "confirm with the partner" step needs; never a secret).
    public let peerCertificate: String?
    /// The server asked for a TLS client certificate, none was configured, and no answer came: it
    /// refused the connection (no request was read).
    public let clientCertificateMissing: Bool
    /// OAuth2: no request was sent because no access token could be had (the token endpoint's answer).
    public let tokenProblem: TokenProblem?
    /// OAuth2: the partner answered 401 to a token it had accepted before; the token was dropped and the
    /// next attempt fetches a new one (once: a 401 to a fresh token is the partner's answer).
    public let tokenRenewed: Bool

    public init(status: Int?, curlCode: Int32 = 0, error: String? = nil, retryAfter: Int? = nil, answerPrefix: [UInt8] = [],
                duration: Double = 0, requestSent: Bool = true, clientCertificateMissing: Bool = false,
                peerCertificate: String? = nil, tokenProblem: TokenProblem? = nil, tokenRenewed: Bool = false) {
        self.tokenProblem = tokenProblem
        self.tokenRenewed = tokenRenewed
        self.peerCertificate = peerCertificate
        self.clientCertificateMissing = clientCertificateMissing
        self.status = status
        self.curlCode = curlCode
        self.error = error
        self.retryAfter = retryAfter
        self.answerPrefix = answerPrefix
        self.duration = duration
        self.requestSent = requestSent
    }
}

/// Why an OAuth2 access token could not be had (nothing was sent to the feed's URL).
public enum TokenProblem: Sendable, Equatable {
    /// The token endpoint refused the client (a 4xx, or a 2xx without a usable token): retrying cannot help.
    case refused(String)
    /// The token endpoint is down, slow or overloaded (5xx, 429, a network failure): retried like a delivery.
    case unavailable(String, retryAfter: Int?)
    /// The token endpoint's certificate could not be verified (or a TLS set-up problem): as a delivery's would be.
    case untrusted(String)

    public var sentence: String {
        switch self {
        case .refused(let text), .unavailable(let text, _), .untrusted(let text): text
        }
    }
}

/// Sends one request and reports what came back. ``RetryPolicy`` decides what to do with the answer;
/// a conformance only moves bytes.
///
/// ```swift
/// final class Recording: Transport {
///     var sent: [Upload] = []
///     func send(_ upload: Upload, timestamp: Int64) throws -> Exchange {
///         sent.append(upload)
///         return Exchange(status: 200)
///     }
/// }
/// ```
/// `HTTPSClient` (libcurl) is the real one; the tests script another.
public protocol Transport: AnyObject {
    /// Sends `upload` once. Network and HTTP failures are in the ``Exchange``; it throws only when the
    /// request could not be built (a local problem), in which case nothing left.
    func send(_ upload: Upload, timestamp: Int64) throws -> Exchange
}
