import CLibXML2
import ExportCore
import Foundation

/// A compiled XSD that feeds are validated against before they leave (and in preview).
///
/// Violations report the line and the element, never the value: libxml2's own messages quote
/// values, so they are rebuilt from the element name and the error code.
///
/// Unchecked: libxml2 only reads a compiled schema while validating, and each validation has a context of its own.
public final class XSDSchema: @unchecked Sendable {
    private let schema: xmlSchemaPtr
    public let path: String

    /// Compiles the XSD at `path`; the error lists libxml2's messages about the schema itself. Files
    /// it imports or includes are read only from `folder` (default: the XSD's own folder), never
    /// fetched over the network.
    public init(path: String, folder: String? = nil) throws {
        _ = LibXML2.initialised
        XMLSafety.silenceThread()
        XMLSafety.allow(folder ?? Paths.folder(of: path))
        self.path = path
        let collector = ErrorCollector(redact: false)
        guard let context = xmlSchemaNewParserCtxt(path) else {
            throw XSDError(description: "cannot read the XSD \(path)")
        }
        defer { xmlSchemaFreeParserCtxt(context) }
        let opaque = Unmanaged.passUnretained(collector).toOpaque()
        xmlSchemaSetParserStructuredErrors(context, ErrorCollector.callback, opaque)
        // Messages about included documents come through the thread's structured handler, not the printer.
        xmlSetStructuredErrorFunc(opaque, ErrorCollector.callback)
        defer { xmlSetStructuredErrorFunc(nil, nil) }
        let parsed = withExtendedLifetime(collector) { xmlSchemaParse(context) }
        guard let parsed else {
            let details = collector.violations.map { "line \($0.line): \($0.message)" }.joined(separator: "; ")
            throw XSDError(description: "the XSD \(path) does not compile\(details.isEmpty ? "" : ": " + details)")
        }
        schema = parsed
    }

    deinit {
        xmlSchemaFree(schema)
    }

    /// Validates an in-memory document; an empty array means it conforms.
    public func validate(_ document: UnsafeRawBufferPointer) -> [SchemaViolation] {
        XMLSafety.silenceThread()
        let collector = ErrorCollector(redact: true)
        let opaque = Unmanaged.passUnretained(collector).toOpaque()
        return withExtendedLifetime(collector) {
            guard let context = xmlNewParserCtxt() else { return [SchemaViolation(line: 0, message: "libxml2 out of memory")] }
            defer { xmlFreeParserCtxt(context) }
            // libxml2 2.9 has no per-context structured handler for parsing; this one is thread-local.
            xmlSetStructuredErrorFunc(opaque, ErrorCollector.callback)
            defer { xmlSetStructuredErrorFunc(nil, nil) }
            let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_BIG_LINES.rawValue | XML_PARSE_NOCDATA.rawValue)
            guard let base = document.baseAddress?.assumingMemoryBound(to: CChar.self),
                  let doc = xmlCtxtReadMemory(context, base, Int32(document.count), "feed.xml", "UTF-8", options) else {
                return collector.violations.isEmpty ? [SchemaViolation(line: 0, message: "the feed is not well-formed XML")]
                    : collector.violations
            }
            defer { xmlFreeDoc(doc) }
            guard let validation = xmlSchemaNewValidCtxt(schema) else { return [SchemaViolation(line: 0, message: "libxml2 out of memory")] }
            defer { xmlSchemaFreeValidCtxt(validation) }
            xmlSchemaSetValidStructuredErrors(validation, ErrorCollector.callback, opaque)
            let rc = xmlSchemaValidateDoc(validation, doc)
            if rc != 0 && collector.violations.isEmpty {
                return [SchemaViolation(line: 0, message: "libxml2 could not validate the feed (code \(rc))")]
            }
            return collector.violations
        }
    }

    /// Validates a file, streaming (memory does not grow with the file).
    public func validateFile(_ path: String) -> [SchemaViolation] {
        XMLSafety.silenceThread()
        let collector = ErrorCollector(redact: true)
        let opaque = Unmanaged.passUnretained(collector).toOpaque()
        return withExtendedLifetime(collector) {
            guard let validation = xmlSchemaNewValidCtxt(schema) else { return [SchemaViolation(line: 0, message: "libxml2 out of memory")] }
            defer { xmlSchemaFreeValidCtxt(validation) }
            xmlSchemaSetValidStructuredErrors(validation, ErrorCollector.callback, opaque)
            let rc = xmlSchemaValidateFile(validation, path, 0)
            if rc != 0 && collector.violations.isEmpty {
                return [SchemaViolation(line: 0, message: "the feed is not well-formed XML or could not be read (code \(rc))")]
            }
            return collector.violations
        }
    }
}

/// One schema violation: the line in the feed and a message that holds no customer value.
public struct SchemaViolation: Sendable, Hashable, CustomStringConvertible {
    public let line: Int
    public let message: String

    public var description: String { line > 0 ? "line \(line): \(message)" : message }
}

public struct XSDError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// Collects libxml2's structured errors through an opaque pointer (no captures in the callback).
final class ErrorCollector {
    let redact: Bool
    var violations: [SchemaViolation] = []
    /// Keeps memory bounded on a feed where every record fails.
    let limit = 10_000

    init(redact: Bool) { self.redact = redact }

    static let callback: xmlStructuredErrorFunc = { context, error in
        ErrorCollector.collect(context, error)
    }

    private static func collect(_ context: UnsafeMutableRawPointer?, _ error: xmlErrorPtr?) {
        guard let context, let error else { return }
        let collector = Unmanaged<ErrorCollector>.fromOpaque(context).takeUnretainedValue()
        guard collector.violations.count < collector.limit else { return }
        let raw = error.pointee.message.map { String(cString: $0) } ?? ""
        let line = Int(error.pointee.line)
        let message = collector.redact ? redacted(raw, code: error.pointee.code)
            : raw.trimmingCharacters(in: ["\n", " "])
        collector.violations.append(SchemaViolation(line: line, message: message))
    }

    /// libxml2's messages quote the offending value; keep only the element name (from the mapping)
    /// and what kind of rule failed.
    static func redacted(_ message: String, code: Int32) -> String {
        var element = ""
        if message.hasPrefix("Element '"), let end = message.dropFirst(9).firstIndex(of: "'") {
            element = "element '\(message[message.index(message.startIndex, offsetBy: 9)..<end])': "
        }
        let kind: String
        switch Int(code) {
        case 1839: kind = "value does not match the pattern"
        case 1824...1828: kind = "value is not valid for its type"
        case 1830...1832: kind = "value has the wrong length"
        case 1833...1838: kind = "value is out of range"
        case 1840: kind = "value is not one of the enumerated values"
        case 1866...1868: kind = "attribute not allowed or missing"
        default: kind = message.contains("not expected") ? "element not expected here"
            : message.contains("Missing child") ? "a required child element is missing" : "schema rule violated"
        }
        return "\(element)\(kind) (libxml2 code \(code))"
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
