@testable import Delivery
import ExportCore
import Foundation
import Testing

@Suite("Signing and credentials")
struct SigningAndCredentialsTests {
    @Test("Standard Webhooks signature matches the specification's test vector")
    func standardWebhooksVector() throws {
        let key = Array(Data(base64Encoded: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") ?? Data())
        let signature = WebhookSignature.sign(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330,
                                              body: Array(#"{"test": 2432232314}"#.utf8), key: key)
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        // A feed held in pieces is signed as the bytes one after the other.
        let pieces = FeedBytes(parts: [Array(#"{"test": "#.utf8), [], Array("2432232314}".utf8)])
        #expect(WebhookSignature.sign(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, feed: pieces, key: key) == signature)
    }

    func contract(auth: Authentication?, signing: String? = nil) -> Contract {
        Contract(id: "p", name: "P", purpose: "t", consent: ["s"], allow: [], filters: [], format: .json, xsd: nil,
                 delivery: DeliverySettings(url: "https://x.test/", auth: auth, signingSecretEnv: signing), schedule: nil)
    }

    @Test("missing or malformed secrets are errors that name the variable, never a value")
    func credentialErrors() throws {
        let folder = FileManager.default.temporaryDirectory
        #expect { try Credentials.load(for: contract(auth: .bearerTokenEnv("TOKEN")), configDirectory: folder, environment: [:]) }
            throws: { error in (error as? ExportError)?.code == "credentials" && "\(error)".contains("TOKEN") }
        do {
            _ = try Credentials.load(for: contract(auth: nil, signing: "SIG"), configDirectory: folder,
                                     environment: ["SIG": "not-a-webhook-secret-value"])
            Issue.record("a malformed signing secret was accepted")
        } catch {
            #expect("\(error)".contains("SIG"))
            #expect(!"\(error)".contains("not-a-webhook-secret-value"))
        }
        let credentials = try Credentials.load(for: contract(auth: .bearerTokenEnv("TOKEN"), signing: "SIG"), configDirectory: folder,
                                               environment: ["TOKEN": "abc", "SIG": "whsec_" + Data(repeating: 7, count: 24).base64EncodedString()])
        #expect("\(credentials)" == "Credentials(redacted)")
        #expect(credentials.signs)
    }

    @Test("a token file is read and trimmed; an empty one is refused")
    func tokenFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("  secret-token\n".utf8).write(to: folder.appendingPathComponent("token"))
        try Data("\n".utf8).write(to: folder.appendingPathComponent("empty"))
        let loaded = try Credentials.load(for: contract(auth: .bearerTokenFile("token")), configDirectory: folder, environment: [:])
        #expect(loaded.bearerToken == "secret-token", "the value the Authorization header carries, white space trimmed")
        #expect { try Credentials.load(for: contract(auth: .bearerTokenFile("empty")), configDirectory: folder, environment: [:]) }
            throws: { error in (error as? ExportError)?.code == "credentials" && "\(error)".contains("is empty") }
        #expect { try Credentials.load(for: contract(auth: .bearerTokenFile("missing")), configDirectory: folder, environment: [:]) }
            throws: { error in "\(error)".contains("cannot read") }
    }

    @Test("an OAuth2 token answer: a bearer token and its lifetime, or nothing usable; form encoding as RFC 6749 asks")
    func tokenAnswers() {
        let parsed = OAuth2Answer.parse(Array(#"{"access_token":"abc.DEF-123","token_type":"Bearer","expires_in":300}"#.utf8))
        #expect(parsed?.token == "abc.DEF-123" && parsed?.expiresIn == 300)
        #expect(OAuth2Answer.parse(Array(#"{"access_token":"abc","expires_in":"60"}"#.utf8))?.expiresIn == 60)
        #expect(OAuth2Answer.parse(Array(#"{"access_token":"abc"}"#.utf8))?.expiresIn == nil)
        for bad in [#"{"access_token":"a b"}"#, #"{"access_token":"a\r\nX-Evil: 1"}"#, #"{"access_token":""}"#,
                    #"{"access_token":"abc","token_type":"mac"}"#, #"{"token_type":"Bearer"}"#, "[]", "not json", ""] {
            #expect(OAuth2Answer.parse(Array(bad.utf8)) == nil, "\(bad)")
        }
        #expect(OAuth2Answer.errorCode(Array(#"{"error":"invalid_client","error_description":"secret abc"}"#.utf8))
                == "invalid_client")
        #expect(OAuth2Answer.errorCode(Array(#"{"error":"<script>"}"#.utf8)) == nil, "never free text")
        #expect(OAuth2TokenSource.formEncode("a b&c=d/é~") == "a+b%26c%3Dd%2F%C3%A9%7E")
    }
}
