/// Failures before a request can be made. Messages name variables, files and options, never secrets.
public enum DeliveryError: Error, Sendable, CustomStringConvertible {
    /// libcurl or TLS set-up.
    case setup(String)
    /// A credential that is missing or malformed.
    case credentials(String)
    /// A payload file that is missing, unreadable or not the bytes the ledger recorded.
    case payload(String)

    public var description: String {
        switch self {
        case .setup(let message), .credentials(let message), .payload(let message): message
        }
    }
}
