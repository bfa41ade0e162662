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
    /// `rate_limit.requests_per_minute`: never more requests to the partner in any minute, across
    /// every worker of the ledger (nil: no limit but the partner's 429s).
    public let requestsPerMinute: Int?
    /// `max_retry_after_seconds`: the longest `Retry-After` waited for within a run (nil: the run's
    /// cap); a longer one is remembered and the partner skipped until then.
    public let maxRetryAfterSeconds: Int?

    public init(
        url: String, method: HTTPMethod = .post, headers: [Header] = [], auth: Authentication? = nil,
        signingSecretEnv: String? = nil, pseudonymKeyEnv: String? = nil, caFile: String? = nil,
        clientCert: String? = nil, clientKey: String? = nil, clientKeyPasswordEnv: String? = nil, pinnedPublicKey: String? = nil,
        batch: BatchLimits = .default, gzip: Bool = false, timeoutSeconds: Int = 60, maxAttempts: Int = 5, shards: Int = 1,
        requestsPerMinute: Int? = nil, maxRetryAfterSeconds: Int? = nil
    ) {
        self.requestsPerMinute = requestsPerMinute
        self.maxRetryAfterSeconds = maxRetryAfterSeconds
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
    /// A static key sent in a header the partner names (`X-Api-Key`); the header's name is not a secret.
    case apiKey(header: String, secret: SecretSource)
    /// OAuth 2.0 client credentials (RFC 6749 §4.4): a token fetched from the partner's token endpoint.
    case oauth2(OAuth2Client)

    /// Where the secret is, in the contract's own words ("the environment variable ACME_KEY (api_key.env)").
    public var secretDescription: String {
        switch self {
        case .bearerTokenEnv(let variable): "the environment variable \(variable) (bearer_token_env)"
        case .bearerTokenFile(let path): "the file \(path) (bearer_token_file)"
        case .basicPasswordEnv(let user, let variable): "the environment variable \(variable) (basic_password_env, user \(user))"
        case .basicPasswordFile(let user, let path): "the file \(path) (basic_password_file, user \(user))"
        case .apiKey(let header, let secret): secret.describe(env: "api_key.env", file: "api_key.file") + " (header \(header))"
        case .oauth2(let client): "the OAuth2 client \(client.clientID) and its secret in "
            + client.secret.describe(env: "client_secret_env", file: "client_secret_file")
        }
    }
}

/// Where one secret is read from: an environment variable or a file (relative to the config folder).
public enum SecretSource: Sendable, Hashable {
    case env(String)
    case file(String)

    func describe(env key: String, file fileKey: String) -> String {
        switch self {
        case .env(let variable): "the environment variable \(variable) (\(key))"
        case .file(let path): "the file \(path) (\(fileKey))"
        }
    }
}

/// An OAuth 2.0 client of the partner's token endpoint (client credentials grant).
public struct OAuth2Client: Sendable, Hashable {
    /// How the client authenticates to the token endpoint (RFC 6749 §2.3.1).
    public enum ClientAuth: String, Sendable, Hashable {
        /// HTTP Basic with the form-encoded id and secret (`client_secret_basic`, the default).
        case basic
        /// `client_id` and `client_secret` in the form body (`client_secret_post`).
        case post
    }

    public let tokenURL: String
    public let clientID: String
    public let secret: SecretSource
    public let scope: String?
    public let audience: String?
    public let clientAuth: ClientAuth

    public init(tokenURL: String, clientID: String, secret: SecretSource, scope: String? = nil, audience: String? = nil,
                clientAuth: ClientAuth = .basic) {
        self.tokenURL = tokenURL
        self.clientID = clientID
        self.secret = secret
        self.scope = scope
        self.audience = audience
        self.clientAuth = clientAuth
    }
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
