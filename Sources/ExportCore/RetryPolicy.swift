import Foundation
import Synchronization

/// How one attempt is classified (docs/design.md, "Delivery"): the one place that reads statuses and libcurl codes.
public enum AnswerClass: Sendable, Equatable {
    /// A 2xx: the partner has the feed, whatever happened to the rest of its answer.
    case acknowledged
    /// Worth trying again; `retryAfter` is the partner's `Retry-After` in seconds, when it gave one.
    case retryable(reason: String, retryAfter: Int?)
    /// The partner's permanent answer (other 4xx, 3xx, 501): retrying the same bytes cannot help.
    case refused(reason: String)
    /// Cannot succeed by retrying now: TLS trust, a local set-up problem, or a wait longer than the cap.
    case hopeless(ExportError)
}

/// What to do after an attempt.
public enum AttemptVerdict: Sendable, Equatable {
    case delivered
    /// Wait `seconds`, then attempt again under the same id.
    case retry(seconds: Double, reason: String)
    /// Stop for this run: the delivery ends `rejected` or `failed` with this error.
    case stop(DeliveryStop)
}

/// How a delivery that did not get through ends for this run.
public struct DeliveryStop: Sendable, Equatable {
    /// True for the partner's permanent refusal (`rejected`); false for `failed`.
    public let refused: Bool
    public let error: ExportError
    /// A request of it may have been read and no definite answer came back: it must be resent under
    /// its own id and never superseded (docs/design.md, "In doubt").
    public let inDoubt: Bool

    public init(refused: Bool, error: ExportError, inDoubt: Bool) {
        self.refused = refused
        self.error = error
        self.inDoubt = inDoubt
    }
}

/// A source of numbers in 0..<1 for the backoff's jitter; injected so that tests are deterministic.
public protocol RandomSource: AnyObject, Sendable {
    func nextUnit() -> Double
}

/// The system's generator.
public final class SystemRandomSource: RandomSource {
    public init() {}
    public func nextUnit() -> Double { Double.random(in: 0..<1) }
}

/// A seeded, reproducible generator (SplitMix64), for tests.
public final class SeededRandomSource: RandomSource {
    private let state: Mutex<UInt64>
    public init(seed: UInt64) { state = Mutex(seed) }
    public func nextUnit() -> Double {
        let next = state.withLock { state in
            state &+= 0x9E37_79B9_7F4A_7C15
            return state
        }
        var z = next
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(UInt64(1) << 53)
    }
}

/// Retries: classification, the attempt budget, in-doubt tracking and backoff (exponential with full
/// jitter, `Retry-After` honoured up to a cap). Pure: the loop that sends lives in the pipeline, and
/// asks this after every attempt.
public struct RetryPolicy: Sendable {
    /// First backoff ceiling; doubles with each attempt.
    public let base: Double
    /// The longest wait between two attempts, `Retry-After` included.
    public let cap: Double
    /// Attempts per delivery per run.
    public let maxAttempts: Int

    public init(baseSeconds: Double = 1, capSeconds: Double = 120, maxAttempts: Int = 5) {
        base = baseSeconds
        cap = capSeconds
        self.maxAttempts = max(1, maxAttempts)
    }

    /// The same policy with another attempt budget (each contract has its own `max_attempts`).
    public func with(maxAttempts: Int) -> RetryPolicy { RetryPolicy(baseSeconds: base, capSeconds: cap, maxAttempts: maxAttempts) }

    /// With the contract's attempts and, when it sets one, its own cap (`max_retry_after_seconds`).
    public func with(maxAttempts: Int, cap contractCap: Double?) -> RetryPolicy {
        RetryPolicy(baseSeconds: base, capSeconds: contractCap ?? cap, maxAttempts: maxAttempts)
    }

    /// The partner's final status, if one came: an informational `1xx` (100 Continue, 102
    /// Processing, 103 Early Hints) says the request is being read or worked on, not what became of it.
    static func finalStatus(_ exchange: Exchange) -> Int? {
        exchange.status.flatMap { $0 >= 200 ? $0 : nil }
    }

