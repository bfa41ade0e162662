/// The one error shape of partner-export: a stable `code` for scripts, the ledger and the metrics, a
/// ``Fate`` that says what kind of problem it is (and so the exit code), and a sentence that names
/// where the problem is (file, partner, delivery, customer id) and what to do. Never a customer value,
/// never a secret.
///
/// ```swift
/// throw ExportError.sourceMissing(path: "customers.sqlite")
/// // error.code == "source.missing", error.fate == .configuration, error.exitCode == 2
/// ```
public struct ExportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem it is, which decides who acts and how the command exits.
    public enum Fate: String, Sendable, Hashable, Codable {
        /// Configuration or environment (files, paths, secrets, the source's schema): nothing was
        /// sent; fix and run again. Exit 2 when it stops the whole command.
        case configuration
        /// One record cannot be rendered: it is left out, by customer id, and the rest goes on.
        case data
        /// It may work later unchanged (the partner is down, a timeout, the lock is held).
        case transient
        /// It will not work again unchanged (the partner refused, untrusted TLS, altered evidence).
        case permanent
    }

    private enum Kind: Hashable, Sendable, CaseIterable {
        case configuration
        case environment
        case usage
        case sourceMissing
        case sourceUnreadable
        case sourceSchema
        case credentials
        case ledger
        case ledgerDamaged
        case lockHeld
        case payloadMissing
        case payloadMismatch
        case envelopeSchema
        case deliveryRejected
        case deliveryExhausted
        case deliveryRefusedWait
        case deliveryAuth
        case partnerPaused
        case partnerWaiting
        case tlsUntrusted
        case transportSetup
        case inDoubt
        case internalFailure
        case deletionGuard
        case auditRollback
        case auditInconsistent
    }

    private let kind: Kind
    /// What happened, in one or two sentences (ids and counts only).
    public let message: String

    private init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// A stable code: `source.missing`, `delivery.rejected`, … (documented in docs/design.md).
    public var code: String {
        switch kind {
        case .configuration: "configuration"
        case .environment: "environment"
        case .usage: "usage"
        case .sourceMissing: "source.missing"
        case .sourceUnreadable: "source.unreadable"
        case .sourceSchema: "source.schema"
        case .credentials: "credentials"
        case .ledger: "ledger"
        case .ledgerDamaged: "ledger.damaged"
        case .lockHeld: "lock.held"
        case .payloadMissing: "payload.missing"
        case .payloadMismatch: "payload.mismatch"
        case .envelopeSchema: "render.envelope_schema"
        case .deliveryRejected: "delivery.rejected"
        case .deliveryExhausted: "delivery.exhausted"
        case .deliveryRefusedWait: "delivery.retry_after_too_long"
        case .deliveryAuth: "delivery.auth"
        case .partnerPaused: "partner.paused"
        case .partnerWaiting: "partner.waiting"
        case .tlsUntrusted: "delivery.tls"
        case .transportSetup: "delivery.setup"
        case .inDoubt: "delivery.in_doubt"
        case .deletionGuard: "deletions.guard"
        case .auditRollback: "audit.rollback"
        case .auditInconsistent: "audit.inconsistent"
        case .internalFailure: "internal"
        }
    }

    public var fate: Fate {
        switch kind {
        case .configuration, .environment, .usage, .sourceMissing, .sourceUnreadable, .sourceSchema, .credentials, .ledger,
             .ledgerDamaged, .envelopeSchema, .transportSetup, .auditRollback:
            .configuration
        case .lockHeld, .deliveryExhausted, .deliveryRefusedWait, .inDoubt, .partnerPaused, .partnerWaiting:
            .transient
        case .payloadMissing, .payloadMismatch, .deliveryRejected, .deliveryAuth, .tlsUntrusted, .internalFailure, .deletionGuard, .auditInconsistent:
            .permanent
        }
    }

    /// The exit code when this error stops a command (docs/design.md, "Commands"): 2 configuration, environment and
    /// usage; 75 the lock; 1 otherwise.
    public var exitCode: Int32 {
        switch kind {
        case .lockHeld: 75
        default: fate == .configuration ? 2 : 1
        }
    }

    /// The same error with a prefix naming where it happened (`partner acme: …`).
    public func located(_ prefix: String) -> ExportError {
        message.hasPrefix(prefix) ? self : ExportError(kind, "\(prefix): \(message)")
    }

    // MARK: - Configuration and environment

    /// Contracts, mappings and XSDs that do not hold together.
    public static func configuration(_ message: String) -> ExportError { ExportError(.configuration, message) }
    /// A path, a permission, a file that is not what it must be.
    public static func environment(_ message: String) -> ExportError { ExportError(.environment, message) }
    public static func usage(_ message: String) -> ExportError { ExportError(.usage, message) }
    public static func sourceMissing(path: String) -> ExportError {
        ExportError(.sourceMissing, "the customer database \(path) does not exist; pass --db PATH or set PARTNER_EXPORT_DB "
                    + "(or create demo data with 'partner-export demo-data --customers 1000 --db \(path)')")
    }
    public static func sourceUnreadable(_ message: String) -> ExportError { ExportError(.sourceUnreadable, message) }
    public static func sourceSchema(_ message: String) -> ExportError { ExportError(.sourceSchema, message) }
    /// A partner's secret or certificate file that is missing or malformed (the message names where it should be).
    public static func credentials(_ message: String) -> ExportError { ExportError(.credentials, message) }
    public static func ledger(_ message: String) -> ExportError { ExportError(.ledger, message) }
    public static func ledgerDamaged(_ message: String) -> ExportError { ExportError(.ledgerDamaged, message) }
    public static func lockHeld(_ message: String) -> ExportError { ExportError(.lockHeld, message) }
    /// An XSD violation outside every record: the XSD and the mapping disagree about the envelope.
    public static func envelopeSchema(_ message: String) -> ExportError { ExportError(.envelopeSchema, message) }
    /// libcurl or TLS could not be set up with the contract's files and options.
    public static func transportSetup(_ message: String) -> ExportError { ExportError(.transportSetup, message) }

    // MARK: - Payloads

    public static func payloadMissing(_ message: String) -> ExportError { ExportError(.payloadMissing, message) }
    /// Stored bytes that are not the bytes the ledger recorded: nothing is sent, the file is kept as evidence.
    public static func payloadMismatch(_ message: String) -> ExportError { ExportError(.payloadMismatch, message) }

    // MARK: - Delivery outcomes

    public static func deliveryRejected(_ message: String) -> ExportError { ExportError(.deliveryRejected, message) }
    public static func deliveryExhausted(_ message: String) -> ExportError { ExportError(.deliveryExhausted, message) }
    public static func deliveryRefusedWait(_ message: String) -> ExportError { ExportError(.deliveryRefusedWait, message) }
    /// The partner's token endpoint refused our client (OAuth2): the message names the contract's keys, never a secret.
    public static func deliveryAuth(_ message: String) -> ExportError { ExportError(.deliveryAuth, message) }
    public static func tlsUntrusted(_ message: String) -> ExportError { ExportError(.tlsUntrusted, message) }
    /// The partner is paused (`partner-export pause`): nothing is sent to it until it is resumed.
    public static func partnerPaused(_ message: String) -> ExportError { ExportError(.partnerPaused, message) }
    /// The partner asked us to wait (a `Retry-After` beyond the cap): nothing is sent before then.
    public static func partnerWaiting(_ message: String) -> ExportError { ExportError(.partnerWaiting, message) }
    public static func inDoubt(_ message: String) -> ExportError { ExportError(.inDoubt, message) }
    /// More deletion notices than the contract's `max_deletions_percent` allows: held for a human.
    public static func deletionGuard(_ message: String) -> ExportError { ExportError(.deletionGuard, message) }
    public static func internalFailure(_ message: String) -> ExportError { ExportError(.internalFailure, message) }
    /// The ledger's disclosure log does not extend a checkpoint the signing key signed: nothing is signed or sent.
    public static func auditRollback(_ message: String) -> ExportError { ExportError(.auditRollback, message) }
    /// Two checkpoints of one log that the rows cannot join: an audit check failed (exit 1).
    public static func auditInconsistent(_ message: String) -> ExportError { ExportError(.auditInconsistent, message) }
}

/// Stored with a run's results: the code, the fate and the sentence; read back into the same error
/// (a code this version does not know reads as an internal failure, its sentence kept).
extension ExportError: Codable {
    enum CodingKeys: String, CodingKey {
        case code, fate, message
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(code: try c.decode(String.self, forKey: .code), message: try c.decode(String.self, forKey: .message))
    }

    /// The error a stored code and sentence stand for (an unknown code: an internal failure, its sentence kept).
    public init(code: String, message: String) {
        self.init(Kind.allCases.first { ExportError($0, "").code == code } ?? .internalFailure, message)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(code, forKey: .code)
        try c.encode(fate, forKey: .fate)
        try c.encode(message, forKey: .message)
    }
}

extension ExportError {
    /// Any error as an ``ExportError``: itself, or an internal failure carrying its description.
    public static func wrapping(_ error: any Error) -> ExportError {
        (error as? ExportError) ?? .internalFailure("\(error)")
    }
}
