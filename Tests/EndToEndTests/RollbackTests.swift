import ExportCore
import Foundation
import Ledger
import SQLite
import Testing
import TestSupport

/// Never sign over a rewritten history: a ledger restored from a backup is refused before anything
/// is sent or signed, until `audit accept-rollback` records it; consistency proofs join two
/// checkpoints for anyone holding the verifier key.
@Suite("A ledger restored from a backup", .serialized)
struct RollbackTests {
    /// The key outside the state folder, as docs/audit.md recommends: a restored state folder cannot bring an old `.last` with it.
    struct Setup {
        let sandbox: Sandbox
        let fixture: DeliveryFixture
        let keyFile: String
        let verifier: String

        init(_ kind: LedgerKind) throws {
            sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
            fixture = try DeliveryFixture(sandbox: sandbox, customers: 30, maxRecords: 10, ledger: kind)
            let keys = TestFiles.temporaryDirectory("keys")
            chmod(keys.path, 0o700)
            keyFile = keys.appendingPathComponent("audit.key").path
            let initialised = try Binary.run(["audit", "init", "--name", "test.example"] + fixture.options,
                                             environment: fixture.environment.merging(["PARTNER_EXPORT_AUDIT_KEY_FILE": keyFile]) { $1 })
            #expect(initialised.status == 0, "\(initialised.output)")
            verifier = initialised.stdout.split(separator: "\n").map(String.init).first { $0.hasPrefix("test.example+") } ?? ""
        }

        func run(_ arguments: [String]) throws -> Binary.Result {
            try fixture.run(arguments, extra: ["PARTNER_EXPORT_AUDIT_KEY_FILE": keyFile])
        }

