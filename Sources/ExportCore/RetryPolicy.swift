/// What to do after one HTTP attempt. The one place that classifies answers (DESIGN §4).
public enum DeliveryDecision: Sendable, Equatable {
    /// A 2xx: the partner has the feed.
    case delivered
    /// Worth trying again; `after` is the partner's `Retry-After` in seconds, when it gave one.
    case retry(reason: String, after: Int?)
    /// The partner's permanent answer (other 4xx, 3xx, 501): retrying the same bytes cannot help.
    case rejected(reason: String)
    /// Cannot succeed by retrying now: a TLS or local set-up problem, or a wait longer than the cap.
    case failed(reason: String)
}

/// Retry decisions and backoff: exponential with full jitter, `Retry-After` honoured up to a cap.
public struct RetryPolicy: Sendable {
    /// First backoff ceiling; doubles with each attempt.
    public let base: Double
    /// The longest wait between two attempts, `Retry-After` included.
    public let cap: Double

    public init(baseSeconds: Double = 1, capSeconds: Double = 120) {
        base = baseSeconds
        cap = capSeconds
    }

    /// Classifies one attempt from its HTTP status, libcurl code and `Retry-After`.
    public func decide(status: Int?, curlCode: Int32, retryAfter: Int?) -> DeliveryDecision {
        if curlCode == 0, let status {
            switch status {
            case 200...299:
                return .delivered
            case 408, 425, 429, 500, 502...599:
                if let retryAfter, Double(retryAfter) > cap {
                    return .failed(reason: "HTTP \(status): the partner asked to wait \(retryAfter) s, longer than the "
                                   + "\(Int(cap)) s cap; rerun later")
                }
                return .retry(reason: "HTTP \(status)", after: retryAfter)
            case 300...399:
                return .rejected(reason: "HTTP \(status): a redirect, which is never followed (headers would leak to another host)")
            case 501:
                return .rejected(reason: "HTTP 501: the partner does not implement this method")
            case 400...499:
                return .rejected(reason: "HTTP \(status)")
            default:
                return .retry(reason: "HTTP \(status)", after: nil)
            }
        }
        switch curlCode {
        // Set-up and trust problems: the same request would fail the same way.
        case 1, 3, 4, 26, 42, 43, 48, 53, 54, 58, 59, 60, 64, 66, 77, 83, 90, 91:
            return .failed(reason: "\(Self.curlName(curlCode)) (curl \(curlCode))")
        default:
            return .retry(reason: "\(Self.curlName(curlCode)) (curl \(curlCode))", after: nil)
        }
    }

    /// Seconds to wait before attempt `attempt + 1`, after `attempt` attempts (1-based), given a
    /// `Retry-After`. `random` yields a number in 0..<1.
    public func delay(afterAttempt attempt: Int, retryAfter: Int?, random: () -> Double) -> Double {
        if let retryAfter { return min(Double(retryAfter), cap) }
        let ceiling = min(cap, base * Double(1 << min(attempt - 1, 30)))
        return ceiling * random()
    }

    static func curlName(_ code: Int32) -> String {
        switch code {
        case 1: "unsupported protocol"
        case 6: "could not resolve host"
        case 7: "could not connect"
        case 18: "transfer closed early"
        case 26: "could not read the payload"
        case 28: "timed out"
        case 35: "TLS handshake failed"
        case 52: "the server closed the connection without answering"
        case 55: "failed sending data"
        case 56: "failed receiving data"
        case 58: "problem with the client certificate"
        case 60: "the server's certificate could not be verified with the configured CA"
        case 77: "cannot read the CA file"
        case 90: "the server's public key does not match pinned_public_key"
        default: "transfer failed"
        }
    }
}
