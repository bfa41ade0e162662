import CLibXML2
import Foundation

/// A strict XML 1.0 parse with libxml2 (no recovery): the document, or the parser's errors.
public final class StrictXML {
    public let document: xmlDocPtr

    /// Element text by name for each record element under the root, in order. List elements map to
    /// their items' texts joined by U+001E.
    public struct Record {
        public var fields: [String: String] = [:]
        public var lists: [String: [String]] = [:]
    }

    public init(_ bytes: [UInt8]) throws {
        let errors = Errors()
        let opaque = Unmanaged.passUnretained(errors).toOpaque()
        xmlSetStructuredErrorFunc(opaque) { context, error in
            guard let context, let error else { return }
            let errors = Unmanaged<Errors>.fromOpaque(context).takeUnretainedValue()
            errors.messages.append("line \(error.pointee.line): " + (error.pointee.message.map { String(cString: $0) } ?? ""))
        }
        defer { xmlSetStructuredErrorFunc(nil, nil) }
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_BIG_LINES.rawValue)
        let doc = withExtendedLifetime(errors) {
            bytes.withUnsafeBytes { buffer in
                xmlReadMemory(buffer.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(buffer.count), "feed.xml", "UTF-8", options)
            }
        }
        guard let doc, errors.messages.isEmpty else {
            if let doc { xmlFreeDoc(doc) }
            throw ParseFailure(messages: errors.messages)
        }
        document = doc
    }

    deinit { xmlFreeDoc(document) }

    public struct ParseFailure: Error, CustomStringConvertible {
        public let messages: [String]
        public var description: String { messages.joined(separator: "\n") }
    }

    final class Errors { var messages: [String] = [] }

    public var rootName: String { xmlDocGetRootElement(document).map { Self.name($0) } ?? "" }

    /// The root element's attributes.
    public var rootAttributes: [String: String] {
        guard let root = xmlDocGetRootElement(document) else { return [:] }
        var result: [String: String] = [:]
        var attribute = root.pointee.properties
        while let a = attribute {
            let name = String(cString: a.pointee.name)
            if let value = xmlGetProp(root, a.pointee.name) {
                result[name] = String(cString: value)
                pe_xml_free(value)
            }
            attribute = a.pointee.next
        }
        return result
    }

    /// The deletion notices after the records: the key element's text and the reason.
    public var deletions: [(key: String, reason: String)] {
        guard let root = xmlDocGetRootElement(document) else { return [] }
        return Self.children(root).filter { Self.name($0) == "deletion" }.map { node in
            let reason = xmlGetProp(node, "reason").map { value -> String in
                defer { pe_xml_free(value) }
                return String(cString: value)
            } ?? ""
            return (Self.children(node).first.map { Self.text($0) } ?? "", reason)
        }
    }

    public var records: [Record] {
        guard let root = xmlDocGetRootElement(document) else { return [] }
        return Self.children(root).filter { Self.name($0) != "deletion" }.map { record in
            var r = Record()
            for field in Self.children(record) {
                let items = Self.children(field)
                if items.isEmpty {
                    r.fields[Self.name(field)] = Self.text(field)
                } else {
                    r.lists[Self.name(field)] = items.map { Self.text($0) }
                }
            }
            return r
        }
    }

    static func children(_ node: xmlNodePtr) -> [xmlNodePtr] {
        var result: [xmlNodePtr] = []
        var child = node.pointee.children
        while let c = child {
            if c.pointee.type == XML_ELEMENT_NODE { result.append(c) }
            child = c.pointee.next
        }
        return result
    }

    static func name(_ node: xmlNodePtr) -> String { String(cString: node.pointee.name) }

    static func text(_ node: xmlNodePtr) -> String {
        guard let content = xmlNodeGetContent(node) else { return "" }
        defer { pe_xml_free(content) }
        return String(cString: content)
    }
}
