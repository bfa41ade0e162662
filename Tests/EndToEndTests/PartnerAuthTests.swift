import Foundation
import TestSupport
import Testing

/// OAuth2 client credentials and API keys against the sandbox's token endpoint and routes, over real TLS.
@Suite("Partner authentication: OAuth2 and API keys")
struct PartnerAuthTests {
    static let clientSecret = "cs_Pangolin_Quasar_31337"
    static let apiKey = "ak_Tapir_Marmalade_8080"
    static let bearer = "auth: {bearer_token_env: ACME_TOKEN}"

    /// The fixture's routes with `/feeds/acme` behind the token endpoint `/oauth/token`.
    static func routes(lifetime: Int = 3600, clientAuth: String? = nil, feedFaults: [[String: Any]] = [],
                       tokenFaults: [[String: Any]] = []) -> [String: Any] {
        var routes = DeliveryFixture.routes()
        routes["/feeds/acme"] = ["oauth2_token_path": "/oauth/token", "signing_secret_env": "ACME_SIGNING_SECRET",
                                 "faults": feedFaults]
        var endpoint: [String: Any] = ["client_id": "cyrus-export", "client_secret_env": "SANDBOX_CLIENT_SECRET",
                                       "expires_in": lifetime, "scope": "feeds.write"]
        endpoint["client_auth"] = clientAuth
        routes["/oauth/token"] = ["token_endpoint": endpoint, "faults": tokenFaults]
        return routes
    }

    static func sandbox(_ routes: [String: Any]) throws -> Sandbox {
        try Sandbox(routes: routes, environment: DeliveryFixture.secrets.merging(["SANDBOX_CLIENT_SECRET": clientSecret]) { $1 })
    }

    /// Points the fixture's JSON partner at the token endpoint.
    static func useOAuth2(_ fixture: DeliveryFixture, _ sandbox: Sandbox, clientAuth: String = "basic") throws {
        try fixture.edit(fixture.acmeContract, replacing: bearer, with: """
            auth:
                oauth2:
                  token_url: '\(sandbox.url("/oauth/token"))'
                  client_id: cyrus-export
                  client_secret_env: ACME_CLIENT_SECRET
                  scope: feeds.write
                  client_auth: \(clientAuth)
            """)
    }

    /// The customers whose records the partner acknowledged (its `ref` field, unpseudonymised).
    static func held(_ sandbox: Sandbox, path: String = "/feeds/acme") throws -> Set<Int64> {
        let refs = Dictionary(uniqueKeysWithValues: (1...200).map { (DeliveryFixture.acmeRef(Int64($0)), Int64($0)) })
        var held = Set<Int64>()
        for request in sandbox.requests() where request.path == path && request.acknowledged {
            let body = try #require(request.body)
            let object = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
            for record in object["records"] as? [[String: Any]] ?? [] {
                if let ref = record["ref"] as? String, let id = refs[ref] { held.insert(id) }
            }
        }
        return held
    }

    @Test("a token that expires and one revoked mid-run are renewed; the feed completes; the secret and the tokens appear nowhere")
    func renewedMidRun() throws {
        // Tokens live 2 s (renewed after 1 s); the second request stalls past that; the fifth finds every token revoked.
        let sandbox = try Self.sandbox(Self.routes(lifetime: 2, feedFaults: [[:], ["stall": 1.2], [:], [:], ["revoke_tokens": true]]))
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 30, maxRecords: 5)
        try Self.useOAuth2(fixture, sandbox)
        let secret = ["ACME_CLIENT_SECRET": Self.clientSecret, "PARTNER_EXPORT_LOG_LEVEL": "trace"]
        let run = try fixture.run(["run", "acme"], extra: secret)
        #expect(run.status == 0, "\(run.output)")
        #expect(try Self.held(sandbox) == Set(1...30), "the partner holds the whole feed")

        let feed = sandbox.requests().filter { $0.path == "/feeds/acme" }
        let tokens = sandbox.requests().filter { $0.path == "/oauth/token" }
        #expect(feed.filter { $0.status == 401 }.count == 1, "one 401, to the revoked token: \(feed.map(\.status))")
        #expect(feed.count == 7, "six batches and the one resent after the 401")
        #expect(tokens.count >= 3, "first token, renewed after its lifetime, renewed after the 401: \(tokens.count)")
        #expect(tokens.allSatisfy { $0.status == 200 })
        let renewed = try fixture.query("SELECT count(*) FROM attempts WHERE http_status = 401")
        #expect(renewed.first?[0] == "1", "the 401 is an attempt on record")

