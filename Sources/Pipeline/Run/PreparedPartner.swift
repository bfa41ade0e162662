import Delivery
import ExportConfig
import ExportCore
import FeedRendering
import Foundation
import Synchronization

/// One partner ready to run: its plan (columns, minimiser, pseudonym key), its XSD and its transport.
/// What can fail for this partner alone (its secrets, its certificate files, its XSD) fails here, and
/// only this partner.
public struct PreparedPartner {
    public let partner: Partner
    public let export: ExportPlan
    public let schema: XSDSchema?
    public let transport: any Transport

    public var id: String { partner.id }
    var maxAttempts: Int { partner.contract.delivery.maxAttempts }
    /// The contract's `max_retry_after_seconds` (nil: the run's cap).
    var retryAfterCap: Double? { partner.contract.delivery.maxRetryAfterSeconds.map(Double.init) }
    /// The contract's `rate_limit` (nil: none).
    var pace: Pace? { partner.contract.delivery.requestsPerMinute.map { Pace(partner: partner.id, perMinute: $0) } }

    public init(partner: Partner, export: ExportPlan, schema: XSDSchema?, transport: any Transport) {
        self.partner = partner
        self.export = export
        self.schema = schema
        self.transport = transport
    }

    /// The plan of `partner` with its pseudonym key from `environment`; the errors name variables, never values.
    public static func plan(_ partner: Partner, environment: [String: String]) throws -> ExportPlan {
        let key = partner.contract.delivery.pseudonymKeyEnv.flatMap { environment[$0] }.map { Array($0.utf8) }
        do {
            return try ExportPlan(partner: partner, pseudonymKey: key)
        } catch {
            throw ExportError.credentials("partner \(partner.id): \(error)")
        }
    }

    /// Everything `partner` needs to deliver: plan, XSD, credentials and the HTTPS client.
    public static func prepare(_ partner: Partner, in configuration: Configuration, environment: [String: String],
                               transport: TransportFactory) throws -> PreparedPartner {
        let export = try plan(partner, environment: environment)
        let schema = try SchemaCache.shared.schema(for: partner, in: configuration)
        let credentials = try Credentials.load(for: partner.contract, configDirectory: configuration.directory, environment: environment)
        do {
            return PreparedPartner(partner: partner, export: export, schema: schema,
                                   transport: try transport(partner, credentials, configuration.directory))
        } catch let error as ExportError {
            throw error.located("partner \(partner.id)")
        }
    }
}

/// Makes a partner's transport: the libcurl client in production, a scripted one in tests.
public typealias TransportFactory = @Sendable (Partner, Credentials, URL) throws -> any Transport

public enum Transports {
    /// The libcurl HTTPS client.
    public static let https: TransportFactory = { partner, credentials, directory in
        try HTTPSClient(settings: partner.contract.delivery, credentials: credentials, configDirectory: directory)
    }
}

/// XSDs named by contracts, each compiled once per process.
public final class SchemaCache: Sendable {
    public static let shared = SchemaCache()

    private let schemas = Mutex<[String: XSDSchema]>([:])

    /// The compiled XSD of `partner`, or nil when its contract names none.
    public func schema(for partner: Partner, in configuration: Configuration) throws -> XSDSchema? {
        guard let xsd = partner.contract.xsd else { return nil }
        let path = configuration.resolve(xsd).path
        return try schemas.withLock { schemas in
            if let schema = schemas[path] { return schema }
            do {
                let schema = try XSDSchema(path: path, folder: configuration.directory.path)
                schemas[path] = schema
                return schema
            } catch {
                throw ExportError.configuration("partner \(partner.id): \(error)")
            }
        }
    }
}
