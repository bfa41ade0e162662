import Foundation
import SQLite
import TestSupport
import Testing

/// The tool runs as root under cron next to files other people own: one test per hostile or careless
/// situation, with the real binary on real files, each checking the outcome (the device is still a
/// device, the victim unchanged, nothing tampered sent, nothing fetched, nothing foreign printed).
@Suite("Hostile environment", .serialized)
struct HostileEnvironmentTests {
    static let keys = DeliveryFixture.secrets

    func sha(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    func fileType(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : 0
    }

    /// A fixture with a sandbox that answers everything.
    func fixture(customers: Int = 6, acme: String = "", globex: Bool = false, faults: [[String: Any]] = []) throws
        -> (Sandbox, DeliveryFixture) {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: faults), environment: Self.keys)
        return (sandbox, try DeliveryFixture(sandbox: sandbox, customers: customers, acme: acme, globex: globex))
    }

    /// Runs the binary with its standard output on `path` (a device, say).
    func run(_ arguments: [String], stdout path: String, environment: [String: String]) throws -> Int32 {
        let process = Process()
        process.executableURL = Binary.url
        process.arguments = arguments
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { $1 }
        process.standardOutput = FileHandle(forWritingAtPath: path)
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    // MARK: - 1. Never replace what is at an output path

    @Test("1: preview --out and --metrics-file write into a device or a FIFO, never replace it; a symlink is refused")
    func outputPaths() throws {
        let (sandbox, fixture) = try fixture()
        defer { withExtendedLifetime(sandbox) {} }
        let folder = fixture.folder.path
        let device = folder + "/null-device"
        #expect(mknod(device, S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0, "mknod (the tests run as root)")
        let preview = try fixture.run(["preview", "acme", "--out", device])
        #expect(preview.status == 0, "\(preview.output)")
        #expect(fileType(device) == S_IFCHR, "the device is still a device")

        // A FIFO with a reader gets the whole feed, and stays a FIFO.
        let fifo = folder + "/feed.fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let reader = Process()
        reader.executableURL = URL(fileURLWithPath: "/bin/cat")
        reader.arguments = [fifo]
        let pipe = Pipe()
        reader.standardOutput = pipe
        try reader.run()
        let streamed = try fixture.run(["preview", "acme", "--out", fifo])
        let received = pipe.fileHandleForReading.readDataToEndOfFile()
        reader.waitUntilExit()
        #expect(streamed.status == 0, "\(streamed.output)")
        #expect(fileType(fifo) == S_IFIFO)
        let feed = try JSONSerialization.jsonObject(with: received) as? [String: Any]
        #expect((feed?["records"] as? [Any])?.count == 6 && feed?["record_count"] as? Int == 6)

        // A link to someone's file: refused, the file untouched.
        let victim = folder + "/victim.txt"
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: victim))
        let link = folder + "/feed.json"
        #expect(symlink(victim, link) == 0)
        let refused = try fixture.run(["preview", "acme", "--out", link])
        #expect(refused.status == 2 && refused.stderr.contains("symbolic link"), "\(refused.output)")
        #expect(try sha(victim) == Data("precious\n".utf8) && fileType(link) == S_IFLNK)

        // The metrics file: into the device, and never through a link.
        let run = try fixture.run(["run", "acme", "--metrics-file", device])
        #expect(run.status == 0 && fileType(device) == S_IFCHR, "\(run.output)")
        let metricsLink = folder + "/metrics.prom"
        #expect(symlink(victim, metricsLink) == 0)
        let linked = try fixture.run(["run", "acme", "--metrics-file", metricsLink])
        #expect(linked.status == 0, "a metrics problem never changes a run's outcome: \(linked.output)")
        #expect(linked.stderr.contains("symbolic link"))
        #expect(try sha(victim) == Data("precious\n".utf8))
    }

    // MARK: - 2. Never send what was not checked

    @Test("2: a stored payload that was altered is never sent: the delivery in doubt stays owed, the file kept as evidence")
    func tamperedPayload() throws {
        let (sandbox, fixture) = try fixture(customers: 6, faults: [["stall": 30]])
        let process = try fixture.launch(["run", "acme"])
        #expect(fixture.waitUntil("SELECT count(*) FROM attempts WHERE outcome IS NULL"))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let row = try #require(try fixture.query("SELECT id, payload_path FROM deliveries").first)
        let payload = (fixture.stateFolder as NSString).appendingPathComponent(row[1] ?? "")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: payload))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: payload))
        // An earlier version kept a gzip beside the payload: a planted one is never read.
        try Data("not what was recorded".utf8).write(to: URL(fileURLWithPath: payload + ".gz"))
        let before = sandbox.requests().count
        let rerun = try fixture.run(["rerun", "--failed"])
        #expect(rerun.status == 1, "\(rerun.output)")
        #expect(rerun.output.contains(row[0] ?? "?") && rerun.output.contains("not the bytes the ledger recorded"))
        #expect(sandbox.requests().count == before, "nothing was sent")
        #expect(try Data(contentsOf: URL(fileURLWithPath: payload)) == bytes, "the evidence is kept as it is")
        let after = try #require(try fixture.query("SELECT status, in_doubt, last_error_code FROM deliveries").first)
        #expect(after == ["failed", "1", "payload.mismatch"], "still owed, still in doubt")
    }

    @Test("2: an altered payload of a held batch is never sent: the rerun renders the batch again and raises the alarm")
    func tamperedHeldPayload() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["status": 400]]), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 30, maxRecords: 10)
        #expect(try fixture.run(["run", "acme"]).status == 1)
        let held = try #require(try fixture.query("SELECT id, payload_path FROM deliveries WHERE status = 'held' ORDER BY batch").first)
        let payload = (fixture.stateFolder as NSString).appendingPathComponent(held[1] ?? "")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: payload))
        bytes.append(0x20)
        try bytes.write(to: URL(fileURLWithPath: payload))
        let rerun = try fixture.run(["rerun", "--failed", "--log-format", "json"])
        // The feed went out whole, rendered again; the run is still not OK: someone changed a file of customer data.
        #expect(rerun.status == 1 && rerun.stdout.hasPrefix("NOT OK: evidence to look at (an altered stored payload): acme")
                && !rerun.stdout.contains("OK: every partner succeeded"), "\(rerun.output)")
        #expect(rerun.stdout.contains("ALERT [payload.mismatch] delivery \(held[0] ?? "?")"), "\(rerun.stdout)")
        let logged = rerun.stderr.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(logged.contains { $0["level"] as? String == "error" && $0["error.code"] as? String == "payload.mismatch"
            && $0["delivery.id"] as? String == held[0] }, "\(rerun.stderr)")
        let metrics = try OperationsTests.parsePrometheus(fixture.metricsPath)
        #expect(metrics["partner_export_errors_total{acme}{payload.mismatch}"] == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: payload)) == bytes, "the evidence is kept")
        #expect(!sandbox.requests().contains { $0.body == bytes }, "the altered bytes never left")
        #expect(sandbox.holdings(path: "/feeds/acme").records(by: "ref").count == 30, "the partner holds every record")
        // Prune keeps the evidence past its retention (it is not a payload like the others), unless told.
        let later = ["PARTNER_EXPORT_NOW": "2030-01-01T00:00:00Z"]
        let pruned = try fixture.run(["prune", "--payloads-older-than", "0"], extra: later)
        #expect(pruned.status == 0 && pruned.stdout.contains("Kept 1 payload(s) found altered (payload.mismatch), as evidence: \(held[0] ?? "?")"),
                "\(pruned.output)")
        #expect(FileManager.default.fileExists(atPath: payload), "the altered file is still there")
        #expect(try fixture.run(["prune", "--payloads-older-than", "0", "--include-failed"], extra: later).status == 0)
        #expect(!FileManager.default.fileExists(atPath: payload), "--include-failed deletes it")
    }

    @Test("2: a gzip partner's body is made from the verified payload: what the partner decompresses is what the ledger hashed")
    func gzipFromVerified() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(globexFaults: [["status": 503], ["status": 503]]),
                                  environment: Self.keys)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 4, maxAttempts: 2, globex: true)
        #expect(try fixture.run(["run", "globex"]).status == 1)
        let row = try #require(try fixture.query("SELECT payload_path, sha256 FROM deliveries").first)
        let payload = (fixture.stateFolder as NSString).appendingPathComponent(row[0] ?? "")
        try Data("planted".utf8).write(to: URL(fileURLWithPath: payload + ".gz"))
        #expect(try fixture.run(["rerun", "--failed"]).status == 0)
        let last = try #require(sandbox.requests().last)
        #expect(last.acknowledged && last.headers["content-encoding"] == "gzip" && last.bodySHA256 == row[1])
    }

    // MARK: - 3. Never forget what was acknowledged

    @Test("3: a 2xx whose answer is cut off is an acknowledgement: delivered, disclosed, and still disclosed after a withdrawal")
    func cutAnswer() throws {
        let (sandbox, fixture) = try fixture(customers: 3, faults: [["cut": true]])
        let run = try fixture.run(["run", "acme"])
        #expect(run.status == 0, "\(run.output)")
        #expect(sandbox.requests().count == 1, "acknowledged at once, not resent")
        #expect(try fixture.query("SELECT status, in_doubt FROM deliveries").first == ["delivered", "0"])
        try fixture.withdraw(2)
        // One of three customers is a third of what the partner holds: past the deletion guard, so allowed explicitly.
        #expect(try fixture.run(["run", "acme", "--allow-deletions"]).status == 0)
        let disclosures = try JSONSerialization.jsonObject(with: Data(try fixture.run(["disclosures", "2", "--json"]).stdout.utf8))
            as? [[String: Any]] ?? []
        #expect(disclosures.map { $0["kind"] as? String } == ["disclosure", "deletion"],
                "the disclosure the partner acknowledged is never denied, and the partner was told to forget: \(disclosures)")
    }

    // MARK: - 4, 5. The ledger is the tool's own

    @Test("4: a 0-byte ledger is not a new empty history: refused, untouched; a missing one is not created beside earlier payloads")
    func emptyLedger() throws {
        let (sandbox, fixture) = try fixture()
        defer { withExtendedLifetime(sandbox) {} }
        try FileManager.default.createDirectory(atPath: fixture.stateFolder,
                                                withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        _ = FileManager.default.createFile(atPath: fixture.state, contents: Data(), attributes: [.posixPermissions: 0o600])
        let disclosures = try fixture.run(["disclosures", "1"])
        #expect(disclosures.status == 2 && disclosures.stderr.contains("0 bytes"), "\(disclosures.output)")
        #expect(try fixture.run(["run", "acme"]).status == 2)
        #expect(try sha(fixture.state).isEmpty)
        // A real history, then the ledger lost: its payloads are still there.
        try FileManager.default.removeItem(atPath: fixture.state)
        #expect(try fixture.run(["run", "acme"]).status == 0)
        try FileManager.default.removeItem(atPath: fixture.state)
        let again = try fixture.run(["run", "acme"])
        #expect(again.status == 2 && again.stderr.contains("payloads of an earlier one"), "\(again.output)")
        #expect(!FileManager.default.fileExists(atPath: fixture.state))
    }

    @Test("5: --state at the customer database is refused untouched, by read-only commands too; --state equal to --db is refused")
    func stateIsTheSource() throws {
        let (sandbox, fixture) = try fixture()
        defer { withExtendedLifetime(sandbox) {} }
        let before = try sha(fixture.database)
        let read = try Binary.run(["disclosures", "1", "--state", fixture.database], environment: Self.keys)
        #expect(read.status == 2 && read.stderr.contains("customer database"), "\(read.output)")
        let run = try Binary.run(["run", "acme", "--config", fixture.config.path, "--db", fixture.database, "--state", fixture.database],
                                 environment: Self.keys)
        #expect(run.status == 2, "\(run.output)")
        #expect(try sha(fixture.database) == before)
        #expect(!FileManager.default.fileExists(atPath: fixture.database + "-wal"))
        #expect(try Database(path: fixture.database, mode: .readOnly).hasTable("runs") == false)
    }

    // MARK: - 6. The lock and the state folder

    @Test("6: the lock is never opened through a link; a state folder others can write to is refused, with the fix")
    func lockAndFolder() throws {
        let (sandbox, fixture) = try fixture()
        defer { withExtendedLifetime(sandbox) {} }
        let folder = fixture.stateFolder
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let victim = fixture.folder.appendingPathComponent("victim").path
        try Data("someone else's\n".utf8).write(to: URL(fileURLWithPath: victim))
        #expect(symlink(victim, folder + "/partner-export.lock") == 0)
        let linked = try fixture.run(["run", "acme"])
        #expect(linked.status == 2 && linked.stderr.contains("symbolic link"), "\(linked.output)")
        #expect(try sha(victim) == Data("someone else's\n".utf8))
        unlink(folder + "/partner-export.lock")
        #expect(mkdir(folder + "/partner-export.lock", 0o700) == 0)
        let directory = try fixture.run(["run", "acme"])
        #expect(directory.status == 2 && directory.stderr.contains("is a folder"), "\(directory.output)")
        rmdir(folder + "/partner-export.lock")

        chmod(folder, 0o777)
        let open = try fixture.run(["run", "acme"])
        #expect(open.status == 2 && open.stderr.contains("chmod 700"), "\(open.output)")
        #expect(!FileManager.default.fileExists(atPath: fixture.state), "nothing was written")
        chmod(folder, 0o700)
        #expect(try fixture.run(["run", "acme"]).status == 0)
        // Readers refuse it too: someone who can write there could have swapped the ledger they show.
        chmod(folder, 0o777)
        for reader in [["deliveries"], ["runs"], ["disclosures", "1"]] {
            let read = try fixture.run(reader)
            #expect(read.status == 2 && read.stderr.contains("chmod 700"), "\(reader): \(read.output)")
        }
        chmod(folder, 0o700)
        #expect(try fixture.run(["deliveries"]).status == 0)
    }

    // MARK: - 7. A partner runs once

    @Test("7: run P P P runs the partner once")
    func repeatedPartner() throws {
        let (sandbox, fixture) = try fixture(customers: 25)
        let run = try fixture.run(["run", "acme", "acme", "acme", "--json"])
        #expect(run.status == 0, "\(run.output)")
        #expect(sandbox.requests().count == 3 && Set(sandbox.requests().compactMap(\.idempotencyKey)).count == 3)
        let report = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        #expect((report?["partners"] as? [Any])?.count == 1)
        #expect(try fixture.query("SELECT count(*) FROM deliveries").first?[0] == "3")
    }

    // MARK: - 8. The source's keys

    @Test("8: a source whose customers.id is not an integer primary key is refused before anything is read")
    func sourceKeys() throws {
        let (sandbox, fixture) = try fixture()
        defer { withExtendedLifetime(sandbox) {} }
        let db = fixture.folder.appendingPathComponent("text-ids.sqlite").path
        let database = try Database(path: db, mode: .create)
        try database.execute("""
            CREATE TABLE customers (id TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT, phone TEXT, street TEXT,
              city TEXT, region TEXT, postal_code TEXT, country TEXT, card_number TEXT, card_expiry TEXT, account_status TEXT,
              services TEXT, created_at TEXT, updated_at TEXT);
            CREATE TABLE consents (customer_id, scope TEXT, granted_at TEXT, withdrawn_at TEXT, source TEXT);
            INSERT INTO customers (id, first_name, email, country, account_status, services, created_at, updated_at)
              VALUES ('abc', 'A', 'a@example.com', 'DE', 'active', '[]', '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z'),
                     ('3.7', 'B', 'b@example.com', 'DE', 'active', '[]', '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z');
            INSERT INTO consents VALUES ('abc', 'partner-offers', '2020-01-01T00:00:00Z', NULL, NULL),
                                        ('3.7', 'partner-offers', '2020-01-01T00:00:00Z', NULL, NULL);
            """)
        for arguments in [["run", "acme"], ["preview", "acme"], ["run", "acme", "--dry-run"]] {
            let result = try Binary.run(arguments + ["--config", fixture.config.path, "--db", db, "--state", fixture.state],
                                        environment: Self.keys)
            #expect(result.status == 2 && result.stderr.contains("INTEGER PRIMARY KEY"), "\(arguments): \(result.output)")
        }
        #expect(!FileManager.default.fileExists(atPath: fixture.state), "nothing recorded, nobody disclosed")
    }
}

