import ExportCore
import Reports
import Foundation
import Ledger
import SQLite
import Testing
import TestSupport

/// The tamper-evident disclosure log with the real binary: checkpoints signed after every run,
/// receipts checked by an independent Python verifier, and each kind of tampering caught by
/// `audit verify` on a real ledger file.
@Suite("Tamper-evident disclosure log", .serialized)
struct AuditTests {
    /// A fixture after `audit init` and two runs (the second with a withdrawal, so a deletion notice).
    struct Logged {
        let sandbox: Sandbox
        let fixture: DeliveryFixture
        let verifier: String

        init() throws {
            sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
            fixture = try DeliveryFixture(sandbox: sandbox, customers: 30, maxRecords: 10, acme: "mode: changes")
            let initialised = try fixture.run(["audit", "init", "--name", "test.example"])
            #expect(initialised.status == 0, "\(initialised.output)")
            verifier = initialised.stdout.split(separator: "\n").map(String.init).first { $0.hasPrefix("test.example+") } ?? ""
            let first = try fixture.run(["run", "acme"])
            #expect(first.status == 0 && first.stdout.contains("Disclosure log checkpoint: "), "\(first.output)")
            try fixture.withdraw(3)
            try fixture.customers().execute("UPDATE customers SET first_name = 'Changed' WHERE id = 4")
            let second = try fixture.run(["run", "acme"])
            #expect(second.status == 0, "\(second.output)")
        }

        var stateFolder: String { fixture.stateFolder }

        /// A copy of the state folder (ledger, key, checkpoints) to tamper with.
        func copy() throws -> String {
            let target = TestFiles.temporaryDirectory("tampered").appendingPathComponent("state").path
            try FileManager.default.copyItem(atPath: stateFolder, toPath: target)
            return target
        }

        func verify(state: String, _ extra: [String] = []) throws -> Binary.Result {
            try Binary.run(["audit", "verify", "--state", state + "/ledger.sqlite", "--config", fixture.config.path] + extra,
                           environment: fixture.environment)
        }
    }

    /// Python with `arguments`; an `input` is written to a file that stands for "-" in them.
    static func python(_ arguments: [String], input: String? = nil) throws -> (status: Int32, output: String) {
        var arguments = arguments
        if let input {
            let file = TestFiles.temporaryDirectory("python").appendingPathComponent("input.json")
            try input.write(to: file, atomically: true, encoding: .utf8)
            arguments = arguments.map { $0 == "-" ? file.path : $0 }
        }
        let result = try Binary.run(["python3"] + arguments, executable: URL(fileURLWithPath: "/usr/bin/env"))
        return (result.status, result.output)
    }

    static let verifierScript = TestFiles.packageRoot.appendingPathComponent("tools/verify_receipt.py").path

