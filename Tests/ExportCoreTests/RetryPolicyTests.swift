import ExportCore
import Testing

/// Always the same number in 0..<1.
final class FixedRandom: RandomSource, @unchecked Sendable {
    let value: Double
    init(_ value: Double) { self.value = value }
    func nextUnit() -> Double { value }
}

@Suite("Retry policy")
struct RetryPolicyTests {
    let policy = RetryPolicy(baseSeconds: 1, capSeconds: 120, maxAttempts: 5)

    func answer(_ status: Int?, curl: Int32 = 0, retryAfter: Int? = nil, sent: Bool = true) -> Exchange {
        Exchange(status: status, curlCode: curl, retryAfter: retryAfter, requestSent: sent)
    }

    @Test("2xx is an acknowledgement, even when the rest of the answer is cut off", arguments: [200, 201, 202, 204, 299])
    func success(_ status: Int) {
        #expect(policy.classify(answer(status)) == .acknowledged)
        #expect(policy.classify(answer(status, curl: 18)) == .acknowledged)
        #expect(policy.classify(answer(status, curl: 28)) == .acknowledged)
    }

    @Test("408, 425, 429 and 5xx except 501 are retried", arguments: [408, 425, 429, 500, 502, 503, 504, 599])
    func retried(_ status: Int) {
        #expect(policy.classify(answer(status)) == .retryable(reason: "HTTP \(status)", retryAfter: nil))
    }

    @Test("other 4xx, 3xx and 501 are refused", arguments: [301, 302, 307, 308, 400, 401, 403, 404, 409, 413, 422, 501])
    func rejected(_ status: Int) {
        guard case .refused = policy.classify(answer(status)) else {
            Issue.record("\(status) not refused")
            return
        }
    }

    @Test("connection errors and timeouts are retried; trust and set-up problems are hopeless at once")
    func curlCodes() {
        for code: Int32 in [6, 7, 18, 28, 35, 52, 55, 56] {
            guard case .retryable = policy.classify(answer(nil, curl: code)) else {
                Issue.record("curl \(code) not retried")
                continue
            }
        }
        // The partner's TLS alert about our certificate (TLS 1.3 sends it after the handshake): not retried, not in doubt.
        let refusal = Exchange(status: nil, curlCode: 56, error: "OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert "
                               + "certificate required, errno 0", retryAfter: nil, requestSent: true)
        guard case .hopeless(let refused) = policy.classify(refusal), refused.code == "delivery.setup" else {
            Issue.record("a refused client certificate is retried")
            return
        }
        #expect(!policy.leftInDoubt(refusal))
        for (code, errorCode): (Int32, String) in [(1, "delivery.setup"), (58, "delivery.setup"), (60, "delivery.tls"),
                                                   (77, "delivery.setup"), (90, "delivery.tls")] {
            guard case .hopeless(let error) = policy.classify(answer(nil, curl: code)) else {
                Issue.record("curl \(code) retried")
                continue
            }
            #expect(error.code == errorCode)
        }
    }

    @Test("Retry-After is honoured up to the cap; beyond it, the delivery fails for this run")
    func retryAfter() {
        #expect(policy.classify(answer(429, retryAfter: 7)) == .retryable(reason: "HTTP 429", retryAfter: 7))
        #expect(policy.delay(afterAttempt: 1, retryAfter: 7, random: FixedRandom(0.5)) == 7)
        guard case .hopeless(let error) = policy.classify(answer(503, retryAfter: 3600)) else {
            Issue.record("a one-hour Retry-After was not refused")
            return
        }
        #expect(error.code == "delivery.retry_after_too_long")
    }

    @Test("backoff is exponential with full jitter, capped")
    func backoff() {
        #expect(policy.delay(afterAttempt: 1, retryAfter: nil, random: FixedRandom(0.999)) < 1)
        #expect(policy.delay(afterAttempt: 4, retryAfter: nil, random: FixedRandom(0.5)) == 4)
        #expect(policy.delay(afterAttempt: 4, retryAfter: nil, random: FixedRandom(0)) == 0)
        #expect(policy.delay(afterAttempt: 30, retryAfter: nil, random: FixedRandom(0.999_999)) < 120)
        #expect(policy.delay(afterAttempt: 30, retryAfter: nil, random: FixedRandom(0.5)) == 60)
    }

