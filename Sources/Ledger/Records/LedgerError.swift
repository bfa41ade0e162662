import ExportCore

/// Ledger failures, as ``ExportError``s with codes of their own.
public enum LedgerError {
    /// The ledger's content is not what this version wrote.
    public static func damaged(_ message: String) -> ExportError { .ledgerDamaged(message) }
}
