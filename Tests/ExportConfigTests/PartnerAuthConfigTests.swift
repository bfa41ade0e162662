import ExportConfig
import ExportCore
import Foundation
import TestSupport
import Testing

/// `delivery.auth.oauth2` and `delivery.auth.api_key` (DESIGN §11): what loads, and what is refused with its line.
@Suite("Contract keys: OAuth2 client credentials and API keys")
struct PartnerAuthConfigTests {
    static let bearer = "  auth:\n    bearer_token_env: ACME_TOKEN"

    func contract(_ auth: String) -> String { baseContract.replacingOccurrences(of: Self.bearer, with: auth) }

    @Test("an OAuth2 client and an API key load with every key")
    func loads() throws {
        let oauth = contract("""
              auth:
                oauth2:
                  token_url: https://auth.acme.example/oauth/token
                  client_id: cyrus-export
                  client_secret_env: ACME_CLIENT_SECRET
                  scope: feeds.write
                  audience: https://feeds.acme.example
                  client_auth: post
            """)
        let loaded = try load(partners: ["acme": oauth])
        #expect(loaded.problems.isEmpty, "\(loaded.problems)")
        let client = OAuth2Client(tokenURL: "https://auth.acme.example/oauth/token", clientID: "cyrus-export",
                                  secret: .env("ACME_CLIENT_SECRET"), scope: "feeds.write", audience: "https://feeds.acme.example",
                                  clientAuth: .post)
        #expect(loaded.configuration.partner("acme")?.contract.delivery.auth == .oauth2(client))

        let fileSecret = contract("  auth: {oauth2: {token_url: 'https://auth.acme.example/t', client_id: c, client_secret_file: s.txt}}")
        let defaults = try load(partners: ["acme": fileSecret])
        #expect(defaults.configuration.partner("acme")?.contract.delivery.auth
                == .oauth2(OAuth2Client(tokenURL: "https://auth.acme.example/t", clientID: "c", secret: .file("s.txt"))),
                "client_auth defaults to basic: \(defaults.problems)")

        let key = try load(partners: ["acme": contract("  auth: {api_key: {header: X-Api-Key, env: ACME_API_KEY}}")])
        #expect(key.configuration.partner("acme")?.contract.delivery.auth == .apiKey(header: "X-Api-Key", secret: .env("ACME_API_KEY")))
    }

    @Test("a token URL that is not https, a secret named twice or not at all, an unknown client_auth: each at its line")
    func refused() throws {
        let cases: [(String, String, String)] = [
            ("  auth: {oauth2: {token_url: 'http://auth.acme.example/t', client_id: c, client_secret_env: S}}",
             "token_url", "delivery.auth.oauth2.token_url must be an https:// URL"),
            ("  auth: {oauth2: {token_url: 'https://a.example/t', client_id: c, client_secret_env: S, client_secret_file: f}}",
             "oauth2", "give exactly one"),
            ("  auth: {oauth2: {token_url: 'https://a.example/t', client_id: c}}", "oauth2", "client_secret_env or client_secret_file"),
            ("  auth: {oauth2: {token_url: 'https://a.example/t', client_id: c, client_secret_env: S, client_auth: jwt}}",
             "client_auth", "must be basic"),
            ("  auth: {oauth2: {token_url: 'https://a.example/t', client_id: c, client_secret_env: S, scopes: x}}",
             "scopes", "did you mean 'scope'"),
            ("  auth: {api_key: {header: 'X Api', env: K}}", "api_key", "not a valid HTTP header name"),
            ("  auth: {api_key: {header: Idempotency-Key, env: K}}", "api_key", "set by partner-export itself"),
            ("  auth: {api_key: {header: X-Api-Key}}", "api_key", "env or file: give exactly one"),
            ("  auth: {api_key: {header: X-Api-Key, env: K}, bearer_token_env: T}", "auth", "exactly one of"),
        ]
        for (auth, key, words) in cases {
            let text = contract(auth)
            expectProblem(try load(partners: ["acme": text]), file: "partners/acme.yaml", line: line(of: key, in: text), words)
        }
    }

    @Test("a client secret or an API key written inline is refused and never echoed")
    func inline() throws {
        let secret = "cs_Inline_Pangolin_4242"
        for auth in ["  auth: {oauth2: {token_url: 'https://a.example/t', client_id: c, client_secret: \(secret)}}",
                     "  auth: {api_key: \(secret)}",
                     "  auth: {oauth2: {token_url: 'https://a.example/t', client_id: c, client_secret_env: \(secret)}}"] {
            let result = try load(partners: ["acme": contract(auth)])
            #expect(result.configuration.partner("acme") == nil)
            #expect(result.problems.contains { $0.message.contains("secret") || $0.message.contains("environment variable") },
                    "\(result.problems)")
            for problem in result.problems { #expect(!problem.description.contains(secret), "echoed: \(problem)") }
        }
        let header = baseContract.replacingOccurrences(of: "  batch: {max_records: 100}",
                                                       with: "  batch: {max_records: 100}\n  headers: {X-Api-Key: \(secret)}")
        let problem = expectProblem(try load(partners: ["acme": header]), file: "partners/acme.yaml",
                                    line: line(of: "X-Api-Key", in: header), "api_key {header: X-Api-Key, env: VARIABLE}")
        #expect(problem.map { !$0.description.contains(secret) } ?? false)
    }

    @Test("rate_limit.requests_per_minute and max_retry_after_seconds load; out of range or without the rate, each at its line")
    func pace() throws {
        let paced = baseContract.replacingOccurrences(of: "  batch: {max_records: 100}",
                                                      with: "  batch: {max_records: 100}\n  rate_limit: {requests_per_minute: 120}\n"
                                                        + "  max_retry_after_seconds: 600")
        let loaded = try load(partners: ["acme": paced])
        #expect(loaded.problems.isEmpty, "\(loaded.problems)")
        #expect(loaded.configuration.partner("acme")?.contract.delivery.requestsPerMinute == 120)
        #expect(loaded.configuration.partner("acme")?.contract.delivery.maxRetryAfterSeconds == 600)
        for (added, words, total) in [("  rate_limit: {requests_per_minute: 0}", "requests_per_minute", 1),
                                      ("  rate_limit: {}", "needs requests_per_minute", 1),
                                      // the unknown key, and the rate it does not give
                                      ("  rate_limit: {requests_per_second: 2}", "did you mean 'requests_per_minute'", 2),
                                      ("  max_retry_after_seconds: 0", "max_retry_after_seconds", 1)] {
            let text = baseContract.replacingOccurrences(of: "  batch: {max_records: 100}", with: "  batch: {max_records: 100}\n" + added)
            expectProblem(try load(partners: ["acme": text]), file: "partners/acme.yaml",
                          line: line(of: String(added.dropFirst(2).prefix(10)), in: text), words, of: total)
        }
    }
}