    @Test("the budget: the last attempt that may be retried stops the delivery as exhausted, not as a retry")
    func budget() {
        let random = FixedRandom(0.5)
        for attempt in 1..<5 {
            guard case .retry = policy.verdict(after: answer(503), attempt: attempt, wasInDoubt: false, random: random) else {
                Issue.record("attempt \(attempt) not retried")
                return
            }
        }
        guard case .stop(let stop) = policy.verdict(after: answer(503), attempt: 5, wasInDoubt: false, random: random) else {
            Issue.record("the fifth attempt was retried")
            return
        }
        #expect(!stop.refused && stop.error.code == "delivery.exhausted" && !stop.inDoubt)
        #expect(stop.error.message.contains("5 attempts") && stop.error.message.contains("HTTP 503"))
    }

    @Test("in doubt: a request that may have been read without a definite answer; a refusal clears it, an acknowledgement ends it")
    func inDoubt() {
        let random = FixedRandom(0)
        #expect(policy.leftInDoubt(answer(nil, curl: 28)))
        #expect(!policy.leftInDoubt(answer(nil, curl: 7, sent: false)), "nothing left: a connection that was never made")
        #expect(!policy.leftInDoubt(answer(503)), "a status is a definite answer")
        for informational in [100, 101, 102, 103] {
            #expect(policy.leftInDoubt(answer(informational, curl: 52)), "a \(informational) alone is no answer")
            guard case .retryable = policy.classify(answer(informational, curl: 52)) else {
                Issue.record("a \(informational) then nothing is retried like a dropped connection")
                continue
            }
        }
        guard case .stop(let exhausted) = policy.with(maxAttempts: 1).verdict(after: answer(nil, curl: 52), attempt: 1,
                                                                            wasInDoubt: false, random: random) else {
            Issue.record("not stopped")
            return
        }
        #expect(exhausted.inDoubt)
        guard case .stop(let later) = policy.verdict(after: answer(503), attempt: 5, wasInDoubt: true, random: random) else {
            Issue.record("not stopped")
            return
        }
        #expect(later.inDoubt, "a later 503 does not prove the earlier request was not read")
        guard case .stop(let refused) = policy.verdict(after: answer(400), attempt: 2, wasInDoubt: true, random: random) else {
            Issue.record("not stopped")
            return
        }
        #expect(refused.refused && !refused.inDoubt)
        #expect(policy.verdict(after: answer(200, curl: 18), attempt: 1, wasInDoubt: true, random: random) == .delivered)
    }

    @Test("the seeded source gives the same jitter every time, and numbers in 0..<1")
    func seeded() {
        let a = SeededRandomSource(seed: 42)
        let b = SeededRandomSource(seed: 42)
        let first = (0..<100).map { _ in a.nextUnit() }
        #expect(first == (0..<100).map { _ in b.nextUnit() })
        #expect(first.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(Set(first).count > 90)
    }

    @Test("OAuth2: a refusing token endpoint is delivery.auth at once; one that is down is retried, never in doubt; a 401 to a reused token once")
    func tokens() {
        let refused = Exchange(status: 401, requestSent: false, tokenProblem: .refused("the token endpoint refused the client"))
        guard case .stop(let stop) = policy.verdict(after: refused, attempt: 1, wasInDoubt: false, random: FixedRandom(0.5)) else {
            Issue.record("a refusing token endpoint must stop the delivery")
            return
        }
        #expect(stop.error.code == "delivery.auth" && !stop.refused && !stop.inDoubt)
        let down = Exchange(status: nil, curlCode: 7, requestSent: false, tokenProblem: .unavailable("down", retryAfter: 3))
        #expect(policy.verdict(after: down, attempt: 1, wasInDoubt: false, random: FixedRandom(0.5)) == .retry(seconds: 3, reason: "down"))
        #expect(!policy.leftInDoubt(down))
        let long = Exchange(status: 503, requestSent: false, tokenProblem: .unavailable("down", retryAfter: 3600))
        #expect(policy.classify(long) == .hopeless(.deliveryRefusedWait(
            "down: the token endpoint asked to wait 3600 s, longer than the 120 s cap; rerun later")))
        let untrusted = Exchange(status: nil, curlCode: 60, requestSent: false, tokenProblem: .untrusted("certificate"))
        if case .hopeless(let error) = policy.classify(untrusted) { #expect(error.code == "delivery.tls") } else {
            Issue.record("an untrusted token endpoint is a TLS problem, not the client's secret")
        }
        let renewed = Exchange(status: 401, tokenRenewed: true)
        guard case .retry(let seconds, _) = policy.verdict(after: renewed, attempt: 1, wasInDoubt: false, random: FixedRandom(0.5)) else {
            Issue.record("a 401 to a reused token is tried again with a new one")
            return
        }
        #expect(seconds == 0)
        #expect(policy.classify(Exchange(status: 401)) == .refused(reason: "HTTP 401"), "a 401 to a fresh token is the answer")
    }
}