        /// The kept checkpoints, by the tree size each names (names of one second are in random order).
        var checkpoints: [String] {
            let folder = fixture.stateFolder + "/checkpoints"
            func size(_ name: String) -> Int { Int(name.dropLast(4).split(separator: "-").last ?? "") ?? 0 }
            return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".txt") }
                .sorted { (size($0), $0) < (size($1), $1) }.map { folder + "/" + $0 }
        }

        /// A backup of the ledger as an operator would take it: the SQLite file, or pg_dump of the schema.
        func backup() throws -> String {
            let folder = TestFiles.temporaryDirectory("backup")
            switch fixture.ledgerKind {
            case .sqlite:
                let copy = folder.appendingPathComponent("ledger.sqlite").path
                try FileManager.default.copyItem(atPath: fixture.state, toPath: copy)
                return copy
            case .postgres:
                let dump = folder.appendingPathComponent("ledger.sql").path
                let result = try Binary.run([try PostgresTools.program("pg_dump"), "--no-owner", "-n", "partner_export", "-f", dump,
                                             fixture.state], executable: URL(fileURLWithPath: "/usr/bin/env"))
                #expect(result.status == 0, "\(result.output)")
                return dump
            }
        }

        /// The history every test here starts from: a run, a backup of the ledger, customer 3 withdraws, a
        /// second run (each run signed a checkpoint). Returns the backup, which lacks the second run.
        func backupBetweenTwoRuns() throws -> String {
            let first = try run(["run", "acme"])
            #expect(first.status == 0, "\(first.output)")
            let backup = try backup()
            try fixture.withdraw(3)
            let second = try run(["run", "acme"])
            #expect(second.status == 0, "\(second.output)")
            return backup
        }

        /// Puts the backup back (the -wal and -shm files deleted, the schema dropped and loaded again).
        func restore(_ backup: String) throws {
            switch fixture.ledgerKind {
            case .sqlite:
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: fixture.state + suffix) }
                try FileManager.default.copyItem(atPath: backup, toPath: fixture.state)
            case .postgres:
                let psql = try PostgresTools.program("psql")
                for arguments in [["-c", "DROP SCHEMA partner_export CASCADE"], ["-f", backup]] {
                    let result = try Binary.run([psql, "-q", "-v", "ON_ERROR_STOP=1", fixture.state] + arguments,
                                                executable: URL(fileURLWithPath: "/usr/bin/env"))
                    #expect(result.status == 0, "\(result.output)")
                }
            }
        }
    }

    @Test("a restored ledger: run, rerun, prune and audit checkpoint refuse it (exit 2, nothing sent or signed) until accept-rollback; then the partner is told again", arguments: LedgerKind.allCases)
    func restoredLedgerIsRefused(_ kind: LedgerKind) throws {
        let setup = try Setup(kind)
        let fixture = setup.fixture
        let backup = try setup.backupBetweenTwoRuns()
        let signed = setup.checkpoints
        #expect(signed.count == 2, "\(signed)")
        let size = Int(try fixture.query("SELECT count(*) FROM disclosures").first?[0] ?? "0") ?? 0
        #expect(size == 60, "30 disclosures, then 29 and one deletion notice: \(size)")
        let last = try String(contentsOfFile: setup.keyFile + ".last", encoding: .utf8)
        #expect(TestFiles.mode(of: setup.keyFile + ".last") == 0o600 && last.contains("\\n60\\n"), "\(last)")

        try setup.restore(backup)
        let requests = setup.sandbox.requests().count
        for command in [["run", "acme"], ["rerun", "--failed"], ["prune"], ["audit", "checkpoint"]] {
            let refused = try setup.run(command)
            #expect(refused.status == 2, "\(command): \(refused.output)")
            #expect(refused.stderr.contains("holds 30 entries, but") && refused.stderr.contains("was signed for 60")
                    && refused.stderr.contains("the first entry missing: 30") && refused.stderr.contains("accept-rollback"),
                    "\(command): \(refused.output)")
        }
        #expect(setup.sandbox.requests().count == requests, "nothing was sent over the restored ledger")
        #expect(setup.checkpoints == signed, "nothing was signed over the restored ledger")
        #expect(try String(contentsOfFile: setup.keyFile + ".last", encoding: .utf8) == last)
        // verify says the same from the rows (the kept checkpoint of 60 entries is not in them).
        let verify = try setup.run(["audit", "verify"])
        #expect(verify.status == 1 && verify.stdout.contains("signed 60 entries; the ledger's rows give 30"), "\(verify.output)")

        // Accepting it is explicit: the size must be said, and a reason given.
        let wrongSize = try setup.run(["audit", "accept-rollback", "--to", "60", "--reason", "restored"])
        #expect(wrongSize.status == 2 && wrongSize.stderr.contains("say --to 30"), "\(wrongSize.output)")
        let accepted = try setup.run(["audit", "accept-rollback", "--to", "30", "--reason", "disk lost;\nrestored the\tbackup of run 1"])
        #expect(accepted.status == 0 && accepted.stdout.contains("goes on from 30 entries"), "\(accepted.output)")
        #expect(setup.checkpoints.count == 2, "the second run's checkpoint moved aside, the acceptance signed: \(setup.checkpoints)")
        let acceptance = try setup.checkpoints.map { try String(contentsOfFile: $0, encoding: .utf8) }.first { $0.contains("rollback") } ?? ""
        #expect(acceptance.hasPrefix("partner-export/test.example\n30\n") && acceptance.contains("\nrollback-accepted from 60 ")
                && acceptance.contains("\nrollback-reason disk lost; restored the backup of run 1\n"), "\(acceptance)")
        let journal = try String(contentsOfFile: setup.keyFile + ".rollbacks", encoding: .utf8)
        #expect(journal.contains(#""from_size":60"#) && journal.contains(#""to_size":30"#) && TestFiles.mode(of: setup.keyFile + ".rollbacks") == 0o600,
                "\(journal)")
        let again = try setup.run(["audit", "accept-rollback", "--to", "30", "--reason", "twice"])
        #expect(again.status == 2 && again.stderr.contains("no rollback to accept"), "\(again.output)")

        // The next run goes out, and tells the partner again to forget customer 3 (the ledger forgot it had).
        let third = try setup.run(["run", "acme"])
        #expect(third.status == 0, "\(third.output)")
        let bodies = setup.sandbox.requests().dropFirst(requests).compactMap(\.body)
        let notices = bodies.compactMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            .flatMap { $0["deletions"] as? [[String: Any]] ?? [] }
        #expect(notices.compactMap { $0["ref"] as? String } == [DeliveryFixture.acmeRef(3)], "\(notices)")
        let verified = try setup.run(["audit", "verify"])
        #expect(verified.status == 0 && verified.stdout.contains("rollback accepted: ") && verified.stdout.contains("from 60 entries to 30"),
                "\(verified.output)")
    }

    @Test("audit consistency: a proof between two genuine checkpoints verifies in Python; an altered one, a fork or a rolled-back ledger does not")
    func consistencyProofs() throws {
        let setup = try Setup(.sqlite)
        let fixture = setup.fixture
        let backup = try setup.backupBetweenTwoRuns()
        let (old, new) = (setup.checkpoints[0], setup.checkpoints[1])
        let proof = try setup.run(["audit", "consistency", old, new])
        #expect(proof.status == 0, "\(proof.output)")
        #expect(proof.stderr.isEmpty, "\(proof.stderr)")
        let document = try JSONSerialization.jsonObject(with: Data(proof.stdout.utf8)) as? [String: Any] ?? [:]
        #expect((document["old"] as? [String: Any])?["tree_size"] as? Int == 30 && (document["new"] as? [String: Any])?["tree_size"] as? Int == 60)
        #expect((document["consistency_proof"] as? [String])?.isEmpty == false, "\(document)")
        let checked = try AuditTests.python([Self.script, "--key", setup.verifier, "-"], input: proof.stdout)
        #expect(checked.status == 0 && checked.output.contains("consistent: the checkpoint of 60 entries extends the one of 30"), "\(checked.output)")
        // NEW defaults to the newest kept checkpoint.
        #expect(try setup.run(["audit", "consistency", old]).stdout == proof.stdout)
        // An altered proof hash, a size changed in the JSON, a malformed document.
        var altered = document
        var hashes = document["consistency_proof"] as? [String] ?? []
        hashes[0] = Data(repeating: 7, count: 32).base64EncodedString()
        altered["consistency_proof"] = hashes
        let bad = try AuditTests.python([Self.script, "--key", setup.verifier, "-"],
                                        input: String(decoding: try JSONSerialization.data(withJSONObject: altered), as: UTF8.self))
        #expect(bad.status == 1 && bad.output.contains("NOT CONSISTENT"), "\(bad.output)")
        var resized = document
        var newEnd = document["new"] as? [String: Any] ?? [:]
        newEnd["tree_size"] = 59
        resized["new"] = newEnd
        let lied = try AuditTests.python([Self.script, "--key", setup.verifier, "-"],
                                         input: String(decoding: try JSONSerialization.data(withJSONObject: resized), as: UTF8.self))
        #expect(lied.status == 1, "\(lied.output)")
        // A key given twice: Python's json keeps the last, other parsers the first; refused, not guessed at.
        let twice = proof.stdout.replacingOccurrences(of: #""consistency_proof""#, with: #""consistency_proof": [], "consistency_proof""#)
        #expect(twice != proof.stdout)
        for malformed in ["[]", #"{"consistency_proof": [1.5]}"#, "not json", twice] {
            let refused = try AuditTests.python([Self.script, "--key", setup.verifier, "-"], input: malformed)
            #expect(refused.status == 2 && refused.output.contains("MALFORMED") && !refused.output.contains("Traceback"), "\(malformed): \(refused.output)")
        }
        // Older first.
        let reversed = try setup.run(["audit", "consistency", new, old])
        #expect(reversed.status == 2 && reversed.stderr.contains("give the older checkpoint first"), "\(reversed.output)")

        // The RFC 6962 reference vectors through the Python verifier, as an independent check of it.
        let vectors = try AuditTests.python(["-c", """
            import sys; sys.path.insert(0, '\(TestFiles.packageRoot.appendingPathComponent("tools").path)')
            from verify_consistency import verify_consistency
            h = bytes.fromhex
            r = {6: h('76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef'),
                 8: h('5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328')}
            p = [h('0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a'),
                 h('ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0'),
                 h('d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7')]
            verify_consistency(6, r[6], 8, r[8], p)
            try:
                verify_consistency(6, r[8], 8, r[8], p)
                print('accepted a wrong root')
            except ValueError:
                print('vectors ok')
            """])
        #expect(vectors.status == 0 && vectors.output.contains("vectors ok"), "\(vectors.output)")

        // A ledger rolled back to the first run and grown again along another history: the old
        // second checkpoint (as a partner would hold it) is not extended by the new one.
        let partnersCopy = TestFiles.temporaryDirectory("witness").appendingPathComponent("second.txt").path
        try FileManager.default.copyItem(atPath: new, toPath: partnersCopy)
        try setup.restore(backup)
        let refusedProof = try setup.run(["audit", "consistency", partnersCopy])
        #expect(refusedProof.status == 1 && refusedProof.stderr.contains("entries from 30 on are not in it"), "\(refusedProof.output)")
        #expect(try setup.run(["audit", "accept-rollback", "--to", "30", "--reason", "test"]).status == 0)
        try fixture.customers().execute("UPDATE customers SET first_name = 'Other' WHERE id <= 31")
        #expect(try setup.run(["run", "acme"]).status == 0)
        let forked = try setup.run(["audit", "consistency", partnersCopy])
        #expect(forked.status == 1 && forked.stderr.contains("does not extend"), "\(forked.output)")
        let verify = try setup.run(["audit", "verify", "--checkpoint", partnersCopy])
        #expect(verify.status == 1 && verify.stdout.contains("does not match the rows"), "\(verify.output)")

        // A rewrite, not a rollback: an entry edited and the stored tree recomputed over the rows (so the
        // ledger holds together): the next run refuses to sign over it, and says from where it differs.
        let size = Int(try fixture.query("SELECT count(*) FROM disclosures").first?[0] ?? "0") ?? 0
        try fixture.ledgerForWriting().execute("UPDATE disclosures SET granted_at = '2020-01-01T00:00:00Z' WHERE log_index = \(size - 5)")
        let ledger = try SQLiteLedger.open(at: fixture.state, access: .write(create: false))
        var tree = MerkleFrontier()
        try ledger.forEachLogLeaf(from: 0) { tree.append(leafHash: Merkle.leafHash($0.leaf)) }
        try fixture.ledgerForWriting().prepare("UPDATE log_state SET frontier = ?").run([.blob(tree.encoded())])
        let rewritten = try setup.run(["run", "acme"])
        #expect(rewritten.status == 2 && rewritten.stderr.contains("(\(size) entries) does not extend")
                && rewritten.stderr.contains("the first entry where it can tell: 30"), "\(rewritten.output)")
    }

    @Test("no false alarm: a key whose last checkpoint prune has since passed (another machine's key pruned), and a record that cannot be written beside the key (a warning, the checkpoint kept)")
    func noFalseAlarms() throws {
        let setup = try Setup(.sqlite)
        let fixture = setup.fixture
        #expect(try setup.run(["run", "acme"]).status == 0)
        // A second key (another machine's) signs the next runs, then prunes past the first key's checkpoint.
        let other = TestFiles.temporaryDirectory("other-key").appendingPathComponent("audit.key").path
        let second: [String: String] = ["PARTNER_EXPORT_AUDIT_KEY_FILE": other]
        #expect(try fixture.run(["audit", "init", "--name", "test.example"], extra: second).status == 0)
        try fixture.customers().execute("UPDATE customers SET first_name = 'Again' WHERE id <= 30")
        #expect(try fixture.run(["run", "acme"], extra: second).status == 0)
        let pruned = try fixture.run(["prune", "--ledger-older-than", "1", "--payloads-older-than", "0"],
                                     extra: second.merging(["PARTNER_EXPORT_NOW": "2030-01-01T00:00:00Z"]) { $1 })
        #expect(pruned.status == 0, "\(pruned.output)")
        #expect((Int(try fixture.query("SELECT count(*) FROM disclosures").first?[0] ?? "1") ?? 1) == 0, "every row pruned")
        let first = try setup.run(["run", "acme"])
        #expect(first.status == 0, "the first key's checkpoint is inside the pruned prefix, not a rollback: \(first.output)")
        // The record beside the key cannot be written: the run signs and keeps its checkpoint, and says so.
        let before = setup.checkpoints.count
        try fixture.customers().execute("UPDATE customers SET first_name = 'Third' WHERE id <= 30")
        let warned = try fixture.run(["run", "acme"], extra: ["PARTNER_EXPORT_AUDIT_KEY_FILE": setup.keyFile,
                                                             "PARTNER_EXPORT_AUDIT_LAST_FILE": "/nonexistent/folder/audit.last"])
        #expect(warned.status == 0 && warned.stderr.contains("the checkpoint was signed and kept, but /nonexistent/folder/audit.last")
                && warned.stdout.contains("Disclosure log checkpoint: "), "\(warned.output)")
        #expect(setup.checkpoints.count == before + 1)
    }

    @Test("a backup restored with the newer tree state written back over it (sizes and roots kept, rows not) is refused: the newest delivery the signature remembers is missing")
    func treeStateWrittenBack() throws {
        let setup = try Setup(.sqlite)
        let fixture = setup.fixture
        let backup = try setup.backupBetweenTwoRuns()
        let state = try #require(try fixture.ledger().prepare("SELECT frontier, pruned FROM log_state").rows { row in
            (try row.bytes("frontier"), try row.bytes("pruned"))
        }.first)
        try setup.restore(backup)
        try fixture.ledgerForWriting().prepare("UPDATE log_state SET frontier = ?, pruned = ?").run([.blob(state.0), .blob(state.1)])
        let refused = try setup.run(["run", "acme"])
        #expect(refused.status == 2 && refused.stderr.contains("is not in it: its rows were replaced by older ones"), "\(refused.output)")
    }

    static let script = TestFiles.packageRoot.appendingPathComponent("tools/verify_consistency.py").path
}

/// PostgreSQL's client programs, wherever the machine has them.
enum PostgresTools {
    static func program(_ name: String) throws -> String {
        for folder in ["/usr/lib/postgresql/15/bin", "/usr/bin"] where FileManager.default.isExecutableFile(atPath: "\(folder)/\(name)") {
            return "\(folder)/\(name)"
        }
        throw SandboxError(description: "\(name) is not installed (postgresql-client-15)")
    }
}
