import ExportConfig
import ExportCore
import FeedRendering
import Foundation
import Pipeline

/// XSDs named by contracts must compile; reported as configuration problems at the `xsd:` line.
/// Each is compiled once per process: the check keeps what it compiled for the partners that use it.
enum SchemaCheck {
    private static let compiled = SchemaCache()

    static func problems(in configuration: Configuration) -> [ConfigProblem] {
        configuration.partners.compactMap { partner in
            guard partner.contract.xsd != nil else { return nil }
            do {
                _ = try load(partner, in: configuration)
                return nil
            } catch {
                let location = configuration.locations[partner.id]
                return location?.problem("xsd", "\(error)") ?? ConfigProblem(file: "partners/\(partner.id).yaml", line: nil,
                                                                             message: "\(error)")
            }
        }
    }

    static func load(_ partner: Partner, in configuration: Configuration) throws -> XSDSchema? {
        try partner.contract.xsd.map { try compiled.schema(at: configuration.resolve($0).path) }
    }
}

/// Compiled XSDs by path.
final class SchemaCache: @unchecked Sendable {
    private let lock = NSLock()
    private var schemas: [String: XSDSchema] = [:]

    func schema(at path: String) throws -> XSDSchema {
        lock.lock()
        defer { lock.unlock() }
        if let schema = schemas[path] { return schema }
        let schema = try XSDSchema(path: path)
        schemas[path] = schema
        return schema
    }
}

/// Secrets come from the environment (or files) at run time; their values are never printed.
enum Secrets {
    /// The partner's pseudonym key (the UTF-8 bytes of the variable), or nil when the contract names none
    /// or the variable is unset.
    static func pseudonymKey(for contract: Contract) -> [UInt8]? {
        guard let variable = contract.delivery.pseudonymKeyEnv,
              let value = ProcessInfo.processInfo.environment[variable] else { return nil }
        return Array(value.utf8)
    }
}

/// The plan for a partner, or a failure (exit 2) that names the partner and the variable, never a value.
func makePlan(_ partner: Partner) throws -> ExportPlan {
    do {
        return try ExportPlan(partner: partner, pseudonymKey: Secrets.pseudonymKey(for: partner.contract))
    } catch {
        throw CommandFailure("partner \(partner.id): \(error)", exitCode: 2)
    }
}

/// The time, in UTC. `PARTNER_EXPORT_NOW` (RFC 3339) overrides it for tests and reproducible demos.
enum Clock {
    static func now() -> Date {
        if let text = ProcessInfo.processInfo.environment["PARTNER_EXPORT_NOW"], let date = Timestamps.parse(text) { return date }
        return Date()
    }

    static func rfc3339(_ date: Date) -> String { Timestamps.rfc3339(date) }

    static func parse(_ text: String) -> Date? { Timestamps.parse(text) }
}
