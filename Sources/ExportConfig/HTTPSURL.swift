import Foundation

/// The checks every URL partner-export sends to must pass (a contract's `url` and `token_url`,
/// notify.yaml's): one line, https, a host, no credentials or secret-looking query parameters.
enum HTTPSURL {
    /// What is wrong with `url`, in sentences naming `key`; empty when nothing is. Never echoes a secret.
    static func problems(_ url: String, key: String) -> [String] {
        if url.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || $0.properties.isWhitespace }) {
            return ["\(key) holds spaces or control characters (a line break, a NUL?); write the URL on one line, "
                    + "percent-encoding what needs it"]
        }
        guard url.lowercased().hasPrefix("https://") else {
            let scheme = url.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
            let shown = scheme.count <= 10 && scheme.allSatisfy({ $0.isLetter }) ? " (it starts with '\(scheme):')" : ""
            return ["\(key) must be an https:// URL\(shown); partner-export only delivers over HTTPS"]
        }
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
            return ["\(key) is not a valid URL with a host"]
        }
        var problems: [String] = []
        let instead = key.hasPrefix("delivery.") ? ", then use delivery.auth (basic_user with basic_password_env or "
            + "basic_password_file, api_key, oauth2)" : ""
        if components.user != nil || components.password != nil {
            problems.append("\(key) carries credentials (user:password@); secrets are never written in configuration "
                            + "files. Remove them (and rotate them: they have been in a file)\(instead). The value was not echoed.")
        }
        for item in components.queryItems ?? [] where InlineSecret.looksLikeSecretKey(item.name) || item.name.lowercased() == "key" {
            problems.append("\(key) has a query parameter '\(item.name)' that looks like a secret; "
                            + "secrets are never written in configuration files" + (instead.isEmpty ? "" : ": use delivery.auth"))
        }
        return problems
    }
}
