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

    public init(partner: String, run: String, delivery: String, batch: Int, generatedAt: String) {
        self.partner = partner
        self.run = run
        self.delivery = delivery
        self.batch = batch
        self.generatedAt = generatedAt
    }
}

/// Renders records as fragments and wraps them in an envelope.
///
/// A feed is `head + fragment (+ separator + fragment)… + tail`. Records are rendered on their own
/// first, so that batches can be cut by size and the envelope can carry the record count.
///
/// ```swift
/// var renderer = try makeRenderer(for: partner)
/// var fragment: [UInt8] = []
/// let replaced = try renderer.appendRecord(record, to: &fragment)
/// let feed = renderer.head(envelope, recordCount: 1) + fragment + renderer.tail
/// ```
public protocol FeedRenderer {
    var format: FeedFormat { get }
    /// Appends one record; returns how many characters were replaced by U+FFFD.
    mutating func appendRecord(_ record: RecordBuffer, to out: inout [UInt8]) throws -> Int
    /// The envelope up to the first record.
    func head(_ envelope: Envelope, recordCount: Int) throws -> [UInt8]
    /// Between two records.
    var separator: [UInt8] { get }
    /// After the last record.
    var tail: [UInt8] { get }
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
