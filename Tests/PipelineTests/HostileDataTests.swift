import CustomerSource
import ExportCore
import FeedRendering
import Foundation
import Pipeline
import TestSupport
import Testing

/// The hostile data of docs/design.md ("Source data"), end to end through the real SQLite source and renderers.
@Suite("Hostile data")
struct HostileDataTests {
    @Test("JSON: the feed parses and every string equals the stored one; malformed services are rejected by id")
    func json() throws {
        let folder = TestFiles.temporaryDirectory("hostile")
        let database = folder.appendingPathComponent("c.sqlite").path
        let malformed = try Fixtures.writeHostile(database)
        let partner = makePartner(fields: everyColumnInClear)
        let (job, _) = try job(partner, database)
        let out = folder.appendingPathComponent("feed.json").path
        let report = try Preview(job: job).run(samples: 2, out: out, generatedAt: "2026-11-27T02:00:00Z")

        #expect(report.tally.rejected.map(\.customerID).sorted() == malformed)
        #expect(report.tally.rejected.allSatisfy { $0.reason == .malformedList(field: "services") })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        let records = try #require(object["records"] as? [[String: Any]])
        #expect(object["record_count"] as? Int == records.count)
        #expect(records.count == report.counts.eligible - malformed.count)
        #expect(TestFiles.mode(of: out) == 0o600)

        // Records come in id order: map them back to ids through the stored e-mail of each non-hostile row.
        let ids = try storedIDs(database).filter { !malformed.contains($0) }
        #expect(ids.count == records.count)
        for (id, record) in zip(ids, records) {
            for column in Fixtures.hostileColumns + ["created_at", "updated_at"] {
                let stored = try Fixtures.storedBytes(database, id: id, column: column)
                let value = record[column]
                if let stored {
                    #expect(value as? String == String(decoding: stored, as: UTF8.self), "customer \(id) \(column)")
                } else {
                    #expect(value is NSNull, "customer \(id) \(column) should be null")
                }
            }
        }
        // The services with escapes come through unescaped, lone surrogates as U+FFFD.
        let escapes = records.compactMap { $0["services"] as? [String] }.first { $0.count == 6 }
        #expect(escapes == ["a\u{0}b", "😀", "quote\"s", "é", "tab\t", "/slash"])
        #expect(records.contains { ($0["services"] as? [String]) == ["\u{FFFD}x"] })
    }

    @Test("XML: a strict XML 1.0 parser accepts the feed, with U+FFFD exactly where XML 1.0 cannot carry a character")
    func xml() throws {
        let folder = TestFiles.temporaryDirectory("hostile")
        let database = folder.appendingPathComponent("c.sqlite").path
        let malformed = try Fixtures.writeHostile(database)
        let partner = makePartner(format: .xml, fields: everyColumnInClear, namespace: "https://example.test/ns/1")
        let (job, _) = try job(partner, database)
        let out = folder.appendingPathComponent("feed.xml").path
        let report = try Preview(job: job).run(samples: 0, out: out, generatedAt: "2026-11-27T02:00:00Z")
        #expect(report.tally.rejected.map(\.customerID).sorted() == malformed)

        let document = try StrictXML(Array(try Data(contentsOf: URL(fileURLWithPath: out))))
        let records = document.records
        #expect(document.rootAttributes["record-count"] == String(records.count))
        let ids = try storedIDs(database).filter { !malformed.contains($0) }
        #expect(ids.count == records.count)
        var replacements = 0
        for (id, record) in zip(ids, records) {
            for column in Fixtures.hostileColumns {
                let stored = try Fixtures.storedBytes(database, id: id, column: column)
                if let stored {
                    let expected = xmlExpected(stored)
                    #expect(record.fields[column] == expected, "customer \(id) \(column)")
                    replacements += expected.unicodeScalars.filter { $0 == "\u{FFFD}" }.count
                        - String(decoding: stored, as: UTF8.self).unicodeScalars.filter { $0 == "\u{FFFD}" }.count
                        + stored.withUnsafeBytes { UTF8Scan.decode($0).replaced }
                } else {
                    #expect(record.fields[column] == nil, "customer \(id) \(column) should be absent")
                }
            }
        }
        // Every replaced character is counted; services add two: a lone surrogate, and a NUL XML cannot carry.
        #expect(report.tally.replacedCharacters == replacements + 2)
        #expect(records.contains { $0.lists["services"] == ["a\u{FFFD}b", "😀", "quote\"s", "é", "tab\t", "/slash"] })
    }

    private func xmlExpected(_ bytes: [UInt8]) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            scalars.append(XMLText.isXMLCharacter(scalar) ? scalar : "\u{FFFD}")
        }
        return String(scalars)
    }

    private func storedIDs(_ database: String) throws -> [Int64] {
        let db = try SQLiteIDs(path: database)
        return try db.ids()
    }
}

import SQLite

struct SQLiteIDs {
    let database: Database
    init(path: String) throws { database = try Database(path: path, mode: .readOnly) }
    func ids() throws -> [Int64] {
        let statement = try database.prepare("SELECT id FROM customers ORDER BY id")
        var ids: [Int64] = []
        while try statement.step() { ids.append(statement.int64(0)) }
        return ids
    }
}
