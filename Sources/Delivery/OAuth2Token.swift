import CCurl
import ExportCore
import Foundation

/// An OAuth 2.0 access token for one partner's HTTPS client, from its token endpoint (client
/// credentials grant, RFC 6749 §4.4). The token lives in this object's memory only: it is never
/// logged, stored, recorded or put in a report; neither is the client secret.
///
/// A token is fetched before the first request that needs one and renewed when its lifetime is
/// nearly over (`expires_in` less 60 s, or less half of it when it is shorter than two minutes), or
/// after the partner refused it (``invalidate()``).
final class OAuth2TokenSource {
    /// How much of the token endpoint's answer is read (a token answer is a few hundred bytes).
    static let answerLimit = 64 * 1024

    private let client: OAuth2Client
    private let secret: String
    private let handle: CurlHandle
    private var token: String?
    /// When the token must be renewed (monotonic nanoseconds); nil: only when refused.
    private var renewAt: UInt64?

    /// `configure` applies the contract's TLS settings (CA file, client certificate) to the handle.
    init(client: OAuth2Client, secret: String, timeoutSeconds: Int, configure: (CurlHandle) throws -> Void) throws {
        self.client = client
        self.secret = secret
        handle = try CurlHandle()
        try configure(handle)
        try handle.set(CURLOPT_URL, client.tokenURL)
        try handle.set(CURLOPT_TIMEOUT, timeoutSeconds)
        try handle.set(CURLOPT_POST, 1)
        if client.clientAuth == .basic {
            // RFC 6749 §2.3.1: the id and secret are form-encoded, then used as Basic credentials.
            try handle.set(CURLOPT_HTTPAUTH, pe_curlauth_basic())
            try handle.set(CURLOPT_USERNAME, Self.formEncode(client.clientID))
            try handle.set(CURLOPT_PASSWORD, Self.formEncode(secret))
        }
    }

    /// Drops the token: the next request fetches a new one.
    func invalidate() {
        token = nil
        renewAt = nil
    }

    /// The token to send, fetched now if there is none or it is due for renewal; `fresh` when it was.
    func current() -> Result<(token: String, fresh: Bool), TokenFailure> {
        let now = DispatchTime.now().uptimeNanoseconds
        if let token, renewAt.map({ now < $0 }) ?? true { return .success((token, false)) }
        invalidate()
        switch fetch() {
        case .success(let answer):
            token = answer.token
            if let lifetime = answer.expiresIn {
                let margin = min(60, lifetime / 2)
                renewAt = now + UInt64(max(0, lifetime - margin)) * 1_000_000_000
            }
            return .success((answer.token, true))
        case .failure(let failure):
            return .failure(failure)
        }
    }

    struct TokenFailure: Error {
        let problem: TokenProblem
        let curlCode: Int32
    }

    private var endpoint: String { "the token endpoint \(client.tokenURL)" }
    private var check: String {
        "check " + Authentication.oauth2(client).secretDescription + " and the client's registration at the partner"
    }

    /// One request to the token endpoint.
    private func fetch() -> Result<(token: String, expiresIn: Int?), TokenFailure> {
        var form = [("grant_type", "client_credentials")]
        if client.clientAuth == .post { form += [("client_id", client.clientID), ("client_secret", secret)] }
        if let scope = client.scope { form.append(("scope", scope)) }
        if let audience = client.audience { form.append(("audience", audience)) }
        let body = form.map { "\($0.0)=\(Self.formEncode($0.1))" }.joined(separator: "&")
        let headers = CurlHeaders(["Content-Type: application/x-www-form-urlencoded", "Accept: application/json", "Expect:"])
        let sink = AnswerSink(limit: Self.answerLimit)
        do {
            try handle.set(CURLOPT_COPYPOSTFIELDS, body)
            try handle.set(CURLOPT_HTTPHEADER, pointer: UnsafeMutableRawPointer(headers.list))
            try handle.set(CURLOPT_WRITEDATA, pointer: Unmanaged.passUnretained(sink).toOpaque())
        } catch {
            return .failure(TokenFailure(problem: .refused("\(endpoint) could not be asked: \(error)"), curlCode: -1))
        }
        _ = pe_curl_setopt_data_callback(handle.raw, CURLOPT_WRITEFUNCTION) { buffer, size, count, userdata in
            guard let buffer, let userdata else { return 0 }
            Unmanaged<AnswerSink>.fromOpaque(userdata).takeUnretainedValue().take(buffer, size * count)
            return size * count
        }
        handle.errorBuffer.pointee = 0
        let code = withExtendedLifetime((headers, sink)) { curl_easy_perform(handle.raw) }
        // The form held the secret (client_secret_post): libcurl's copy goes now, not with the handle.
        _ = try? handle.set(CURLOPT_COPYPOSTFIELDS, "")
        _ = try? handle.set(CURLOPT_HTTPHEADER, pointer: nil)
        let status = handle.info(CURLINFO_RESPONSE_CODE)
        let retryAfter = handle.info(offset: CURLINFO_RETRY_AFTER)
        guard code == CURLE_OK, status >= 200 else {
            let curl = Int32(code.rawValue)
            let reason = "\(endpoint): \(RetryPolicy.curlName(curl)) (curl \(curl)): \(handle.message(code))"
            let problem: TokenProblem = RetryPolicy.trustCodes.contains(curl) ? .untrusted(reason)
                : RetryPolicy.setUpCodes.contains(curl) ? .refused(reason) : .unavailable(reason, retryAfter: nil)
            return .failure(TokenFailure(problem: problem, curlCode: curl))
        }
        let answer = sink.prefix
        switch status {
        case 200...299:
            guard let parsed = OAuth2Answer.parse(answer) else {
                return .failure(TokenFailure(problem: .refused("\(endpoint) answered HTTP \(status) without a usable bearer access "
                                                               + "token (access_token, token_type bearer)"), curlCode: 0))
            }
            return .success(parsed)
        case 408, 425, 429, 500...599:
            return .failure(TokenFailure(problem: .unavailable("\(endpoint) answered HTTP \(status)",
                                                               retryAfter: retryAfter > 0 ? Int(clamping: retryAfter) : nil), curlCode: 0))
        default:
            let oauthError = OAuth2Answer.errorCode(answer).map { " (\($0))" } ?? ""
            return .failure(TokenFailure(problem: .refused("\(endpoint) refused the client \(client.clientID): HTTP \(status)"
                                                           + "\(oauthError); \(check)"), curlCode: 0))
        }
    }

    /// `application/x-www-form-urlencoded` (unreserved characters kept, space as `+`).
    static func formEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x2A: out.unicodeScalars.append(Unicode.Scalar(byte))
            case 0x20: out += "+"
            default: out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
