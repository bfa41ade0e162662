import CLibXML2
import ExportCore

/// The XML feed (`application/xml`), streamed with libxml2's xmlTextWriter; always well-formed
/// XML 1.0 whatever the data holds (see ``XMLText``).
///
/// A NULL value is an absent element; a list is an element holding one item element per entry.
public final class XMLFeedRenderer: FeedRenderer {
    public var format: FeedFormat { .xml }

    private let mapping: Mapping
    /// Where libxml2's output buffer flushes to: straight into the caller's array during a record.
    /// A plain pointer cell rather than an object, so that the per-record flush costs no reference
    /// counting.
    private let sink = UnsafeMutablePointer<UnsafeMutablePointer<[UInt8]>?>.allocate(capacity: 1)
    private let writer: xmlTextWriterPtr
    /// NUL-terminated element names, allocated once.
    private let recordName: UnsafeMutablePointer<xmlChar>
    private let fieldNames: [UnsafeMutablePointer<xmlChar>]
    private let itemNames: [UnsafeMutablePointer<xmlChar>]
    private var scratch: [UInt8] = []
    public let separator: [UInt8] = [UInt8(ascii: "\n")]
    public let deletionSeparator: [UInt8] = [UInt8(ascii: "\n")]
    /// `</root>` and the newlines around it.
    private let end: [UInt8]
    /// `<KEY>` and `</KEY></deletion>` of a deletion notice.
    private let keyOpen: [UInt8]
    private let keyClose: [UInt8]

    public init(mapping: Mapping) throws {
        _ = LibXML2.initialised
        self.mapping = mapping
        sink.initialize(to: nil)
        guard let output = xmlOutputBufferCreateIO({ context, bytes, length in
            guard let context, let bytes, length > 0 else { return 0 }
            let target = context.assumingMemoryBound(to: UnsafeMutablePointer<[UInt8]>?.self).pointee
            bytes.withMemoryRebound(to: UInt8.self, capacity: Int(length)) { pointer in
                target?.pointee.append(contentsOf: UnsafeBufferPointer(start: pointer, count: Int(length)))
            }
            return length
        }, { _ in 0 }, UnsafeMutableRawPointer(sink), nil), let writer = xmlNewTextWriter(output) else {
            sink.deallocate()
            throw RenderError(description: "libxml2 could not create a writer")
        }
        self.writer = writer
        end = Array("\n</\(mapping.root)>\n".utf8)
        let key = mapping.key ?? "key"
        keyOpen = Array("><\(key)>".utf8)
        keyClose = Array("</\(key)></deletion>".utf8)
        recordName = Self.duplicate(mapping.record)
        fieldNames = mapping.fields.map { Self.duplicate($0.name) }
        itemNames = mapping.fields.map { Self.duplicate($0.item) }
    }

    deinit {
        xmlFreeTextWriter(writer)
        sink.deallocate()
        recordName.deallocate()
        fieldNames.forEach { $0.deallocate() }
        itemNames.forEach { $0.deallocate() }
    }

    private static func duplicate(_ text: String) -> UnsafeMutablePointer<xmlChar> {
        let bytes = Array(text.utf8) + [0]
        let pointer = UnsafeMutablePointer<xmlChar>.allocate(capacity: bytes.count)
        pointer.initialize(from: bytes, count: bytes.count)
        return pointer
    }

    public func appendRecord(_ record: RecordBuffer, to out: inout [UInt8]) throws -> Int {
        var replaced = 0
        try withUnsafeMutablePointer(to: &out) { target in
            sink.pointee = target
            defer { sink.pointee = nil }
            replaced = try writeRecord(record)
            try check(xmlTextWriterFlush(writer))
        }
        return replaced
    }

