/// A value of one column of one customer row, as the source holds it.
///
/// `bytes` points into the source's own storage and is valid only inside the closure it is
/// passed to: copy what you keep.
public enum ColumnValue {
    case null
    case integer(Int64)
    case bytes(UnsafeRawBufferPointer)
}

/// One customer row as read by a source, with the columns of a ``SourceColumns`` in its order.
///
/// ```swift
/// row.withValue(at: 1) { value in
///     if case .bytes(let text) = value { /* text is valid here only */ }
/// }
/// ```
public protocol CustomerRow {
    /// The customer's id (`customers.id`).
    var customerID: Int64 { get }
    /// Calls `body` with the value of column `index` of the row's ``SourceColumns``.
    func withValue<R>(at index: Int, _ body: (ColumnValue) throws -> R) rethrows -> R
}
