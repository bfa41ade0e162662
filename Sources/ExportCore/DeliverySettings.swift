/// How a partner's feeds are delivered (the contract's `delivery` block).
///
/// Secrets are never held here: only the names of the environment variables or files that hold them.
public struct DeliverySettings: Sendable {
    public let url: String
    public let method: HTTPMethod
    /// Static, non-secret headers, in the order written.
    public let headers: [Header]
    public let auth: Authentication?
    public let signingSecretEnv: String?
    public let pseudonymKeyEnv: String?
    /// Paths relative to the config folder.
    public let caFile: String?
    public let clientCert: String?
    public let clientKey: String?
    /// The environment variable holding the passphrase of an encrypted `client_key`.
    public let clientKeyPasswordEnv: String?
    public let pinnedPublicKey: String?
    public let batch: BatchLimits
    public let gzip: Bool
    public let timeoutSeconds: Int
    public let maxAttempts: Int
    /// Id-range work items for several workers (PostgreSQL ledger); 1 on a single machine.
    public let shards: Int

    public init(
        url: String, method: HTTPMethod = .post, headers: [Header] = [], auth: Authentication? = nil,
        signingSecretEnv: String? = nil, pseudonymKeyEnv: String? = nil, caFile: String? = nil,
        clientCert: String? = nil, clientKey: String? = nil, clientKeyPasswordEnv: String? = nil, pinnedPublicKey: String? = nil,
        batch: BatchLimits = .default, gzip: Bool = false, timeoutSeconds: Int = 60, maxAttempts: Int = 5, shards: Int = 1
    ) {
        self.url = url
        self.method = method
        self.headers = headers
        self.auth = auth
        self.signingSecretEnv = signingSecretEnv
        self.pseudonymKeyEnv = pseudonymKeyEnv
        self.caFile = caFile
        self.clientCert = clientCert
        self.clientKey = clientKey
        self.clientKeyPasswordEnv = clientKeyPasswordEnv
        self.pinnedPublicKey = pinnedPublicKey
        self.batch = batch
        self.gzip = gzip
        self.timeoutSeconds = timeoutSeconds
        self.maxAttempts = maxAttempts
        self.shards = shards
    }

    public struct Header: Sendable, Hashable {
        public let name: String
        public let value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }
}

public enum HTTPMethod: String, Sendable, Hashable {
    case post = "POST"
    case put = "PUT"
}

/// Where the credentials for a partner come from; never the credentials themselves.
public enum Authentication: Sendable, Hashable {
    case bearerTokenEnv(String)
    case bearerTokenFile(String)
    case basicPasswordEnv(user: String, variable: String)
    case basicPasswordFile(user: String, path: String)
}

/// Batch limits: a batch closes before it would exceed either.
public struct BatchLimits: Sendable, Hashable {
    public let maxRecords: Int
    public let maxBytes: Int

    public static let `default` = BatchLimits(maxRecords: 10_000, maxBytes: 8_388_608)

    public init(maxRecords: Int, maxBytes: Int) {
        self.maxRecords = maxRecords
        self.maxBytes = maxBytes
    }
}
