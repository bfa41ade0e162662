import ExportCore
import Foundation

/// A partner's secrets, read from the environment or files named by its contract.
///
/// Never printed: `description` is redacted, and errors name the variable or file, never a value.
public struct Credentials: Sendable, CustomStringConvertible {
    let bearerToken: String?
    let basicUser: String?
    let basicPassword: String?
    /// The decoded key of a Standard Webhooks secret (`whsec_<base64>`).
    let signingKey: [UInt8]?
    /// The passphrase of an encrypted client key.
    let clientKeyPassword: String?
    /// `auth.api_key`: the header and the key it carries.
    let apiKey: (header: String, value: String)?
    /// `auth.oauth2`: the client and its secret (the token is fetched at run time, kept in memory only).
    let oauth2: (client: OAuth2Client, secret: String)?

    public var description: String { "Credentials(redacted)" }

    public var signs: Bool { signingKey != nil }

    /// Loads what `contract` names. Missing or malformed secrets are errors naming where they should be.
    public static func load(for contract: Contract, configDirectory: URL,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Credentials {
        let delivery = contract.delivery
        func variable(_ name: String, _ role: String) throws -> String {
            guard let value = environment[name], !value.isEmpty else {
                throw ExportError.credentials("partner \(contract.id): the \(role) is missing: set the environment variable \(name)")
            }
            return value
        }
        func file(_ path: String, _ role: String) throws -> String {
            let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : configDirectory.appendingPathComponent(path)
            guard let data = FileManager.default.contents(atPath: url.path), let text = String(data: data, encoding: .utf8) else {
                throw ExportError.credentials("partner \(contract.id): cannot read the \(role) file \(url.path)")
            }
            let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !value.isEmpty else { throw ExportError.credentials("partner \(contract.id): the \(role) file \(url.path) is empty") }
            return value
        }
        func secret(_ source: SecretSource, _ role: String) throws -> String {
            switch source {
            case .env(let name): try variable(name, role)
            case .file(let path): try file(path, role)
            }
        }
        var token: String?
        var user: String?
        var password: String?
        var apiKey: (header: String, value: String)?
        var oauth2: (client: OAuth2Client, secret: String)?
        switch delivery.auth {
        case .apiKey(let header, let source)?: apiKey = (header, try secret(source, "API key"))
        case .oauth2(let client)?: oauth2 = (client, try secret(client.secret, "OAuth2 client secret"))
        case .bearerTokenEnv(let name)?: token = try variable(name, "bearer token")
        case .bearerTokenFile(let path)?: token = try file(path, "bearer token")
        case .basicPasswordEnv(let u, let name)?: (user, password) = (u, try variable(name, "basic-auth password"))
        case .basicPasswordFile(let u, let path)?: (user, password) = (u, try file(path, "basic-auth password"))
        case nil: break
        }
        for (value, role) in [(token, "bearer token"), (apiKey?.value, "API key"), (oauth2?.secret, "OAuth2 client secret")] {
            if let value, value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                throw ExportError.credentials("partner \(contract.id): the \(role) holds control characters (a line break?)")
            }
        }
        var key: [UInt8]?
        if let name = delivery.signingSecretEnv {
            let secret = try variable(name, "signing secret")
            guard secret.hasPrefix("whsec_"), let decoded = Data(base64Encoded: String(secret.dropFirst(6))), decoded.count >= 16 else {
                throw ExportError.credentials("partner \(contract.id): the signing secret in \(name) must be 'whsec_' and the "
                                                + "base64 of at least 16 bytes (Standard Webhooks)")
            }
            key = Array(decoded)
        }
        let keyPassword = try delivery.clientKeyPasswordEnv.map { try variable($0, "client key passphrase") }
        return Credentials(bearerToken: token, basicUser: user, basicPassword: password, signingKey: key,
                           clientKeyPassword: keyPassword, apiKey: apiKey, oauth2: oauth2)
    }
}