        // Nothing of the secret or of any token anywhere on our side.
        var outputs = [run.output]
        for arguments in [["deliveries", "--json", "--show-answers"], ["runs", "--json"], ["run", "acme", "--json"]] {
            outputs.append(try fixture.run(arguments, extra: secret).output)
        }
        let issued = try String(contentsOf: sandbox.folder.appendingPathComponent("issued-tokens.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        #expect(issued.count >= 4, "the scan has tokens to look for")
        let files = TestFiles.files(under: fixture.stateFolder)
        #expect(files.contains { $0.hasSuffix(".prom") } && files.contains { $0.hasSuffix(".json") }, "metrics and payloads scanned")
        for needle in issued + [Self.clientSecret] {
            for output in outputs { #expect(!output.contains(needle), "a secret or token in the output") }
            for file in files {
                #expect(try Data(contentsOf: URL(fileURLWithPath: file)).range(of: Data(needle.utf8)) == nil, "a secret or token in \(file)")
            }
            for row in try fixture.query("SELECT coalesce(error, '') FROM attempts") {
                #expect(!(row[0] ?? "").contains(needle), "a secret or token in the ledger")
            }
        }
    }

    @Test("a token endpoint that refuses the client fails that partner alone (delivery.auth), names the variable; a rotated secret and rerun complete it")
    func refusedClient() throws {
        let sandbox = try Self.sandbox(Self.routes(clientAuth: "post"))
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 12, maxRecords: 5, globex: true)
        try Self.useOAuth2(fixture, sandbox, clientAuth: "post")
        let revoked = "cs_Revoked_Armadillo_0000"
        let run = try fixture.run(["run", "--all", "--json"], extra: ["ACME_CLIENT_SECRET": revoked])
        #expect(run.status == 1, "\(run.output)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let partners = try #require(report["partners"] as? [[String: Any]])
        let acme = try #require(partners.first { $0["partner"] as? String == "acme" })
        let globex = try #require(partners.first { $0["partner"] as? String == "globex" })
        let error = try #require(acme["error"] as? [String: Any], "\(acme)")
        #expect(error["code"] as? String == "delivery.auth")
        let message = error["message"] as? String ?? ""
        #expect(message.contains("ACME_CLIENT_SECRET") && message.contains("client_secret_env") && message.contains("HTTP 401")
                && message.contains("invalid_client"), "\(message)")
        #expect(globex["status"] as? String == "delivered", "the other partner runs: \(globex)")
        #expect(!run.output.contains(revoked) && !run.output.contains(Self.clientSecret))
        #expect(sandbox.requests().filter { $0.path == "/feeds/acme" }.isEmpty, "no request without a token")
        #expect(sandbox.requests().filter { $0.path == "/oauth/token" }.allSatisfy { $0.status == 401 })

        let owed = try fixture.run(["deliveries", "--failed"])
        #expect(owed.stdout.contains("acme"), "what the partner is owed stays listed: \(owed.output)")
        let rerun = try fixture.run(["rerun", "--failed"], extra: ["ACME_CLIENT_SECRET": Self.clientSecret])
        #expect(rerun.status == 0, "\(rerun.output)")
        #expect(try Self.held(sandbox) == Set(1...12))
    }

    @Test("a token endpoint that is down is retried like a delivery (nothing goes to the feed without a token)")
    func endpointDown() throws {
        let sandbox = try Self.sandbox(Self.routes(tokenFaults: [["status": 503], ["status": 503, "retry_after": 0]]))
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 8, maxRecords: 5)
        try Self.useOAuth2(fixture, sandbox)
        let run = try fixture.run(["run", "acme"], extra: ["ACME_CLIENT_SECRET": Self.clientSecret])
        #expect(run.status == 0, "\(run.output)")
        #expect(try Self.held(sandbox) == Set(1...8))
        let attempts = try fixture.query("SELECT number, http_status, error FROM attempts ORDER BY delivery, number")
        #expect(attempts.count == 4, "two attempts stopped at the token endpoint, then one per batch: \(attempts)")
        #expect(attempts.prefix(2).allSatisfy { ($0[2] ?? "").contains("token endpoint") && ($0[2] ?? "").contains("HTTP 503") },
                "\(attempts)")
        #expect(sandbox.requests().filter { $0.path == "/feeds/acme" }.count == 2)
    }

    @Test("an API key goes in the header the contract names; a wrong one is refused with a hint naming the variable")
    func apiKey() throws {
        var routes = DeliveryFixture.routes()
        routes["/feeds/acme"] = ["api_key_header": "X-Api-Key", "api_key_env": "SANDBOX_API_KEY",
                                 "signing_secret_env": "ACME_SIGNING_SECRET"]
        let sandbox = try Sandbox(routes: routes, environment: DeliveryFixture.secrets.merging(["SANDBOX_API_KEY": Self.apiKey]) { $1 })
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 8, maxRecords: 5)
        try fixture.edit(fixture.acmeContract, replacing: Self.bearer, with: "auth: {api_key: {header: X-Api-Key, env: ACME_API_KEY}}")
        let wrong = try fixture.run(["run", "acme"], extra: ["ACME_API_KEY": "ak_wrong"])
        #expect(wrong.status == 1)
        #expect(wrong.output.contains("ACME_API_KEY (api_key.env)"), "\(wrong.output)")
        let run = try fixture.run(["rerun", "--failed"], extra: ["ACME_API_KEY": Self.apiKey])
        #expect(run.status == 0, "\(run.output)")
        #expect(try Self.held(sandbox) == Set(1...8))
        #expect(sandbox.requests().allSatisfy { $0.headers["x-api-key"] == nil || $0.headers["x-api-key"] == "<redacted>" })
        let files = TestFiles.files(under: fixture.stateFolder)
        for file in files {
            #expect(try Data(contentsOf: URL(fileURLWithPath: file)).range(of: Data(Self.apiKey.utf8)) == nil, "the key in \(file)")
        }
    }
}
