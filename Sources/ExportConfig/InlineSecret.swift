/// Recognises secrets written into the YAML instead of being named by environment variable or file.
enum InlineSecret {
    private static let words = ["token", "password", "passwd", "secret", "api_key", "apikey", "private_key",
                                "pseudonym_key", "credential", "bearer"]

    /// Whether a key's name says it holds a secret and it is not a `_env` / `_file` reference.
    static func looksLikeSecretKey(_ key: String) -> Bool {
        let lower = key.lowercased().replacingOccurrences(of: "-", with: "_")
        if lower.hasSuffix("_env") || lower.hasSuffix("_file") { return false }
        return words.contains { lower.contains($0) }
    }

    /// Whether an HTTP header name says it carries a credential.
    static func looksLikeSecretHeader(_ name: String) -> Bool {
        let lower = name.lowercased()
        if ["authorization", "proxy-authorization", "cookie"].contains(lower) { return true }
        return ["token", "secret", "key", "auth", "password", "signature", "session"].contains { lower.contains($0) }
    }

    /// Where a secret of this key belongs instead: only keys that exist are suggested.
    static let references: [String: String] = [
        "bearer_token": "'bearer_token_env' (an environment variable) or 'bearer_token_file' (a file)",
        "basic_password": "'basic_password_env' (an environment variable) or 'basic_password_file' (a file)",
        "password": "'basic_password_env' (an environment variable) or 'basic_password_file' (a file)",
        "pseudonym_key": "'pseudonym_key_env' (an environment variable)",
        "signing_secret": "'signing_secret_env' (an environment variable)",
        "client_secret": "'client_secret_env' (an environment variable) or 'client_secret_file' (a file)",
        "api_key": "api_key: {header: NAME, env: VARIABLE} (or file: PATH)",
    ]

    static func message(for key: String) -> String {
        let base = key.split(separator: ".").last.map(String.init) ?? key
        let instead = references[base].map { "then name it with \($0)" }
            ?? "then give it through delivery.auth, signing_secret_env or pseudonym_key_env (docs/configuration.md)"
        return "'\(key)' holds a secret written inline; secrets are never written in configuration files. "
            + "Remove it (and rotate it: it has been in a file), \(instead). The value was not read back or echoed."
    }

    /// Environment variable names: upper-case letters, digits and underscore, not starting with a digit.
    /// Anything else in a `*_env` key is likely the secret itself.
    static func isEnvironmentVariableName(_ text: String) -> Bool {
        guard let first = text.utf8.first, !(0x30...0x39).contains(first), text.utf8.count <= 128 else { return false }
        return text.utf8.allSatisfy { (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F }
    }
}
