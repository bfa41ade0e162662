import Foundation

/// A bounded, typed hand-over from one producer thread to one consumer thread, in order: the
/// producer blocks when `capacity` items wait, so memory stays flat whatever the partner's pace.
/// Either side can end it: the producer with ``finish(_:)``, the consumer with ``cancel()`` (the
/// producer's next ``send(_:)`` then throws ``Cancelled``).
///
/// Unchecked: every stored `var` is used under `condition` (which `Mutex` has not); what passes through is Sendable.
final class BatchChannel<Item: Sendable, Summary: Sendable>: @unchecked Sendable {
    struct Cancelled: Error {}

    enum Next: Sendable {
        case item(Item)
        /// The producer finished: what it reports, or the error that stopped it.
        case end(Result<Summary, any Error>)
    }

    private let condition = NSCondition()
    private let capacity: Int
    private var items: [Item] = []
    private var end: Result<Summary, any Error>?
    private var cancelled = false

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Hands `item` over, waiting while the channel is full.
    func send(_ item: Item) throws {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !cancelled { condition.wait() }
        guard !cancelled else { throw Cancelled() }
        items.append(item)
        condition.broadcast()
    }

    /// The producer's last word.
    func finish(_ result: Result<Summary, any Error>) {
        condition.lock()
        end = result
        condition.broadcast()
        condition.unlock()
    }

    /// The next item, or the end once every item was taken.
    func receive() -> Next {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && end == nil { condition.wait() }
        if !items.isEmpty {
            condition.broadcast()
            return .item(items.removeFirst())
        }
        return .end(end ?? .failure(Cancelled()))
    }

    /// The consumer will take nothing more: the producer stops at its next send.
    func cancel() {
        condition.lock()
        cancelled = true
        items.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for the producer's last word (after a cancel).
    func waitForEnd() -> Result<Summary, any Error> {
        condition.lock()
        defer { condition.unlock() }
        while end == nil { condition.wait() }
        return end ?? .failure(Cancelled())
    }
}