/// Configuration that is hostile or careless (items 9, 10, 13, 15, 16, 17 of the hostile-environment issue).
@Suite("Hostile configuration", .serialized)
struct HostileConfigurationTests {
    func fixture(globex: Bool = true) throws -> (Sandbox, DeliveryFixture) {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        return (sandbox, try DeliveryFixture(sandbox: sandbox, customers: 3, globex: globex))
    }

    func validate(_ fixture: DeliveryFixture, extra: [String: String] = [:]) throws -> Binary.Result {
        try fixture.run(["validate"], extra: extra)
    }

    @Test("9: an XSD's imports are never fetched over the network, and libxml2 never prints a line of a file it read")
    func xsdNoNetwork() throws {
        let (sandbox, fixture) = try fixture()
        defer { withExtendedLifetime(sandbox) {} }
        let listener = try ConnectionCounter()
        let outside = TestFiles.temporaryDirectory("outside")
        try TestFiles.write("SECRET-LINE-7f3a is not XML at all\n", to: outside.appendingPathComponent("passwd.xsd"))
        try TestFiles.write("""
            <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
              <xs:import namespace="urn:remote" schemaLocation="http://127.0.0.1:\(listener.port)/remote.xsd"/>
              <xs:include schemaLocation="\(outside.appendingPathComponent("passwd.xsd").path)"/>
              <xs:element name="enrolments"><xs:complexType><xs:sequence>
                <xs:any processContents="skip" minOccurs="0" maxOccurs="unbounded"/>
              </xs:sequence><xs:anyAttribute processContents="skip"/></xs:complexType></xs:element>
            </xs:schema>
            """, to: fixture.config.appendingPathComponent("schemas/g.xsd"))
        try fixture.edit(fixture.config.appendingPathComponent("partners/globex.yaml"), replacing: "format: xml",
                         with: "format: xml\nxsd: schemas/g.xsd")
        let results = [try validate(fixture), try fixture.run(["preview", "globex"]), try fixture.run(["run", "globex"])]
        #expect(listener.connections == 0, "nothing was fetched (a connection made is counted, accepted or not)")
        for result in results { #expect(!result.output.contains("SECRET-LINE-7f3a"), "\(result.output)") }
    }

    @Test("10: a configuration file that links out of the config folder is refused unread; nothing of it is echoed")
    func linkedContract() throws {
        let (sandbox, fixture) = try fixture(globex: false)
        defer { withExtendedLifetime(sandbox) {} }
        let outside = TestFiles.temporaryDirectory("outside").appendingPathComponent("shadow")
        try Data("root:$6$saltsalt$hash:19000:0:99999:7:::\nid: acme\n".utf8).write(to: outside)
        let contract = fixture.acmeContract.path
        try FileManager.default.removeItem(atPath: contract)
        #expect(symlink(outside.path, contract) == 0)
        let result = try validate(fixture)
        #expect(result.status == 2 && result.stdout.contains("outside the config folder"), "\(result.output)")
        #expect(!result.output.contains("root:") && !result.output.contains("saltsalt"))
    }

    @Test("13: a schedule that never fires is refused by validate, saying why")
    func neverFires() throws {
        let (sandbox, fixture) = try fixture(globex: false)
        defer { withExtendedLifetime(sandbox) {} }
        try fixture.edit(fixture.acmeContract, replacing: "format: json", with: "format: json\nschedule: \"0 0 31 2 *\"")
        let result = try validate(fixture)
        #expect(result.status == 2 && result.stdout.contains("never fires"), "\(result.output)")
        try fixture.edit(fixture.acmeContract, replacing: "0 0 31 2 *", with: "0 0 29 2 *")
        #expect(try validate(fixture).status == 0, "29 February fires in leap years")
    }

    /// Runs the `openssl` command line with `arguments`; its exit status.
    func openssl(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    @Test("15: an encrypted client key needs client_key_password_env; with it, mTLS works and nothing prompts")
    func encryptedKey() throws {
        let (sandbox, fixture) = try fixture()
        defer { withExtendedLifetime(sandbox) {} }
        let encrypted = fixture.folder.appendingPathComponent("client-enc.key").path
        #expect(try openssl(["pkey", "-in", Sandbox.pki("client.key"), "-aes256", "-passout", "pass:Quokka-42", "-out", encrypted]) == 0)
        let globex = fixture.config.appendingPathComponent("partners/globex.yaml")
        try fixture.edit(globex, replacing: Sandbox.pki("client.key"), with: encrypted)
        let refused = try validate(fixture)
        #expect(refused.status == 2 && refused.stdout.contains("client_key is encrypted"), "\(refused.output)")
        try fixture.edit(globex, replacing: "  gzip: true", with: "  gzip: true\n  client_key_password_env: GLOBEX_KEY_PASSPHRASE")
        #expect(try validate(fixture).status == 0)
        let run = try fixture.run(["run", "globex"], extra: ["GLOBEX_KEY_PASSPHRASE": "Quokka-42"])
        #expect(run.status == 0, "\(run.output)")
        #expect(sandbox.requests().contains { $0.clientCertificate && $0.acknowledged })
        #expect(!run.output.contains("Quokka-42"))
        let missing = try fixture.run(["run", "globex"])
        #expect(missing.status == 1 && missing.output.contains("GLOBEX_KEY_PASSPHRASE"), "a missing passphrase fails the partner, no prompt")
    }

    @Test("15b: a client key that is not the certificate's is refused by validate, before any handshake fails")
    func mismatchedClientKey() throws {
        let (sandbox, fixture) = try fixture()
        defer { withExtendedLifetime(sandbox) {} }
        let other = fixture.folder.appendingPathComponent("other.key").path
        #expect(try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", other]) == 0)
        #expect(try validate(fixture).status == 0, "the shipped pair matches")
        let globex = fixture.config.appendingPathComponent("partners/globex.yaml")
        try fixture.edit(globex, replacing: Sandbox.pki("client.key"), with: other)
        let refused = try validate(fixture)
        #expect(refused.status == 2 && refused.stdout.contains("client_key is not the key of delivery.client_cert"), "\(refused.output)")
        #expect(refused.stdout.contains("globex.yaml:"), "the problem is named by file and line: \(refused.output)")
    }

    @Test("16: YAML aliases are refused at once, long lists are checked in linear time, oversized files are refused")
    func yamlBombs() throws {
        let (sandbox, fixture) = try fixture(globex: false)
        defer { withExtendedLifetime(sandbox) {} }
        let original = try String(contentsOf: fixture.acmeContract, encoding: .utf8)
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 { bomb += "\(Character(UnicodeScalar(97 + level)!)): &\(Character(UnicodeScalar(97 + level)!)) [" + Array(repeating: "*\(Character(UnicodeScalar(96 + level)!))", count: 9).joined(separator: ", ") + "]\n" }
        bomb += "? *j\n: boom\n"
        try Data((original + bomb).utf8).write(to: fixture.acmeContract)
        let started = Date()
        let refused = try validate(fixture)
        #expect(refused.status == 2 && refused.stdout.contains("anchors and aliases"), "\(refused.output)")
        #expect(refused.stdout.contains("partners/acme.yaml:"), "with the file and line")
        #expect(Date().timeIntervalSince(started) < 30, "refused before any expansion")

        let scopes = (0..<15_000).map { "scope-\($0)" }.joined(separator: ", ")
        try Data(original.replacingOccurrences(of: "consent: [partner-offers]", with: "consent: [\(scopes)]").utf8)
            .write(to: fixture.acmeContract)
        let long = try validate(fixture)
        #expect(long.status == 0, "\(long.output.prefix(300))")

        try Data((original + "# " + String(repeating: "x", count: 300 * 1024) + "\n").utf8).write(to: fixture.acmeContract)
        let huge = try validate(fixture)
        #expect(huge.status == 2 && huge.stdout.contains("at most 256 KiB"), "\(huge.output.prefix(300))")
    }

    @Test("17: validate checks what run needs: TLS files, URLs, pins, namespaces", arguments: [
        ("  ca_file: CA", "  ca_file: /nonexistent/ca.pem", "does not exist"),
        ("  ca_file: CA", "  ca_file: /tmp", "not a regular file"),
        ("  url: URL", "  url: \"URL\\r\\nX-Injected: 1\"", "spaces or control characters"),
        ("  url: URL", "  url: \"URL?a=1 b\"", "spaces or control characters"),
        ("  url: URL", "  url: \"URL\\0\"", "spaces or control characters"),
        ("  timeout_seconds", "  pinned_public_key: \"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=;\"\n  timeout_seconds", "pinned_public_key"),
    ])
    func validateLikeRun(_ c: (String, String, String)) throws {
        let (sandbox, fixture) = try fixture(globex: false)
        defer { withExtendedLifetime(sandbox) {} }
        let contract = try String(contentsOf: fixture.acmeContract, encoding: .utf8)
        let url = sandbox.url("/feeds/acme")
        let from = c.0.replacingOccurrences(of: "CA", with: Sandbox.pki("ca.pem")).replacingOccurrences(of: "URL", with: url)
        let to = c.1.replacingOccurrences(of: "URL", with: url)
        #expect(contract.contains(from))
        try Data(contract.replacingOccurrences(of: from, with: to).utf8).write(to: fixture.acmeContract)
        let result = try validate(fixture)
        #expect(result.status == 2 && result.stdout.contains(c.2), "\(result.output)")
    }

    @Test("17: an XML namespace with a control character is refused by validate")
    func namespaceControl() throws {
        let (sandbox, fixture) = try fixture()
        defer { withExtendedLifetime(sandbox) {} }
        try fixture.edit(fixture.config.appendingPathComponent("mappings/globex.yaml"), replacing: "record: member",
                         with: "record: member\nnamespace: \"urn:x\\x01y\"")
        let result = try validate(fixture)
        #expect(result.status == 2 && result.stdout.contains("namespace must be a URI"), "\(result.output)")
    }
}

/// Paths, outputs and exit codes (items 11, 12, 14, 18).
@Suite("Paths and exit codes", .serialized)
struct PathsAndExitCodesTests {
    @Test("11: one-character relative paths work: --out x, --state s, --metrics-file m, demo-data --db d")
    func shortPaths() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 3)
        let cwd = fixture.folder
        let common = ["--config", fixture.config.path, "--db", fixture.database]
        let preview = try Binary.run(["preview", "acme", "--out", "x"] + common, environment: fixture.environment, in: cwd)
        #expect(preview.status == 0 && FileManager.default.fileExists(atPath: cwd.appendingPathComponent("x").path), "\(preview.output)")
        let run = try Binary.run(["run", "acme", "--state", "s", "--metrics-file", "m"] + common, environment: fixture.environment,
                                 in: cwd)
        #expect(run.status == 0, "\(run.output)")
        #expect(FileManager.default.fileExists(atPath: cwd.appendingPathComponent("s").path))
        #expect(FileManager.default.fileExists(atPath: cwd.appendingPathComponent("m").path))
        let demo = try Binary.run(["demo-data", "--customers", "5", "--db", "d"], in: cwd)
        #expect(demo.status == 0 && FileManager.default.fileExists(atPath: cwd.appendingPathComponent("d").path), "\(demo.output)")
        #expect(try Binary.run(["disclosures", "1", "--state", "s"], in: cwd).status == 0)
    }

