import Foundation

/// What a token endpoint answers (RFC 6749 §5): bytes from a partner's server, read with care (they are
/// fuzzed: `make fuzz`, target `token`).
public enum OAuth2Answer {
    /// The longest lifetime believed: ten years (a larger `expires_in` is read as this).
    public static let longestLifetime = 10 * 365 * 86_400

    /// `access_token` and `expires_in` from a token answer (§5.1); nil when it holds no bearer token
    /// that can go in a header (visible ASCII, at most 16 KiB, `token_type` bearer when given).
    public static func parse(_ bytes: [UInt8]) -> (token: String, expiresIn: Int?)? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let token = object["access_token"] as? String, !token.isEmpty, token.utf8.count <= 16 * 1024,
              token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        if let type = object["token_type"] as? String, type.lowercased() != "bearer" { return nil }
        var lifetime: Int?
        if let number = object["expires_in"] as? NSNumber, number.doubleValue.isFinite {
            lifetime = Int(max(0, min(number.doubleValue, Double(longestLifetime))))
        } else if let text = object["expires_in"] as? String, let seconds = Int(text) {
            lifetime = max(0, min(seconds, longestLifetime))
        }
        return (token, lifetime)
    }

    /// The OAuth `error` code of a refusal (`invalid_client`, §5.2): a short token of the RFC's alphabet,
    /// never free text.
    public static func errorCode(_ bytes: [UInt8]) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let code = object["error"] as? String, (1...64).contains(code.utf8.count),
              code.utf8.allSatisfy({ (0x61...0x7A).contains($0) || $0 == 0x5F }) else { return nil }
        return code
    }
}
