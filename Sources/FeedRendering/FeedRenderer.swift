import CLibXML2
import ExportCore

/// What a feed's envelope says about where it comes from (docs/design.md, "Feeds").
public struct Envelope: Sendable, Hashable {
    public let partner: String
    public let run: String
    public let delivery: String
    public let batch: Int
    /// RFC 3339, UTC.
    public let generatedAt: String
    /// Whether the feed carries every eligible record or only what changed.
    public let mode: FeedMode

    public init(partner: String, run: String, delivery: String, batch: Int, generatedAt: String, mode: FeedMode = .snapshot) {
        self.partner = partner
        self.run = run
        self.delivery = delivery
        self.batch = batch
        self.generatedAt = generatedAt
        self.mode = mode
    }
}

/// Renders records as fragments and wraps them in an envelope.
///
/// A feed is `head + fragment (+ separator + fragment)… + tail`, where the tail carries the deletion
/// notices (docs/design.md, "Feeds"). Records and notices are rendered on their own first, so that
/// batches can be cut by size and the envelope can carry the counts.
///
/// ```swift
/// var renderer = try makeRenderer(for: partner)
/// var fragment: [UInt8] = []
/// let replaced = try renderer.appendRecord(record, to: &fragment)
/// let feed = try renderer.head(envelope, recordCount: 1, deletionCount: 0) + fragment + renderer.tail(deletions: [], count: 0)
/// ```
public protocol FeedRenderer {
    var format: FeedFormat { get }
    /// Appends one record; returns how many characters were replaced by U+FFFD.
    mutating func appendRecord(_ record: RecordBuffer, to out: inout [UInt8]) throws -> Int
    /// The envelope up to the first record.
    func head(_ envelope: Envelope, recordCount: Int, deletionCount: Int) throws -> [UInt8]
    /// Between two records.
    var separator: [UInt8] { get }
    /// Appends one deletion notice: the key field with the value the partner received, and the reason.
    func appendDeletion(_ notice: DeletionNotice, to out: inout [UInt8])
    /// Between two deletion notices.
    var deletionSeparator: [UInt8] { get }
    /// After the last record: `count` notices (rendered back to back with ``deletionSeparator``) and
    /// the end of the document.
    func tail(deletions: [UInt8], count: Int) -> [UInt8]
}

extension FeedRenderer {
    /// The tail of a feed without deletion notices.
    public var emptyTail: [UInt8] { tail(deletions: [], count: 0) }
}

/// libxml2 must be initialised once, before threads use it (its lazy initialisation is not
/// thread-safe in 2.9); every entry point of this module that touches libxml2 goes through this.
enum LibXML2 {
    static let initialised: Bool = {
        xmlInitParser()
        xmlSetExternalEntityLoader(XMLSafety.loader)
        XMLSafety.silenceThread()
        return true
    }()
}

/// The renderer for a partner's format.
public func makeRenderer(for partner: Partner) throws -> any FeedRenderer {
    switch partner.contract.format {
    case .json: return JSONFeedRenderer(mapping: partner.mapping)
    case .xml: return try XMLFeedRenderer(mapping: partner.mapping)
    }
}

/// A failure of the XML writer itself (out of memory and the like), not of the data.
public struct RenderError: Error, Sendable, CustomStringConvertible {
    public let description: String
}