    private func writeRecord(_ record: RecordBuffer) throws -> Int {
        var replaced = 0
        try check(xmlTextWriterStartElement(writer, recordName))
        try record.bytes.withUnsafeBytes { bytes in
            for (i, value) in record.values.enumerated() {
                switch value {
                case .null:
                    continue
                case .text(let range):
                    try check(xmlTextWriterStartElement(writer, fieldNames[i]))
                    replaced += try writeText(UnsafeRawBufferPointer(rebasing: bytes[range]))
                    try check(xmlTextWriterEndElement(writer))
                case .number(let n):
                    // Digits and a minus sign: nothing to sanitise or escape.
                    try check(xmlTextWriterStartElement(writer, fieldNames[i]))
                    try DecimalText.withDigits(Int64(n)) { digits in
                        try check(xmlTextWriterWriteRawLen(writer, digits.baseAddress?.assumingMemoryBound(to: xmlChar.self),
                                                           Int32(digits.count)))
                    }
                    try check(xmlTextWriterEndElement(writer))
                case .list(let items):
                    try check(xmlTextWriterStartElement(writer, fieldNames[i]))
                    for item in record.listItems[items] {
                        try check(xmlTextWriterStartElement(writer, itemNames[i]))
                        replaced += try writeText(UnsafeRawBufferPointer(rebasing: bytes[item]))
                        try check(xmlTextWriterEndElement(writer))
                    }
                    try check(xmlTextWriterEndElement(writer))
                }
            }
        }
        try check(xmlTextWriterEndElement(writer))
        return replaced
    }

    /// Sanitises and escapes `bytes` and hands them to the writer as element content; returns how
    /// many characters were replaced. The writer keeps the document's structure; the text is escaped
    /// here in the same pass as the sanitising (`&`, `<`, `>`, and CR as `&#13;` as libxml2 does),
    /// which spares libxml2 a copy, a `strlen` and an allocation per value.
    private func writeText(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        var text = scratch
        scratch = []
        defer { scratch = text }
        text.removeAll(keepingCapacity: true)
        let replaced = XMLText.appendSanitised(bytes, to: &text, escape: true)
        guard !text.isEmpty else {
            try check(xmlTextWriterWriteRawLen(writer, "", 0))
            return replaced
        }
        try text.withUnsafeBufferPointer { try check(xmlTextWriterWriteRawLen(writer, $0.baseAddress, Int32($0.count))) }
        return replaced
    }

    /// `<deletion reason="consent_withdrawn"><KEY>…</KEY></deletion>` (KEY: the key field's element).
    public func appendDeletion(_ notice: DeletionNotice, to out: inout [UInt8]) {
        out.append(contentsOf: "<deletion reason=\"".utf8)
        out.append(contentsOf: notice.reason.rawValue.utf8)
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: keyOpen)
        _ = notice.key.withUnsafeBytes { XMLText.appendSanitised($0, to: &out, escape: true) }
        out.append(contentsOf: keyClose)
    }

    /// The notices after the records, then the root's end tag.
    public func tail(deletions: [UInt8], count: Int) -> [UInt8] {
        guard count > 0 else { return end }
        return [UInt8(ascii: "\n")] + deletions + end
    }

    public func head(_ envelope: Envelope, recordCount: Int, deletionCount: Int) throws -> [UInt8] {
        guard let buffer = xmlBufferCreate() else { throw RenderError(description: "libxml2 could not allocate a buffer") }
        defer { xmlBufferFree(buffer) }
        guard let writer = xmlNewTextWriterMemory(buffer, 0) else { throw RenderError(description: "libxml2 could not create a writer") }
        defer { xmlFreeTextWriter(writer) }
        try check(xmlTextWriterStartDocument(writer, "1.0", "UTF-8", nil))
        try check(xmlTextWriterStartElement(writer, mapping.root))
        if let namespace = mapping.namespace { try check(xmlTextWriterWriteAttribute(writer, "xmlns", namespace)) }
        let count = String(recordCount)
        for (name, value) in [("partner", envelope.partner), ("run", envelope.run), ("delivery", envelope.delivery),
                              ("batch", String(envelope.batch)), ("generated-at", envelope.generatedAt),
                              ("mode", envelope.mode.rawValue), ("record-count", count),
                              ("deletion-count", String(deletionCount))] {
            try check(xmlTextWriterWriteAttribute(writer, name, value))
        }
        // Flushed before the writer closes the start tag: the tag is closed here, after optional padding.
        try check(xmlTextWriterFlush(writer))
        var out: [UInt8] = []
        Self.append(buffer, to: &out)
        out.append(contentsOf: ">\n".utf8)
        return out
    }


    private static func append(_ buffer: xmlBufferPtr, to out: inout [UInt8]) {
        let length = Int(xmlBufferLength(buffer))
        guard length > 0, let content = xmlBufferContent(buffer) else { return }
        out.append(contentsOf: UnsafeRawBufferPointer(start: content, count: length))
    }

    private func check(_ rc: Int32) throws {
        if rc < 0 { throw RenderError(description: "libxml2's writer failed (code \(rc))") }
    }
}