    @Test("12: preview --reveal shows a 4 MB value whole (linear in its length)")
    func revealLongValue() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 1)
        try fixture.customers().execute("UPDATE customers SET first_name = printf('%.*c', 4000000, 'A')")
        let result = try fixture.run(["preview", "acme", "--reveal", "--limit", "1"])
        #expect(result.status == 0)
        #expect(result.stdout.contains(String(repeating: "A", count: 4_000_000)))
    }

    @Test("14: a failed write to standard output is an error exit", arguments: [["disclosures", "1", "--json"], ["preview", "acme", "--json"],
                                                                                  ["run", "acme"], ["deliveries"]])
    func fullDisk(_ arguments: [String]) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 2)
        #expect(try fixture.run(["run", "acme"]).status == 0)
        let process = Process()
        process.executableURL = Binary.url
        process.arguments = arguments + fixture.options
        process.environment = fixture.environment.merging(["PATH": "/usr/bin:/bin"]) { $1 }
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/full")
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0, "\(arguments)")
        #expect(message.contains("standard output"), "\(message)")
    }

    @Test("18: configuration and environment problems exit 2 with a sentence; deliveries exit 1")
    func exitCodes() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 2)
        let file = fixture.folder.appendingPathComponent("a-file").path
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let underFile = try Binary.run(["run", "acme", "--config", fixture.config.path, "--db", fixture.database, "--state",
                                        file + "/ledger.sqlite"], environment: fixture.environment)
        #expect(underFile.status == 2 && underFile.stderr.contains("not a folder"), "\(underFile.output)")
        #expect(!underFile.stderr.contains("NSCocoaErrorDomain"))

        let missingDB = ["--config", fixture.config.path, "--db", fixture.folder.appendingPathComponent("nope.sqlite").path,
                         "--state", fixture.state]
        for arguments in [["run", "acme"], ["preview", "acme"], ["run", "acme", "--dry-run"]] {
            let result = try Binary.run(arguments + missingDB, environment: fixture.environment)
            #expect(result.status == 2 && result.stderr.contains("does not exist") && !result.output.contains("rerun --failed"),
                    "\(arguments): \(result.output)")
        }
        try fixture.customers().execute("ALTER TABLE customers DROP COLUMN country")
        for arguments in [["run", "acme"], ["preview", "acme"], ["run", "acme", "--dry-run"]] {
            let result = try fixture.run(arguments)
            #expect(result.status == 2 && result.stderr.contains("no column 'country'"), "\(arguments): \(result.output)")
        }
        try fixture.customers().execute("DROP TABLE consents")
        #expect(try fixture.run(["run", "acme"]).status == 2)
    }
}