    @Test("a run with no signing key says its checkpoint was not signed (and where it looked); after audit init it signs and says so")
    func unsignedRunSaysSo() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 3)
        let unsigned = try fixture.run(["run", "acme"])
        #expect(unsigned.status == 0, "\(unsigned.output)")
        #expect(unsigned.stderr.contains("checkpoint was not signed: there is no signing key at \(fixture.stateFolder)/audit.key"),
                "\(unsigned.output)")
        #expect(try fixture.run(["audit", "init", "--name", "test.example"]).status == 0)
        let signed = try fixture.run(["run", "acme"])
        #expect(signed.stdout.contains("Disclosure log checkpoint: ") && !signed.stderr.contains("not signed"), "\(signed.output)")
    }

    @Test("receipts verify with a Python verifier (hashlib, cryptography's Ed25519) and the verifier key alone; an altered one does not")
    func receipts() throws {
        let logged = try Logged()
        let fixture = logged.fixture
        #expect(logged.verifier.split(separator: "+").count >= 3, "the verifier key is printed: \(logged.verifier)")
        let verified = try fixture.run(["audit", "verify"])
        #expect(verified.status == 0 && verified.stdout.contains("OK: the log is intact against every checkpoint"), "\(verified.output)")
        // Customer 3: disclosed in the first run, told to forget in the second.
        let receipts = try fixture.run(["disclosures", "3", "--proof", "--json"])
        #expect(receipts.status == 0, "\(receipts.output)")
        let entries = try JSONSerialization.jsonObject(with: Data(receipts.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(entries.map { $0["kind"] as? String } == ["disclosure", "deletion"], "\(entries)")
        #expect(entries.allSatisfy { $0["inclusion_proof"] is [String] && $0["checkpoint"] is String && $0["leaf"] is String })
        let checked = try Self.python([Self.verifierScript, "--key", logged.verifier, "--customer", "3", "-"], input: receipts.stdout)
        #expect(checked.status == 0, "\(checked.output)")
        let someoneElse = try Self.python([Self.verifierScript, "--key", logged.verifier, "--customer", "4", "-"], input: receipts.stdout)
        #expect(someoneElse.status == 1 && someoneElse.output.contains("not 4"), "a receipt about customer 3 is not one about 4: \(someoneElse.output)")
        #expect(checked.output.components(separatedBy: "verified in partner-export/test.example").count - 1 == 2, "\(checked.output)")
        // The leaf says what the entry says, in the fixed key order.
        let leaf = String(decoding: Data(base64Encoded: entries[1]["leaf"] as? String ?? "") ?? Data(), as: UTF8.self)
        #expect(leaf.hasPrefix(#"{"index":"#) && leaf.contains(#","kind":"deletion","partner":"acme","#)
                && leaf.contains(#","customer_id":3,"fields":["ref"],"reason":"consent_withdrawn","consent_scope":"","#), "\(leaf)")
        // An altered receipt, or another key, fails the independent check.
        var altered = entries
        altered[0]["leaf"] = Data(String(decoding: Data(base64Encoded: entries[0]["leaf"] as? String ?? "") ?? Data(), as: UTF8.self)
            .replacingOccurrences(of: "\"acme\"", with: "\"acm3\"").utf8).base64EncodedString()
        let tampered = String(decoding: try JSONSerialization.data(withJSONObject: altered), as: UTF8.self)
        let refused = try Self.python([Self.verifierScript, "--key", logged.verifier, "-"], input: tampered)
        #expect(refused.status == 1 && refused.output.contains("NOT VERIFIED"), "\(refused.output)")
        let otherKey = try NoteSigner(name: "test.example", key: try Ed25519Key.generate()).verifier.encoded
        let wrongKey = try Self.python([Self.verifierScript, "--key", otherKey, "-"], input: receipts.stdout)
        #expect(wrongKey.status == 1, "\(wrongKey.output)")
        // The stored checkpoints are owner-only, beside the ledger; the key too.
        #expect(TestFiles.mode(of: logged.stateFolder + "/audit.key") == 0o600)
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: logged.stateFolder + "/checkpoints")
        #expect(checkpoints.count == 2 && checkpoints.allSatisfy { TestFiles.mode(of: logged.stateFolder + "/checkpoints/" + $0) == 0o600 })

        // A new signing key, as the runbook says: the old checkpoints stay verifiable with the old verifier key.
        let state = logged.stateFolder
        try FileManager.default.moveItem(atPath: state + "/audit.key", toPath: state + "/old.key")
        try FileManager.default.moveItem(atPath: state + "/checkpoints", toPath: state + "/checkpoints-old")
        let again = try fixture.run(["audit", "init", "--name", "test.example"])
        #expect(again.status == 0 && again.stdout.contains("First checkpoint: "), "\(again.output)")
        #expect(try fixture.run(["audit", "verify"]).status == 0)
        let old = try FileManager.default.contentsOfDirectory(atPath: state + "/checkpoints-old").map { ["--checkpoint", state + "/checkpoints-old/" + $0] }
        let withOld = try fixture.run(["audit", "verify", "--key", logged.verifier] + old.flatMap { $0 })
        #expect(withOld.status == 0 && withOld.stdout.components(separatedBy: "root matches").count - 1 == 3, "\(withOld.output)")
        let withNew = try fixture.run(["audit", "verify"] + old.flatMap { $0 })
        #expect(withNew.status == 1, "the old checkpoints are not the new key's: \(withNew.output)")
    }

    @Test("a receipt is checked field by field: a forged consent scope, consent time, disclosure time or reason is refused; purpose and confirmed are named as not covered; [] and malformed input are not 'verified'")
    func receiptsFieldByField() throws {
        let logged = try Logged()
        let receipts = try logged.fixture.run(["disclosures", "3", "--proof", "--json"])
        let entries = try JSONSerialization.jsonObject(with: Data(receipts.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(entries.map { $0["kind"] as? String } == ["disclosure", "deletion"], "\(entries)")
        func check(_ value: Any) throws -> (status: Int32, output: String) {
            try Self.python([Self.verifierScript, "--key", logged.verifier, "-"],
                            input: String(decoding: try JSONSerialization.data(withJSONObject: value), as: UTF8.self))
        }
        let genuine = try check(entries)
        #expect(genuine.status == 0 && genuine.output.contains("not covered by the log: purpose, confirmed"), "\(genuine.output)")
        for (index, key, forged) in [(0, "consent_scope", "partner-programs" as Any), (0, "consent_granted_at", "2019-01-01T00:00:00Z"),
                                     (0, "disclosed_at", "2020-02-02T00:00:00Z"), (1, "reason", "erased"),
                                     (1, "consent_scope", "partner-offers"), (0, "fields", ["ref"]), (0, "log_index", 99)] {
            var altered = entries
            altered[index][key] = forged
            let refused = try check(altered)
            #expect(refused.status == 1 && refused.output.contains("NOT VERIFIED: the receipt's \(key) is not what its leaf says"),
                    "\(key): \(refused.output)")
        }
        // A field the log does not hold is named, not vouched for; a receipt whose keys repeat is refused as malformed.
        var flipped = entries
        flipped[0]["earlier_holder"] = true
        let named = try check(flipped)
        #expect(named.status == 0 && named.output.contains("not covered by the log: purpose, confirmed, earlier_holder"), "\(named.output)")
        let text = receipts.stdout
        let duplicated = text.replacingOccurrences(of: "\"partner\" : \"acme\"", with: "\"partner\" : \"acme\", \"partner\" : \"acme\"")
        #expect(duplicated != text)
        let twice = try Self.python([Self.verifierScript, "--key", logged.verifier, "-"], input: duplicated)
        #expect(twice.status == 2 && twice.output.contains("a key appears twice"), "\(twice.output)")
        let empty = try check([Any]())
        #expect(empty.status == 1 && empty.output.contains("nothing to verify"), "\(empty.output)")
        var floatIndex = entries
        floatIndex[0]["leaf_index"] = 1.5
        for malformed in [floatIndex as Any, ["not": "a list"], [1, 2]] {
            let refused = try check(malformed)
            #expect(refused.status == 2 && refused.output.contains("MALFORMED") && !refused.output.contains("Traceback"), "\(refused.output)")
        }
    }

    @Test("a consent time that is invalid UTF-8 or holds NUL in the source: recorded as U+FFFD, its receipt's leaf is UTF-8 JSON and verifies in Python", arguments: LedgerKind.allCases)
    func unreadableConsentTime(_ kind: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 6, ledger: kind)
        try fixture.customers().execute("""
            UPDATE consents SET granted_at = CAST(X'323032342D30312D30325AFF' AS TEXT) WHERE customer_id = 5;
            UPDATE consents SET granted_at = CAST(X'323032340032' AS TEXT) WHERE customer_id = 6;
            """)
        let initialised = try fixture.run(["audit", "init", "--name", "test.example"])
        let verifier = initialised.stdout.split(separator: "\n").map(String.init).first { $0.hasPrefix("test.example+") } ?? ""
        let run = try fixture.run(["run", "acme"])
        #expect(run.status == 0, "\(run.output)")
        for (customer, shown) in [("5", "2024-01-02Z\u{FFFD}"), ("6", "2024\u{FFFD}2")] {
            let receipts = try fixture.run(["disclosures", customer, "--proof", "--json"])
            let entries = try JSONSerialization.jsonObject(with: Data(receipts.stdout.utf8)) as? [[String: Any]] ?? []
            #expect(entries.first?["consent_granted_at"] as? String == shown, "\(receipts.output)")
            let leaf = Data(base64Encoded: entries.first?["leaf"] as? String ?? "") ?? Data()
            #expect(String(data: leaf, encoding: .utf8) != nil, "the leaf is UTF-8")
            let checked = try Self.python([Self.verifierScript, "--key", verifier, "--customer", customer, "-"], input: receipts.stdout)
            #expect(checked.status == 0, "\(checked.output)")
        }
    }

    /// Each tampering, applied to a copy of a real ledger, is reported with exit 1.
    @Test("an edited field, a deleted row, two rows swapped, an inserted row, a cut tail and a forged checkpoint are each caught")
    func tampering() throws {
        let logged = try Logged()
        let size = Int(try logged.fixture.query("SELECT count(*) FROM disclosures").first?[0] ?? "0") ?? 0
        #expect(size == 32, "30 disclosures, then a changed record and a notice: \(size)")
        func tamper(_ sql: String) throws -> String {
            let state = try logged.copy()
            try Database(path: state + "/ledger.sqlite", mode: .readWrite).execute(sql)
            return state
        }
        let edited = try logged.verify(state: try tamper("UPDATE disclosures SET granted_at = '2020-01-01T00:00:00Z' WHERE log_index = 5"))
        #expect(edited.status == 1 && edited.stdout.contains("does not match the rows") && edited.stdout.contains("FAILED"), "\(edited.output)")
        let deleted = try logged.verify(state: try tamper("DELETE FROM disclosures WHERE log_index = 7"))
        #expect(deleted.status == 1 && deleted.stdout.contains("entries 7…7 are missing"), "\(deleted.output)")
        let swapped = try logged.verify(state: try tamper(
            "UPDATE disclosures SET log_index = CASE log_index WHEN 2 THEN 9 ELSE 2 END WHERE log_index IN (2, 9)"))
        #expect(swapped.status == 1 && swapped.stdout.contains("does not match the rows"), "\(swapped.output)")
        #expect(swapped.stdout.contains("the first entry where it can tell: 0"), "nothing before the first checkpoint holds: \(swapped.output)")
        let inserted = try logged.verify(state: try tamper("""
            UPDATE disclosures SET log_index = log_index + 1 WHERE log_index >= 4;
            INSERT INTO disclosures (customer_id, delivery, scope, granted_at, confirmed, kind, log_index)
              SELECT 999, delivery, scope, granted_at, 1, kind, 4 FROM disclosures WHERE log_index = 3;
            """))
        #expect(inserted.status == 1 && inserted.stdout.contains("FAILED"), "\(inserted.output)")

        // The newest rows cut off, the tree state recomputed to match and the kept checkpoints deleted:
        // only a checkpoint kept elsewhere can tell.
        let saved = TestFiles.temporaryDirectory("saved").appendingPathComponent("checkpoint.txt").path
        let newest = try logged.fixture.run(["audit", "checkpoint"])
        #expect(newest.status == 0 && newest.stdout.hasPrefix("partner-export/test.example\n\(size)\n"), "\(newest.output)")
        try newest.stdout.write(toFile: saved, atomically: true, encoding: .utf8)
        let cut = try tamper("DELETE FROM disclosures WHERE log_index >= \(size - 3)")
        try FileManager.default.removeItem(atPath: cut + "/checkpoints")
        let ledger = try SQLiteLedger.open(at: cut + "/ledger.sqlite", access: .write(create: false))
        var tree = MerkleFrontier()
        try ledger.forEachLogLeaf(from: 0) { tree.append(leafHash: Merkle.leafHash($0.leaf)) }
        try Database(path: cut + "/ledger.sqlite", mode: .readWrite).prepare("UPDATE log_state SET frontier = ?").run([.blob(tree.encoded())])
        let unseen = try logged.verify(state: cut)
        #expect(unseen.status == 0, "without a checkpoint kept elsewhere a rewrite cannot be seen: \(unseen.output)")
        let caught = try logged.verify(state: cut, ["--checkpoint", saved])
        #expect(caught.status == 1 && caught.stdout.contains("signed \(size) entries; the ledger's rows give \(size - 3)"), "\(caught.output)")

        // A checkpoint signed with another key, and one whose text was changed after signing.
        let other = try NoteSigner(name: "test.example", key: try Ed25519Key.generate())
        let forged = TestFiles.temporaryDirectory("forged").appendingPathComponent("forged.txt").path
        try other.sign(Checkpoint(origin: "partner-export/test.example", size: UInt64(size), root: Array(repeating: 1, count: 32)).text)
            .write(toFile: forged, atomically: true, encoding: .utf8)
        let refused = try logged.verify(state: logged.stateFolder, ["--checkpoint", forged])
        #expect(refused.status == 1 && refused.stdout.contains("not a valid checkpoint of this log: not signed by test.example"), "\(refused.output)")
        let edited2 = TestFiles.temporaryDirectory("edited").appendingPathComponent("edited.txt").path
        try (try String(contentsOfFile: saved, encoding: .utf8)).replacingOccurrences(of: "\n\(size)\n", with: "\n\(size - 1)\n")
            .write(toFile: edited2, atomically: true, encoding: .utf8)
        let mismatch = try logged.verify(state: logged.stateFolder, ["--checkpoint", edited2])
        #expect(mismatch.status == 1 && mismatch.stdout.contains("does not match the note"), "\(mismatch.output)")
        // A row numbered outside the log, and a prune nobody signed (rows deleted, the pruned state faked).
        let stray = try logged.verify(state: try tamper("""
            INSERT INTO disclosures (customer_id, delivery, scope, granted_at, confirmed, kind, log_index)
              SELECT 998, delivery, scope, granted_at, 1, kind, -1 FROM disclosures WHERE log_index = 3;
            """))
        #expect(stray.status == 1 && stray.stdout.contains("numbered before entry 0"), "\(stray.output)")
        let faked = try logged.copy()
        let fakedLedger = try SQLiteLedger.open(at: faked + "/ledger.sqlite", access: .write(create: false))
        var prefix = MerkleFrontier()
        try fakedLedger.forEachLogLeaf(from: 0) { if $0.index ?? 0 < 10 { prefix.append(leafHash: Merkle.leafHash($0.leaf)) } }
        let fakedDatabase = try Database(path: faked + "/ledger.sqlite", mode: .readWrite)
        try fakedDatabase.execute("DELETE FROM disclosures WHERE log_index < 10")
        try fakedDatabase.prepare("UPDATE log_state SET pruned = ?").run([.blob(prefix.encoded())])
        let unsigned = try logged.verify(state: faked)
        #expect(unsigned.status == 1 && unsigned.stdout.contains("no checkpoint of this log records that prune"), "\(unsigned.output)")
        // The untouched ledger still verifies, with the saved checkpoint too.
        #expect(try logged.verify(state: logged.stateFolder, ["--checkpoint", saved]).status == 0)
    }

    @Test("audit verify --checkpoint takes several files after one option (the runbook's weekly check), and refuses a file over 64 KiB or not a file")
    func verifySeveralCheckpoints() throws {
        let logged = try Logged()
        let kept = try FileManager.default.contentsOfDirectory(atPath: logged.stateFolder + "/checkpoints").sorted()
            .map { logged.stateFolder + "/checkpoints/" + $0 }
        let elsewhere = TestFiles.temporaryDirectory("worm")
        for path in kept { try FileManager.default.copyItem(atPath: path, toPath: elsewhere.appendingPathComponent(URL(fileURLWithPath: path).lastPathComponent).path) }
        let copies = try FileManager.default.contentsOfDirectory(atPath: elsewhere.path).map { elsewhere.appendingPathComponent($0).path }
        #expect(copies.count == 2)
        let several = try logged.fixture.run(["audit", "verify", "--checkpoint"] + copies)
        #expect(several.status == 0 && several.stdout.components(separatedBy: "root matches").count - 1 == 4, "\(several.output)")
        let repeated = try logged.fixture.run(["audit", "verify"] + copies.flatMap { ["--checkpoint", $0] })
        #expect(repeated.status == 0 && repeated.stdout.components(separatedBy: "root matches").count - 1 == 4, "\(repeated.output)")
        let big = elsewhere.appendingPathComponent("big.txt")
        try Data(repeating: 0x41, count: 65 << 10).write(to: big)
        let refused = try logged.fixture.run(["audit", "verify", "--checkpoint", big.path])
        #expect(refused.status == 2 && refused.stderr.contains("a checkpoint is a few hundred bytes"), "\(refused.output)")
        let device = try logged.fixture.run(["audit", "verify", "--checkpoint", "/dev/zero"])
        #expect(device.status == 2 && device.stderr.contains("is not a regular file"), "\(device.output)")
    }

    @Test("prune removes a prefix of the log and keeps its tree: audit verify still holds, and a later entry's receipt verifies in Python")
    func pruneKeepsTheTree() throws {
        let logged = try Logged()
        let fixture = logged.fixture
        let pruned = try fixture.run(["prune", "--ledger-older-than", "1", "--payloads-older-than", "0"],
                                     extra: ["PARTNER_EXPORT_NOW": "2030-01-01T00:00:00Z"])
        #expect(pruned.status == 0, "\(pruned.output)")
        #expect(try fixture.query("SELECT count(*) FROM disclosures").first?[0] == "0", "every settled row was past retention")
        let verified = try fixture.run(["audit", "verify"])
        #expect(verified.status == 0 && verified.stdout.contains("32 entries (the first 32 pruned)"), "\(verified.output)")
        #expect(verified.stdout.contains("not checkable"), "the checkpoint of 30 covered only pruned entries: \(verified.output)")
        // The tree goes on from 32: a new entry's proof uses the pruned prefix's subtrees.
        try fixture.withdraw(5)
        #expect(try fixture.run(["run", "acme"]).status == 0)
        #expect(try fixture.run(["audit", "verify"]).status == 0)
        let receipts = try fixture.run(["disclosures", "5", "--proof", "--json"])
        let entries = try JSONSerialization.jsonObject(with: Data(receipts.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(entries.count == 1 && entries.first?["leaf_index"] as? Int == 32 && entries.first?["tree_size"] as? Int == 33, "\(entries)")
        let checked = try Self.python([Self.verifierScript, "--key", logged.verifier, "--customer", "5", "-"], input: receipts.stdout)
        #expect(checked.status == 0 && checked.output.contains("entry 32: verified"), "\(checked.output)")
    }

    @Test("two partners recorded at once (--parallel 2) share one log: every row numbered once, the tree matches, verify holds")
    func parallelPartners() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 60, maxRecords: 7, globex: true)
        #expect(try fixture.run(["audit", "init", "--name", "test.example"]).status == 0)
        let run = try fixture.run(["run", "--all", "--parallel", "2"])
        #expect(run.status == 0, "\(run.output)")
        let rows = try fixture.query("SELECT count(*), count(DISTINCT log_index), min(log_index), max(log_index), "
                                     + "count(DISTINCT d.partner) FROM disclosures AS x JOIN deliveries AS d ON d.seq = x.delivery")
        let counts = rows.first?.map { Int($0 ?? "") ?? -1 } ?? []
        #expect(counts.count == 5 && counts[0] > 60 && counts[0] == counts[1] && counts[2] == 0 && counts[3] == counts[0] - 1
                && counts[4] == 2, "\(counts)")
        let verified = try fixture.run(["audit", "verify"])
        #expect(verified.status == 0 && verified.stdout.contains("OK: the log is intact"), "\(verified.output)")
    }

    /// A PNG's share of pixels that are not white (decoded with zlib alone: 8-bit RGB or RGBA, any filter).
    static let pngInk = #"""
    import struct, sys, zlib
    data = open(sys.argv[1], "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height, channels = 8, b"", 0, 0, 3
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8]); body = data[pos + 8:pos + 8 + length]; pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10]); channels = {2: 3, 6: 4}[colour]; assert depth == 8
        elif kind == b"IDAT":
            idat += body
    raw, stride, previous, ink = zlib.decompress(idat), width * channels, bytearray(width * channels), 0
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0; b = previous[x]; c = previous[x - channels] if x >= channels else 0
            if kind == 1: line[x] = (line[x] + a) & 255
            elif kind == 2: line[x] = (line[x] + b) & 255
            elif kind == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        ink += sum(1 for x in range(0, stride, channels) if min(line[x:x + 3]) < 200)
        previous = line
    print(width, height, ink / (width * height))
    """#

    /// The page's structure, by Python's own HTML parser: lang, title, tables with header cells, no
    /// script, nothing fetched from elsewhere.
    static let htmlCheck = #"""
    import sys
    from html.parser import HTMLParser
    class Check(HTMLParser):
        def __init__(self):
            super().__init__(); self.lang = None; self.title = ""; self.in_title = False; self.tables = 0; self.headers = 0
            self.bad = []
        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "html": self.lang = attrs.get("lang")
            if tag == "title": self.in_title = True
            if tag == "table": self.tables += 1
            if tag == "th": self.headers += 1
            if tag in ("script", "link", "img", "iframe", "object", "embed"): self.bad.append(tag)
            for name, value in attrs.items():
                if name in ("src", "href") or name.startswith("on") or "url(" in (value or "") or "://" in (value or ""):
                    self.bad.append(f"{tag}[{name}]")
        def handle_endtag(self, tag):
            if tag == "title": self.in_title = False
        def handle_data(self, data):
            if self.in_title: self.title += data
    check = Check(); check.feed(open(sys.argv[1], encoding="utf-8").read())
    style = open(sys.argv[1], encoding="utf-8").read()
    if "url(" in style or "@import" in style: check.bad.append("css url")
    print(f"lang={check.lang} title={check.title.strip()!r} tables={check.tables} headers={check.headers} bad={check.bad}")
    """#

    @Test("the customer's report: one self-contained HTML page (lang, title, header cells, no script or external resource), rendered by Chromium at 375 and 1280 px and printed; its JSON twin")
    func customerReport() throws {
        let logged = try Logged()
        let fixture = logged.fixture
        // A contract may word a field its own way; the form's words still follow.
        try fixture.edit(fixture.acmeContract, replacing: "format: json", with: "format: json\nwording:\n  first_name: the name you go by")
        // Bidirectional controls in a contract's words (they can make text read as something else) never reach the report.
        try fixture.edit(fixture.acmeContract, replacing: "purpose: Offers for", with: "purpose: \u{202E}\u{2066}Offers for")
        try fixture.edit(fixture.acmeContract, replacing: "name: ACME Offers Ltd", with: "name: ACME Offers Ltd\u{2069}\u{202C}")
        let folder = TestFiles.temporaryDirectory("report")
        let page = folder.appendingPathComponent("customer-3.html").path
        let written = try fixture.run(["disclosures", "3", "--format", "html", "--out", page])
        #expect(written.status == 0 && written.stdout.contains("was written to \(page)"), "\(written.output)")
        #expect(TestFiles.mode(of: page) == 0o600)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        for words in ["ACME Offers Ltd", "Offers for products that may interest the customer",
                      "your e-mail address, as a one-way hash", "the name you go by", "your customer number, replaced by a pseudonym",
                      "you withdrew your consent", "partner-export/test.example", logged.verifier, "<th scope=\"col\">Withdrawn</th>",
                      "<td>27 November 2026, 03:00 UTC</td>"] {
            #expect(html.contains(words), "\(words)")
        }
        // Well-formed as XML too (libxml2, no recovery), and structured as the checks say.
        _ = try StrictXML(Array(html.utf8))
        let structure = try Self.python(["-c", Self.htmlCheck, page])
        #expect(structure.output.contains("lang=en title='Who received your data (customer 3)'") && structure.output.contains("bad=[]"),
                "\(structure.output)")
        let counts = structure.output.split(separator: " ").reduce(into: [String: Int]()) { result, part in
            let pair = part.split(separator: "=")
            if pair.count == 2, let n = Int(pair[1]) { result[String(pair[0])] = n }
        }
        #expect((counts["tables"] ?? 0) >= 3 && (counts["headers"] ?? 0) >= 9, "\(structure.output)")

        // Real Chromium: a phone and a desktop width, and print.
        try Self.rendersInChromium(page, folder: folder)
        #expect(!html.unicodeScalars.contains { (0x202A...0x202E).contains($0.value) || (0x2066...0x2069).contains($0.value) },
                "no bidirectional control reaches the report")
        // At 375 px the verifier key wraps below its label, inside the page: measured in Chromium's own layout.
        let probe = folder.appendingPathComponent("probe.html")
        try """
            <!doctype html><html><head><title>waiting</title></head><body style="margin:0">
            <iframe id="r" src="customer-3.html" style="width:375px;height:4000px;border:0"></iframe>
            <script>
            document.getElementById('r').onload = function () {
              var d = this.contentDocument, key = d.querySelector('pre.key'), label = key.previousElementSibling;
              var k = key.getBoundingClientRect(), l = label.getBoundingClientRect(), line = parseFloat(getComputedStyle(key).lineHeight) || 16;
              document.title = 'RESULT ' + [Math.round(k.top), Math.round(l.bottom), Math.round(k.right), d.documentElement.clientWidth,
                d.documentElement.scrollWidth, Math.round(k.height / line)].join(' ');
            };
            </script></body></html>
            """.write(to: probe, atomically: true, encoding: .utf8)
        let measured = try Self.chromium(["--allow-file-access-from-files", "--virtual-time-budget=5000", "--dump-dom", probe.absoluteString],
                                         folder: folder)
        let figures = measured.output.components(separatedBy: "RESULT ").dropFirst().first?.prefix { $0 != "<" }
            .split(separator: " ").compactMap { Int($0) } ?? []
        #expect(figures.count == 6, "\(measured.output.suffix(400))")
        if figures.count == 6 {
            #expect(figures[0] >= figures[1], "the key starts below its label: \(figures)")
            #expect(figures[2] <= figures[3] && figures[4] <= figures[3], "nothing runs off a 375 px screen: \(figures)")
            #expect(figures[5] >= 2, "the key wraps onto several lines: \(figures)")
        }

        // The machine twin.
        let json = try fixture.run(["disclosures", "3", "--format", "json"])
        let report = try JSONCoding.decode(CustomerReport.self, from: json.stdout)
        #expect(report.customerID == 3 && report.recipients.count == 1 && report.consentsFromSource)
        let acme = try #require(report.recipients.first)
        #expect(acme.legalName == "ACME Offers Ltd" && acme.deliveries == 1 && acme.deletionNotices.map(\.reason) == ["consent_withdrawn"])
        #expect(acme.consent.first?.withdrawnAt == "2026-11-27T03:00:00Z", "the withdrawal, read from the customer database")
        #expect(acme.data.contains { $0.hasPrefix("your e-mail address, as a one-way hash (a fingerprint") }, "\(acme.data)")
        // A wording for a field the contract does not allow is refused at its line.
        try fixture.edit(fixture.acmeContract, replacing: "  first_name: the name you go by", with: "  phone: your phone")
        let refused = try fixture.run(["validate"])
        #expect(refused.status == 2 && refused.output.contains("wording: 'phone' is not a field this contract allows"), "\(refused.output)")
    }

    /// A self-contained page in real Chromium: screenshots at a phone's and a desktop's width that show
    /// content, and a printed PDF.
    static func rendersInChromium(_ page: String, folder: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
        for (width, height) in [(375, 1400), (1280, 900)] {
            let shot = folder.appendingPathComponent("shot-\(width).png").path
            let chromium = try chromium(["--window-size=\(width),\(height)", "--screenshot=\(shot)", "file://" + page], folder: folder)
            #expect(chromium.status == 0 && FileManager.default.fileExists(atPath: shot), "\(chromium.output)", sourceLocation: sourceLocation)
            let ink = try python(["-c", pngInk, shot])
            let fields = ink.output.split(separator: " ")
            #expect(fields.count == 3 && fields[0] == "\(width)" && (Double(fields[2].trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 0.01,
                    "the screenshot at \(width) px shows content: \(ink.output)", sourceLocation: sourceLocation)
        }
        let pdf = folder.appendingPathComponent("printed.pdf").path
        let printed = try chromium(["--print-to-pdf=\(pdf)", "--no-pdf-header-footer", "file://" + page], folder: folder)
        let bytes = FileManager.default.contents(atPath: pdf) ?? Data()
        #expect(printed.status == 0 && bytes.starts(with: Data("%PDF".utf8)) && bytes.count > 5_000, "\(printed.output)",
                sourceLocation: sourceLocation)
    }

    static func chromium(_ arguments: [String], folder: URL) throws -> (status: Int32, output: String) {
        let result = try Binary.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                                     "--user-data-dir=\(folder.appendingPathComponent("chromium-profile").path)"] + arguments,
                                    environment: ["HOME": folder.path], executable: URL(fileURLWithPath: "/usr/bin/env"))
        return (result.status, result.output)
    }
}
