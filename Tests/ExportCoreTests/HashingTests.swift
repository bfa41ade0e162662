import ExportCore
import Testing

/// Published test vectors: FIPS 180-2 for SHA-256, RFC 4231 for HMAC-SHA256.
@Suite("Hashing and pseudonyms")
struct HashingTests {
    @Test("SHA-256 test vectors (FIPS 180-2)")
    func sha256Vectors() {
        #expect(HashForm.sha256(of: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(HashForm.sha256(of: "") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(HashForm.sha256(of: "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test("HMAC-SHA256 test vectors (RFC 4231 cases 1, 4 and 6)")
    func hmacVectors() throws {
        let case1 = try Pseudonymizer(key: [UInt8](repeating: 0x0b, count: 20))
        #expect(case1.pseudonym(of: "Hi There") == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")

        let case4 = try Pseudonymizer(key: Array(1...25))
        var out: [UInt8] = []
        [UInt8](repeating: 0xcd, count: 50).withUnsafeBytes { case4.append(pseudonymOf: $0, to: &out) }
        #expect(String(decoding: out, as: UTF8.self) == "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b")

        let case6 = try Pseudonymizer(key: [UInt8](repeating: 0xaa, count: 131))
        #expect(case6.pseudonym(of: "Test Using Larger Than Block-Size Key - Hash Key First")
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test("SHA-256 fed in pieces equals SHA-256 in one go; the FIPS 180-2 million-'a' vector")
    func sha256Streaming() {
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        var whole = SHA256Hasher()
        whole.update(million)
        #expect(whole.hexDigest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // Pieces that straddle the 64-byte blocks in every way, including empty ones.
        var pieces = SHA256Hasher()
        var offset = 0
        var size = 0
        while offset < million.count {
            let end = min(million.count, offset + size)
            million[offset..<end].withUnsafeBytes { pieces.update($0) }
            offset = end
            size = (size * 7 + 13) % 211
        }
        #expect(pieces.hexDigest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("HMAC-SHA256 fed in pieces, and a keyed value reused for many messages (RFC 4231 case 2)")
    func hmacStreamingAndReuse() {
        let keyed = HMACSHA256(key: Array("Jefe".utf8))
        var first = keyed
        first.update(Array("what do ya ".utf8))
        first.update([])
        first.update(Array("want for nothing?".utf8))
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        #expect(first.finalize { HexText.of($0) } == expected)
        // The keyed value is untouched by the messages computed from copies of it.
        var other = keyed
        other.update(Array("something else".utf8))
        _ = other.mac()
        var again = keyed
        again.update(Array("what do ya want for nothing?".utf8))
        #expect(HexText.of(again.mac()) == expected)
    }

    @Test("pseudonym keys under 16 bytes are refused")
    func shortKey() {
        #expect(throws: Pseudonymizer.KeyTooShort.self) { try Pseudonymizer(key: Array("Jefe".utf8)) }
        #expect(throws: Pseudonymizer.KeyTooShort.self) { try Pseudonymizer(key: [UInt8](repeating: 1, count: 15)) }
        #expect(throws: Never.self) { try Pseudonymizer(key: [UInt8](repeating: 1, count: 16)) }
    }

    @Test("the pseudonym form is HMAC-SHA256 under the partner's key, stable and different per key")
    func pseudonymForm() throws {
        let expected = try Pseudonymizer(key: testKey).pseudonym(of: "Anna")
        #expect(try output("Anna", form: .pseudonym) as? String == expected)
        // An integer id is pseudonymised as its decimal text.
        let (record, _) = try minimise(nil, from: "id", form: .pseudonym, id: 42)
        #expect(record.decoded(record.values[0]) as? String == (try Pseudonymizer(key: testKey).pseudonym(of: "42")))
        // Another partner's key gives an unlinkable value.
        #expect(try Pseudonymizer(key: Array("another-partner-key-000".utf8)).pseudonym(of: "Anna") != expected)
    }

    @Test("a pseudonym form without a key cannot be planned")
    func missingKey() {
        let p = partner([MappedField(name: "ref", from: "id", form: .pseudonym)])
        #expect(throws: PlanError.self) { try ExportPlan(partner: p, pseudonymKey: nil) }
        #expect(throws: PlanError.self) { try ExportPlan(partner: p, pseudonymKey: Array("short".utf8)) }
    }

    @Test("sha256 hashes the normalised value", arguments: [
        ("email", "  Anna.Smith@Example.COM\t", "anna.smith@example.com"),
        ("email", "ÉMILE@exemple.FR", "émile@exemple.fr"),
        ("email", "\u{00A0}zoë@example.com\u{2003}", "zoë@example.com"),
        ("phone", "+44 (0)20 7946-0958", "+440207946 0958".replacingOccurrences(of: " ", with: "")),
        ("phone", "+1 503 555 0100", "+15035550100"),
        ("last_name", " O'Brien ", "o'brien"),
    ])
    func sha256Normalised(_ case_: (String, String, String)) throws {
        #expect(try output(case_.1, from: case_.0, form: .sha256) as? String == HashForm.sha256(of: case_.2))
    }

    @Test("an integer id is hashed as its decimal text")
    func sha256OfID() throws {
        let (record, _) = try minimise(nil, from: "id", form: .sha256, id: 1234)
        #expect(record.decoded(record.values[0]) as? String == HashForm.sha256(of: "1234"))
    }

    @Test("a value that normalises to nothing has no hash", arguments: ["", "   ", "no digits"])
    func emptyHash(_ value: String) throws {
        let from = value == "no digits" ? "phone" : "email"
        let (record, rejection) = try minimise(Array(value.utf8), from: from, form: .sha256)
        #expect(rejection == nil)
        #expect(record.values == [.null])
    }
}
