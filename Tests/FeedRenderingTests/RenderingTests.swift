import ExportCore
import FeedRendering
import Foundation
import TestSupport
import Testing

typealias Row = MemoryRow

func makePartner(format: FeedFormat, fields: [MappedField], namespace: String? = nil) -> Partner {
    let allow = Dictionary(grouping: fields, by: \.from).map { AllowedField(field: $0.key, forms: $0.value.map(\.form)) }
    let contract = Contract(id: "p", name: "P", purpose: "t", consent: ["s"], allow: allow, filters: [], format: format,
                            xsd: nil, delivery: DeliverySettings(url: "https://x.test/"), schedule: nil)
    return Partner(contract: contract, mapping: Mapping(partner: "p", root: "feed", record: "customer", namespace: namespace,
                                                        fields: fields))
}

/// Renders one feed holding one record per row of `rows` (each row: first_name, services).
func render(_ format: FeedFormat, rows: [[[UInt8]?]], namespace: String? = nil) throws -> (feed: [UInt8], replaced: Int) {
    let partner = makePartner(format: format, fields: [
        MappedField(name: "name", from: "first_name"), MappedField(name: "services", from: "services", item: "service"),
    ], namespace: namespace)
    let plan = try ExportPlan(partner: partner, pseudonymKey: nil)
    var renderer = try makeRenderer(for: partner)
    var body: [UInt8] = []
    var record = RecordBuffer()
    var replaced = 0
    for (i, values) in rows.enumerated() {
        #expect(plan.minimiser.minimise(Row(customerID: Int64(i + 1), values: values), into: &record) == nil)
        if i > 0 { body += renderer.separator }
        replaced += try renderer.appendRecord(record, to: &body)
    }
    let envelope = Envelope(partner: "p", run: "run_1", delivery: "dlv_1", batch: 1, generatedAt: "2026-11-27T02:00:00Z")
    return (try renderer.head(envelope, recordCount: rows.count, deletionCount: 0) + body + renderer.emptyTail, replaced)
}

/// What a value must read as after JSON: the stored bytes, invalid UTF-8 as U+FFFD.
func expectedJSON(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// What a value must read as after XML: that, and characters XML 1.0 cannot carry as U+FFFD.
func expectedXML(_ bytes: [UInt8]) -> String {
    var scalars = String.UnicodeScalarView()
    for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
        scalars.append(XMLText.isXMLCharacter(scalar) ? scalar : "\u{FFFD}")
    }
    return String(scalars)
}

@Suite("Feed rendering")
struct RenderingTests {
    static let values: [[UInt8]] = Fixtures.hostileTexts.map(\.bytes)

    @Test("JSON carries every string exactly as stored; invalid UTF-8 becomes U+FFFD, counted")
    func jsonStrings() throws {
        let (feed, replaced) = try render(.json, rows: Self.values.map { [$0, Array("[\"tv\"]".utf8)] })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(feed)) as? [String: Any])
        #expect(object["record_count"] as? Int == Self.values.count)
        #expect(object["delivery"] as? String == "dlv_1")
        let records = try #require(object["records"] as? [[String: Any]])
        for (value, record) in zip(Self.values, records) {
            #expect(record["name"] as? String == expectedJSON(value), "\(value)")
            #expect(record["services"] as? [String] == ["tv"])
        }
        // Only invalid UTF-8 is replaced in JSON, one maximal subpart at a time: the "invalid-utf8" value
        // holds 11 (FF | E2 82 | C0 | AF | ED | A0 | 80 | F4 | 90 | 80 | 80), the truncated "café" 1.
        #expect(replaced == 12)
        #expect(replaced == Self.values.reduce(0) { $0 + $1.withUnsafeBytes { UTF8Scan.decode($0).replaced } })
    }

    @Test("JSON escapes control characters and NUL rather than dropping them")
    func jsonEscapes() throws {
        let (feed, _) = try render(.json, rows: [[[0x00, 0x01, 0x1F, 0x22, 0x5C, 0x2F, 0x7F], nil]])
        let text = String(decoding: feed, as: UTF8.self)
        #expect(text.contains(#""name":"\u0000\u0001\u001f\"\\/\#u{7F}""#))
        #expect(text.contains(#""services":null"#))
    }

    @Test("XML is well-formed XML 1.0 for every hostile value; U+FFFD exactly where XML 1.0 cannot carry a character")
    func xmlStrict() throws {
        let (feed, replaced) = try render(.xml, rows: Self.values.map { [$0, Array("[\"a<b\", \"\"]".utf8)] },
                                          namespace: "https://example.test/ns")
        let document = try StrictXML(feed)  // libxml2 without recovery: throws on any well-formedness error
        #expect(document.rootName == "feed")
        #expect(document.rootAttributes["record-count"] == String(Self.values.count))
        #expect(document.rootAttributes["partner"] == "p")
        let records = document.records
        #expect(records.count == Self.values.count)
        var expectedReplacements = 0
        for (value, record) in zip(Self.values, records) {
            let expected = expectedXML(value)
            #expect(record.fields["name"] == expected, "\(value)")
            #expect(record.lists["services"] == ["a<b", ""])
            expectedReplacements += expected.unicodeScalars.filter { $0 == "\u{FFFD}" }.count
        }
        let storedFFFD = Self.values.reduce(0) { total, bytes in
            // U+FFFD already stored as such is carried, not counted.
            total + String(decoding: bytes, as: UTF8.self).unicodeScalars.filter { $0 == "\u{FFFD}" }.count
                - bytes.withUnsafeBytes { UTF8Scan.decode($0).replaced }
        }
        #expect(replaced == expectedReplacements - storedFFFD)
    }

    @Test("XML: NULL is an absent element, an empty string an empty one")
    func xmlNulls() throws {
        let (feed, _) = try render(.xml, rows: [[nil, Array("[]".utf8)], [[], nil]])
        let records = try StrictXML(feed).records
        #expect(records[0].fields["name"] == nil)
        #expect(records[0].fields["services"] == "")
        #expect(records[1].fields["name"] == "")
        #expect(records[1].fields["services"] == nil)
    }

    @Test("every control character becomes U+FFFD in XML, tab, LF and CR survive")
    func controlCharacters() throws {
        for b in UInt8(0)..<0x20 {
            let (feed, replaced) = try render(.xml, rows: [[[0x61, b, 0x62], nil]])
            let name = try StrictXML(feed).records[0].fields["name"]
            if b == 0x09 || b == 0x0A || b == 0x0D {
                #expect(name == String(decoding: [0x61, b, 0x62], as: UTF8.self))
                #expect(replaced == 0)
            } else {
                #expect(name == "a\u{FFFD}b", "byte \(b)")
                #expect(replaced == 1)
            }
        }
    }
}