    /// Classifies one attempt from its HTTP status, libcurl code and `Retry-After`.
    public func classify(_ exchange: Exchange) -> AnswerClass {
        switch exchange.tokenProblem {
        case .refused(let reason)?:
            return .hopeless(.deliveryAuth(reason))
        case .untrusted(let reason)?:
            return .hopeless(.tlsUntrusted(reason + ". Confirm the token endpoint's certificate with the partner out of band "
                                           + "before changing ca_file"))
        case .unavailable(let reason, let retryAfter)?:
            if let retryAfter, Double(retryAfter) > cap {
                return .hopeless(.deliveryRefusedWait(reason + ": the token endpoint asked to wait \(retryAfter) s, longer than "
                                                      + "the \(Int(cap)) s cap; rerun later"))
            }
            return .retryable(reason: reason, retryAfter: retryAfter)
        case nil:
            break
        }
        if exchange.tokenRenewed, Self.finalStatus(exchange) == 401 {
            return .retryable(reason: "HTTP 401 to an access token accepted before (expired or revoked early); a new token is "
                              + "fetched", retryAfter: 0)
        }
        if let status = Self.finalStatus(exchange), (200...299).contains(status) {
            // An acknowledgement stands even when the rest of the answer was cut off (curl 18, 28).
            return .acknowledged
        }
        // A status line is the partner's answer, even when the rest of the transfer broke (curl 18, 56).
        if let status = Self.finalStatus(exchange) {
            switch status {
            case 408, 425, 429, 500, 502...599:
                if let retryAfter = exchange.retryAfter, Double(retryAfter) > cap {
                    return .hopeless(.deliveryRefusedWait("HTTP \(status): the partner asked to wait \(retryAfter) s, longer than "
                                                          + "the \(Int(cap)) s cap; rerun later"))
                }
                return .retryable(reason: "HTTP \(status)", retryAfter: exchange.retryAfter)
            case 300...399:
                return .refused(reason: "HTTP \(status): a redirect, which is never followed (headers would leak to another host)")
            case 501:
                return .refused(reason: "HTTP 501: the partner does not implement this method")
            case 400...499:
                return .refused(reason: "HTTP \(status)")
            default:
                return .retryable(reason: "HTTP \(status)", retryAfter: nil)
            }
        }
        let code = exchange.curlCode
        let informational = exchange.status.map { " after an informational HTTP \($0), no final status" } ?? ""
        let name = "\(Self.curlName(code)) (curl \(code))" + informational
        if exchange.clientCertificateMissing {
            return .hopeless(.transportSetup(withDetail(name, exchange) + ": the partner asks for a TLS client certificate and "
                                             + "the contract names none: set client_cert and client_key"))
        }
        switch code {
        case _ where Self.trustCodes.contains(code):
            let presented = exchange.peerCertificate.map { "; the server presented \($0)" } ?? ""
            return .hopeless(.tlsUntrusted(name + presented + ". Confirm the certificate with the partner out of band before "
                                           + "changing ca_file or pinned_public_key"))
        // Set-up problems: the same request would fail the same way.
        case _ where Self.setUpCodes.contains(code):
            return .hopeless(.transportSetup(name))
        case 35 where Self.refusedClientCertificate(exchange.error), 56 where Self.refusedClientCertificate(exchange.error):
            // With TLS 1.3 the server's verdict on our certificate arrives after the handshake, as an
            // alert on the first read: the same request would be refused the same way.
            return .hopeless(.transportSetup(withDetail(name, exchange) + ": the partner refused the TLS client certificate "
                                             + "(or none was sent): check client_cert and client_key in the contract"))
        default:
            return .retryable(reason: name, retryAfter: nil)
        }
    }

    /// libcurl codes that say TLS did not trust the server (its certificate, the pinned key).
    public static let trustCodes: Set<Int32> = [60, 90, 91, 83]
    /// libcurl codes of a local set-up problem (files, options, the client certificate): the same
    /// request would fail the same way.
    public static let setUpCodes: Set<Int32> = [1, 3, 4, 26, 42, 43, 48, 53, 54, 58, 59, 64, 66, 77]

    /// Whether a TLS alert says the server refused the client certificate (OpenSSL's wording).
    static func refusedClientCertificate(_ error: String?) -> Bool {
        guard let error = error?.lowercased() else { return false }
        return ["alert certificate required", "alert bad certificate", "alert unknown ca", "alert certificate unknown",
                "alert certificate expired", "alert certificate revoked", "alert unsupported certificate",
                "alert access denied"].contains { error.contains($0) }
    }

    /// Whether the partner may have read this attempt's request without answering it definitely.
    public func leftInDoubt(_ exchange: Exchange) -> Bool {
        // A refused client certificate ends the connection before the server reads any request; a 1xx
        // alone is no answer (the partner may be working on the request it read).
        Self.finalStatus(exchange) == nil && exchange.requestSent && !exchange.clientCertificateMissing
            && !Self.refusedClientCertificate(exchange.error)
    }

    /// What to do after attempt number `attempt` of this run (1-based), given what earlier attempts of
    /// the delivery left (`wasInDoubt`: one of them, in this run or an earlier one, may have been read).
    public func verdict(after exchange: Exchange, attempt: Int, wasInDoubt: Bool, random: any RandomSource) -> AttemptVerdict {
        let inDoubt = wasInDoubt || leftInDoubt(exchange)
        switch classify(exchange) {
        case .acknowledged:
            return .delivered
        case .refused(let reason):
            return .stop(DeliveryStop(refused: true, error: .deliveryRejected(withDetail(reason, exchange)), inDoubt: false))
        case .hopeless(let error):
            return .stop(DeliveryStop(refused: false, error: error, inDoubt: inDoubt))
        case .retryable(let reason, let retryAfter):
            let detailed = withDetail(reason, exchange)
            guard attempt < maxAttempts else {
                let error = ExportError.deliveryExhausted(
                    "gave up after \(attempt) attempt\(attempt == 1 ? "" : "s") in this run; last: \(detailed)")
                return .stop(DeliveryStop(refused: false, error: error, inDoubt: inDoubt))
            }
            return .retry(seconds: delay(afterAttempt: attempt, retryAfter: retryAfter, random: random), reason: detailed)
        }
    }

    /// Seconds to wait before attempt `attempt + 1`: `Retry-After` up to the cap, else full jitter
    /// under a ceiling that doubles per attempt up to the cap.
    public func delay(afterAttempt attempt: Int, retryAfter: Int?, random: any RandomSource) -> Double {
        if let retryAfter { return min(Double(max(0, retryAfter)), cap) }
        let ceiling = min(cap, base * Double(1 << min(max(attempt, 1) - 1, 30)))
        return ceiling * random.nextUnit()
    }

    private func withDetail(_ reason: String, _ exchange: Exchange) -> String {
        guard let error = exchange.error, !reason.contains(error) else { return reason }
        return reason + ": " + error
    }

    /// Plain words for libcurl's codes.
    public static func curlName(_ code: Int32) -> String {
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
