import ExportCore
import Testing

@Suite("Retry policy")
struct RetryPolicyTests {
    let policy = RetryPolicy(baseSeconds: 1, capSeconds: 120)

    @Test("2xx is delivered", arguments: [200, 201, 202, 204, 299])
    func success(_ status: Int) {
        #expect(policy.decide(status: status, curlCode: 0, retryAfter: nil) == .delivered)
    }

    @Test("408, 425, 429 and 5xx except 501 are retried", arguments: [408, 425, 429, 500, 502, 503, 504, 599])
    func retried(_ status: Int) {
        guard case .retry = policy.decide(status: status, curlCode: 0, retryAfter: nil) else {
            Issue.record("\(status) not retried")
            return
        }
    }

    @Test("other 4xx, 3xx and 501 are rejected", arguments: [301, 302, 307, 308, 400, 401, 403, 404, 409, 413, 422, 501])
    func rejected(_ status: Int) {
        guard case .rejected = policy.decide(status: status, curlCode: 0, retryAfter: nil) else {
            Issue.record("\(status) not rejected")
            return
        }
    }

    @Test("connection errors and timeouts are retried; trust and set-up problems fail at once")
    func curlCodes() {
        for code: Int32 in [6, 7, 18, 28, 35, 52, 55, 56] {
            guard case .retry = policy.decide(status: nil, curlCode: code, retryAfter: nil) else {
                Issue.record("curl \(code) not retried")
                continue
            }
        }
        for code: Int32 in [1, 58, 60, 77, 90] {
            guard case .failed = policy.decide(status: nil, curlCode: code, retryAfter: nil) else {
                Issue.record("curl \(code) retried")
                continue
            }
        }
    }

    @Test("Retry-After is honoured up to the cap; beyond it, the delivery fails for this run")
    func retryAfter() {
        #expect(policy.decide(status: 429, curlCode: 0, retryAfter: 7) == .retry(reason: "HTTP 429", after: 7))
        #expect(policy.delay(afterAttempt: 1, retryAfter: 7, random: { 0.5 }) == 7)
        guard case .failed = policy.decide(status: 503, curlCode: 0, retryAfter: 3600) else {
            Issue.record("a one-hour Retry-After was not refused")
            return
        }
    }

    @Test("backoff is exponential with full jitter, capped")
    func backoff() {
        #expect(policy.delay(afterAttempt: 1, retryAfter: nil, random: { 0.999 }) < 1)
        #expect(policy.delay(afterAttempt: 4, retryAfter: nil, random: { 0.5 }) == 4)
        #expect(policy.delay(afterAttempt: 4, retryAfter: nil, random: { 0 }) == 0)
        #expect(policy.delay(afterAttempt: 30, retryAfter: nil, random: { 1 }) == 120)
    }
}
