import ExportCore
import FeedRendering
import Foundation
import Ledger
@testable import Pipeline
import SQLite
import TestSupport
import Testing

@Suite("Batches")
struct BatchingTests {
    func database(_ count: Int64, _ values: (Int64) -> [String: Value] = { _ in [:] }) throws -> String {
        let path = TestFiles.temporaryDirectory("batch").appendingPathComponent("c.sqlite").path
        try Fixtures.write(path, customers: (1...count).map { .init(id: $0, values($0)) },
                           consents: (1...count).map { .init($0, "partner-offers") })
        return path
    }

    @Test("max_records splits batches; records keep id order across them", arguments: [FeedFormat.json, .xml])
    func byRecords(_ format: FeedFormat) throws {
        let partner = makePartner(format: format, fields: [MappedField(name: "ref", from: "id", form: .pseudonym)],
                                  batch: BatchLimits(maxRecords: 10, maxBytes: 1 << 20))
        let (found, tally) = try batches(partner, try database(25))
        #expect(found.map(\.customerIDs.count) == [10, 10, 5])
        #expect(found.map(\.number) == [1, 2, 3])
        #expect(found.flatMap(\.customerIDs) == Array(1...25))
        #expect(tally.rendered == 25 && tally.batches == 3)
        #expect(tally.bytes == found.reduce(0) { $0 + $1.payload.count })
        for batch in found {
            #expect(batch.envelope.delivery == "dlv_\(batch.number)")
            let manifest = try Manifest(decoding: Manifest.encoded(customerIDs: batch.customerIDs, scopes: 1, grantStream: batch.grants))
            #expect(manifest.customerIDs == batch.customerIDs)
            #expect(manifest.grants.allSatisfy { $0 == ["2024-01-02T03:04:05Z"] })
            if format == .json {
                let object = try JSONSerialization.jsonObject(with: Data(batch.payload)) as? [String: Any]
                #expect(object?["record_count"] as? Int == batch.customerIDs.count)
                #expect(object?["batch"] as? Int == batch.number)
            } else {
                let document = try StrictXML(batch.payload)
                #expect(document.records.count == batch.customerIDs.count)
                #expect(document.rootAttributes["record-count"] == String(batch.customerIDs.count))
            }
        }
    }

    @Test("max_bytes bounds every payload, envelope included; a record too large on its own is rejected by id")
    func byBytes() throws {
        let limit = 4096
        let path = try database(200) { id in id == 7 ? ["first_name": .text(String(repeating: "x", count: 5000))] : [:] }
        let partner = makePartner(fields: [MappedField(name: "name", from: "first_name"), MappedField(name: "email", from: "email")],
                                  batch: BatchLimits(maxRecords: 10_000, maxBytes: limit))
        let (found, tally) = try batches(partner, path)
        #expect(found.count > 1)
        #expect(found.allSatisfy { $0.payload.count <= limit })
        #expect(tally.rejected.map(\.customerID) == [7])
        #expect(tally.rejected.first?.reason.code == "too_large")
        #expect(found.flatMap(\.customerIDs) == Array(1...200).filter { $0 != 7 })
    }

    @Test("records an XSD refuses are rejected by id; the rest of the batch goes out and validates")
    func schemaRejections() throws {
        let folder = TestFiles.temporaryDirectory("xsd")
        try TestFiles.write("""
            <?xml version="1.0"?>
            <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
              <xs:element name="feed"><xs:complexType><xs:sequence>
                <xs:element name="customer" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence>
                  <xs:element name="country"><xs:simpleType><xs:restriction base="xs:string"><xs:pattern value="[A-Z]{2}"/></xs:restriction></xs:simpleType></xs:element>
                </xs:sequence></xs:complexType></xs:element>
              </xs:sequence><xs:anyAttribute processContents="skip"/></xs:complexType></xs:element>
            </xs:schema>
            """, to: folder.appendingPathComponent("f.xsd"))
        let schema = try XSDSchema(path: folder.appendingPathComponent("f.xsd").path)
        let path = try database(12) { id in
            switch id {
            case 3: ["country": .text("gb")]
            case 8: ["country": .text("Great\nBritain")]
            case 12: ["country": .text("")]
            default: [:]
            }
        }
        let partner = makePartner(format: .xml, fields: [MappedField(name: "country", from: "country")],
                                  batch: BatchLimits(maxRecords: 5, maxBytes: 1 << 20))
        let (found, tally) = try batches(partner, path, schema: schema)
        #expect(tally.rejected.map(\.customerID).sorted() == [3, 8, 12])
        #expect(tally.rejected.allSatisfy { $0.reason.code == "schema_violation" && !$0.reason.description.contains("gb") })
        #expect(found.flatMap(\.customerIDs) == [1, 2, 4, 5, 6, 7, 9, 10, 11])
        for batch in found { #expect(batch.payload.withUnsafeBytes { schema.validate($0) }.isEmpty) }
    }
}

@Suite("Violation lines to records")
struct LineLookupTests {
    @Test("the record holding a line is the last whose first line is not after it")
    func lookup() {
        let starts: [Int32] = [3, 4, 7, 7, 12]
        #expect(starts.lastIndex(atOrBefore: 2) == nil)
        #expect(starts.lastIndex(atOrBefore: 3) == 0)
        #expect(starts.lastIndex(atOrBefore: 6) == 1)
        #expect(starts.lastIndex(atOrBefore: 7) == 3)
        #expect(starts.lastIndex(atOrBefore: 11) == 3)
        #expect(starts.lastIndex(atOrBefore: 99) == 4)
        #expect([Int]().lastIndex(atOrBefore: 5) == nil)
    }
}
