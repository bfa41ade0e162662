import ExportCore

/// Ledger failures, as ``ExportError``s with codes of their own.
public enum LedgerError {
    /// The ledger cannot be opened or written (a path, a permission, a busy database).
    public static func unusable(_ message: String) -> ExportError { .ledger(message) }
    /// The ledger's content is not what this version wrote.
    public static func damaged(_ message: String) -> ExportError { .ledgerDamaged(message) }
}
