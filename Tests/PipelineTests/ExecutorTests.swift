import ExportCore
@testable import ExportConfig
import Foundation
import Ledger
@testable import Pipeline
import Synchronization
import TestSupport
import Testing

/// The executor over a SQLite ledger's in-memory queue, driven directly: what happens to an item
/// whose own work fails before its partner could run.
@Suite("Executor")
struct ExecutorTests {
    @Test("an item whose ledger connection cannot be made ends failed with its error, and the other items still get theirs: no item is left running, nothing hangs")
    func itemFailureIsRecorded() throws {
        let folder = TestFiles.temporaryDirectory("executor")
        let state = folder.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let ledger = try SQLiteLedger.open(at: state.appendingPathComponent("ledger.sqlite").path, access: .write(create: true))
        let configuration = Configuration(directory: folder, partners: [makePartner("p", fields: [MappedField(name: "id", from: "id")])],
                                          locations: [:])
        var settings = Runner.Settings(configuration: configuration, sourcePath: folder.appendingPathComponent("none.sqlite").path,
                                       statePath: state.appendingPathComponent("ledger.sqlite").path, environment: [:])
        settings.parallel = 1
        let runner = Runner(settings)
        let queue = LocalWorkQueue()
        let items = (1...2).map { RunItem(runID: "run_1", partner: "p", shard: $0, shards: 2, range: .all) }
        let started = try queue.start(NewRun(id: "run_1", trigger: .manual, partners: ["p"], startedAt: "2026-12-07T00:00:00Z",
                                             allowDeletions: false), items: items, on: ledger)
        let lock = try StateLock(folder: state.path, now: "2026-12-07T00:00:00Z")
        let context = RunContext(runID: started.run, trigger: .manual, sourcePath: settings.sourcePath, sourceModel: .canonical,
                                 payloads: FilePayloadStore(folder: state.path), policy: RetryPolicy(), time: .system,
                                 random: SystemRandomSource(), events: .none, allowDeletions: false)
        // The claiming thread's own connection is made; every item's connection fails.
        let made = Mutex(0)
        let base = ledger.connector
        let connector = LedgerConnector {
            let first = made.withLock { made in
                defer { made += 1 }
                return made == 0
            }
            guard first else { throw ExportError.ledger("the ledger went away (made by the test)") }
            return try base.connect()
        }
        let executor = Executor(runner: runner, queue: queue, lock: lock, mode: .run, context: context)
        // On a thread, so that a hang is a failed expectation, not a stuck suite.
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<String?>(nil)
        Thread {
            do { try executor.work(connector: connector) } catch { outcome.withLock { $0 = "\(error)" } }
            done.signal()
        }.start()
        #expect(done.wait(timeout: .now() + 60) == .success, "the executor came back")
        #expect(outcome.withLock { $0 } == nil, "an item's failure is the item's, not the run's")
        let ended = try queue.items(run: started.run, on: ledger)
        #expect(ended.map(\.status) == [.failed, .failed], "\(ended)")
        for item in ended {
            let result = try JSONCoding.decode(PartnerResult.self, from: item.report ?? "")
            #expect(result.status == .error && result.error?.message.contains("the ledger went away") == true
                    && result.error?.message.contains("shard \(item.shard) of 2") == true, "\(result)")
        }
        withExtendedLifetime(lock) {}
    }
}
