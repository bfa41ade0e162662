import ExportCore

/// What a run tells whoever watches it (the progress line on a terminal, the logs). Ids and counts
/// only, never customer values.
public struct RunEvents: Sendable {
    /// One HTTP attempt ended.
    public struct Attempt: Sendable {
        public let run: String
        public let partner: String
        public let delivery: String
        public let batch: Int
        /// The attempt's number over the delivery's life (1-based).
        public let number: Int
        /// Attempts made in this run so far, this one included.
        public let inThisRun: Int
        public let exchange: Exchange
        public let verdict: AttemptVerdict
    }

    public var attempt: @Sendable (Attempt) -> Void
    /// A batch was rendered and recorded: run, partner, batch number, records.
    public var batchRendered: @Sendable (String, String, Int, Int) -> Void
    /// Something a human must look at even though the run went on: run, partner, delivery (empty when
    /// none), the error (a stored payload that is not what the ledger recorded; a partner that could not
    /// start, for a secret not set).
    public var problem: @Sendable (String, String, String, ExportError) -> Void

    public init(attempt: @escaping @Sendable (Attempt) -> Void = { _ in },
                batchRendered: @escaping @Sendable (String, String, Int, Int) -> Void = { _, _, _, _ in },
                problem: @escaping @Sendable (String, String, String, ExportError) -> Void = { _, _, _, _ in }) {
        self.attempt = attempt
        self.batchRendered = batchRendered
        self.problem = problem
    }

    public static let none = RunEvents()
}