@Suite("XSD validation")
struct XSDTests {
    static let xsd = """
        <?xml version="1.0"?>
        <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
          <xs:element name="feed"><xs:complexType><xs:sequence>
            <xs:element name="customer" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence>
              <xs:element name="name"><xs:simpleType><xs:restriction base="xs:string"><xs:pattern value="[A-Z][a-z]*"/></xs:restriction></xs:simpleType></xs:element>
            </xs:sequence></xs:complexType></xs:element>
          </xs:sequence><xs:anyAttribute processContents="skip"/></xs:complexType></xs:element>
        </xs:schema>
        """

    @Test("violations name the line and element, never the value")
    func redacted() throws {
        let folder = TestFiles.temporaryDirectory("xsd")
        try TestFiles.write(Self.xsd, to: folder.appendingPathComponent("feed.xsd"))
        let schema = try XSDSchema(path: folder.appendingPathComponent("feed.xsd").path)
        let partner = makePartner(format: .xml, fields: [MappedField(name: "name", from: "first_name")])
        let plan = try ExportPlan(partner: partner, pseudonymKey: nil)
        var renderer = try makeRenderer(for: partner)
        var body: [UInt8] = []
        var record = RecordBuffer()
        for (i, name) in ["Anna", "secret'Value O'Brien", "Zoë"].enumerated() {
            _ = plan.minimiser.minimise(Row(customerID: Int64(i), values: [Array(name.utf8)]), into: &record)
            if i > 0 { body += renderer.separator }
            _ = try renderer.appendRecord(record, to: &body)
        }
        let envelope = Envelope(partner: "p", run: "r", delivery: "d", batch: 1, generatedAt: "2026-11-27T02:00:00Z")
        let feed = try renderer.head(envelope, recordCount: 3, deletionCount: 0) + body + renderer.emptyTail
        let violations = feed.withUnsafeBytes { schema.validate($0) }
        #expect(violations.count == 2)
        #expect(violations.map(\.line) == [4, 5])
        for violation in violations {
            #expect(violation.message.contains("element 'name'"))
            #expect(!violation.message.contains("secret"))
            #expect(!violation.message.contains("Brien"))
            #expect(!violation.message.contains("Zo"))
        }
    }

    @Test("an XSD that does not compile is reported with libxml2's reason")
    func badSchema() throws {
        let folder = TestFiles.temporaryDirectory("xsd")
        try TestFiles.write("<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"><xs:element/></xs:schema>",
                            to: folder.appendingPathComponent("bad.xsd"))
        #expect { try XSDSchema(path: folder.appendingPathComponent("bad.xsd").path) } throws: { error in
            // libxml2's own words about the schema (an element declaration needs a name), with the line.
            let text = "\(error)"
            return error is XSDError && text.contains("does not compile") && text.contains("line 1")
                && text.contains("'name' is required")
        }
    }
}
