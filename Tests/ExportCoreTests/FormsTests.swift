import ExportCore
import Foundation
import TestSupport
import Testing

/// A partner with one field per (from, form), everything allowed.
func partner(_ fields: [MappedField], pseudonymKeyEnv: String? = "KEY") -> Partner {
    var allow: [String: [Form]] = [:]
    for field in fields { allow[field.from, default: []].append(field.form) }
    let contract = Contract(
        id: "p", name: "P", purpose: "test", consent: ["s"],
        allow: allow.map { AllowedField(field: $0.key, forms: $0.value) }, filters: [], format: .json, xsd: nil,
        delivery: DeliverySettings(url: "https://example.test/", pseudonymKeyEnv: pseudonymKeyEnv), schedule: nil)
    return Partner(contract: contract, mapping: Mapping(partner: "p", fields: fields))
}

let testKey = Array("0123456789abcdef-test-key".utf8)

/// Minimises one row holding `value` in `from`, through a mapping with a single field.
func minimise(_ value: [UInt8]?, from: String = "first_name", form: Form, required: Bool = false,
              id: Int64 = 7) throws -> (RecordBuffer, RejectionReason?) {
    let plan = try ExportPlan(partner: partner([MappedField(name: "out", from: from, form: form, required: required)]),
                              pseudonymKey: testKey)
    var record = RecordBuffer()
    let values: [[UInt8]?] = from == "id" ? [] : [value]
    let rejection = plan.minimiser.minimise(MemoryRow(customerID: id, values: values), into: &record)
    return (record, rejection)
}

func output(_ value: String?, from: String = "first_name", form: Form) throws -> Any? {
    let (record, rejection) = try minimise(value.map { Array($0.utf8) }, from: from, form: form)
    #expect(rejection == nil)
    return record.values.first.flatMap { record.decoded($0) }
}

@Suite("Forms")
struct FormsTests {
    @Test("form names parse and print back", arguments: ["clear", "initial", "prefix1", "prefix3", "prefix64", "year", "sha256", "pseudonym"])
    func names(_ name: String) {
        #expect(Form(name: name)?.name == name)
    }

    @Test("bad form names are refused", arguments: ["", "prefix", "prefix0", "prefix65", "prefix03", "prefix-1", "Clear", "hash", "prefix٣"])
    func badNames(_ name: String) {
        #expect(Form(name: name) == nil)
    }

    @Test("forms apply by type")
    func applicability() {
        #expect(Form.year.applies(to: .timestamp))
        #expect(!Form.year.applies(to: .text))
        #expect(Form.sha256.applies(to: .integer))
        #expect(Form.pseudonym.applies(to: .integer))
        #expect(!Form.initial.applies(to: .integer))
        #expect(!Form.prefix(3).applies(to: .list))
        #expect(!Form.sha256.applies(to: .list))
        #expect(Form.clear.applies(to: .list))
        #expect(!Form.sha256.applies(to: .timestamp))
    }

    @Test("clear keeps the value exactly, bytes included")
    func clear() throws {
        #expect(try output("Zoë <&> \"x\"", form: .clear) as? String == "Zoë <&> \"x\"")
        let (record, _) = try minimise([0x61, 0x00, 0xFF], form: .clear)
        guard case .text(let range) = record.values[0] else { Issue.record("not text"); return }
        #expect(Array(record.bytes[range]) == [0x61, 0x00, 0xFF])
    }

    @Test("initial is the first character and a dot", arguments: [
        ("Anna", "A."), ("Émile", "É."), ("e\u{301}mile", "e\u{301}."), ("👩‍👩‍👧 fam", "👩‍👩‍👧."), ("\r\nx", "\r\n."), ("", ""),
    ])
    func initial(_ pair: (String, String)) throws {
        #expect(try output(pair.0, form: .initial) as? String == pair.1)
    }

    @Test("prefixN is the first N characters", arguments: [
        ("SW1A 1AA", 3, "SW1"), ("75008", 3, "750"), ("D1", 3, "D1"), ("", 3, ""), ("Göteborg", 2, "Gö"),
        ("ab\u{301}cd", 2, "ab\u{301}"), ("東京都港区", 2, "東京"), ("abc", 3, "abc"),
    ])
    func prefix(_ case_: (String, Int, String)) throws {
        #expect(try output(case_.0, form: .prefix(case_.1)) as? String == case_.2)
    }

    @Test("year of an RFC 3339 timestamp is a number")
    func year() throws {
        #expect(try output("2019-03-14T09:26:53Z", from: "created_at", form: .year) as? Int == 2019)
        #expect(try output("2020-02-29 10:00:00+01:00", from: "created_at", form: .year) as? Int == 2020)
        #expect(try output("1999-12-31", from: "created_at", form: .year) as? Int == 1999)
    }

    @Test("a value that is not a timestamp rejects the record", arguments: ["", "2019", "yesterday", "2019-13-01T00:00:00Z", "20190314", "2019-03-14X", "infinity", "-infinity",
                                                                      "0044-03-15 00:00:00+00 BC", "0044-03-15 BC", "0001-01-01 00:00:00+00 bc ",
                                                                      "0000-01-01T00:00:00Z"])
    func badYear(_ value: String) throws {
        let (_, rejection) = try minimise(Array(value.utf8), from: "created_at", form: .year)
        #expect(rejection == .invalidTimestamp(field: "created_at"))
    }

    @Test("NULL renders as null, or rejects a required field")
    func nulls() throws {
        let (record, rejection) = try minimise(nil, form: .clear)
        #expect(rejection == nil)
        #expect(record.values == [.null])
        let (_, required) = try minimise(nil, form: .clear, required: true)
        #expect(required == .requiredValueMissing(field: "first_name"))
    }

    @Test("services: a JSON array of strings, unescaped; anything else rejects the record")
    func lists() throws {
        #expect(try output(#"["email", "a\"b", "\u00e9\ud83d\ude00", "x\/y"]"#, from: "services", form: .clear) as? [String]
                == ["email", "a\"b", "é😀", "x/y"])
        #expect(try output(" [ ] ", from: "services", form: .clear) as? [String] == [])
        let (record, _) = try minimise(Array(#"["\ud800", "\udc00x"]"#.utf8), from: "services", form: .clear)
        #expect(record.decoded(record.values[0]) as? [String] == ["\u{FFFD}", "\u{FFFD}x"])
        #expect(record.replacedCharacters == 2)
        for bad in ["", "null", "[1]", "[\"a\",]", "{\"a\":1}", "[\"a\"] x", "[[\"a\"]]", "[\"a", "[\"\\x\"]", "[\"a\u{1}\"]"] {
            let (_, rejection) = try minimise(Array(bad.utf8), from: "services", form: .clear)
            #expect(rejection == .malformedList(field: "services"), "\(bad.debugDescription)")
        }
    }
}
