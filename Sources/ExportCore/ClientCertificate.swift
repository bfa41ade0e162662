import CCrypto

/// The client certificate and key a contract names for mutual TLS, checked before any run: a key
/// that is not the certificate's fails every handshake, late and with a TLS error.
public enum ClientCertificate {
    /// Whether the unencrypted PEM key at `keyPath` belongs to the PEM certificate at `certificatePath`;
    /// nil when either cannot be read as PEM (reported elsewhere).
    public static func keyMatches(certificatePath: String, keyPath: String) -> Bool? {
        switch pe_key_matches_certificate(certificatePath, keyPath) {
        case 1: true
        case 0: false
        default: nil
        }
    }
}
