import ArgumentParser
import Foundation
import Ledger
import Pipeline

extension PartnerExportCommand {
    /// `prune`: retention. Payloads (customer data at rest) go after 30 days; the disclosure
    /// accounting stays for 6 years.
    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete payload files and dry-run feeds past their retention, and ledger rows past theirs.",
            discussion: """
                Payload files are customer data at rest: by default they go after 30 days, except those a failed or \
                rejected delivery still needs for an identical-bytes rerun (--include-failed deletes those too; a later \
                rerun then renders afresh). The ledger (deliveries, attempts, disclosures) is the accounting a privacy \
                officer answers from: by default it is kept 6 years.
                """)

        @OptionGroup var common: CommonOptions

        @Option(help: "Delete payload files and dry-run feeds older than this many days.")
        var payloadsOlderThan = 30

        @Option(help: "Delete ledger rows (deliveries, attempts, disclosures, runs) older than this many days.")
        var ledgerOlderThan = 2190

        @Flag(help: "Also delete the payloads of failed and rejected deliveries.")
        var includeFailed = false

        @Flag(help: "Say what would be deleted, delete nothing.")
        var dryRun = false

        func validate() throws {
            guard payloadsOlderThan >= 0, ledgerOlderThan >= 1 else {
                throw ValidationError("retention periods must be 0 or more days (the ledger's at least 1)")
            }
        }

        func run() throws {
            common.startLogging()
            let folder = common.stateDirectory
            let lock: StateLock
            do { lock = try StateLock(folder: folder) } catch let held as StateLock.Held {
                throw CommandFailure("\(held)", exitCode: 75)
            }
            defer { withExtendedLifetime(lock) {} }
            let ledger = try common.openLedger()
            let store = PayloadStore(folder: ledger.folder)
            let now = Clock.now()
            let payloadCutoff = Clock.rfc3339(now.addingTimeInterval(-Double(payloadsOlderThan) * 86_400))
            let ledgerCutoff = Clock.rfc3339(now.addingTimeInterval(-Double(ledgerOlderThan) * 86_400))

            let (prunable, kept) = try ledger.payloadsToPrune(createdBefore: payloadCutoff, includeFailed: includeFailed)
            var bytes = 0
            for delivery in prunable {
                for path in store.files(of: delivery) {
                    bytes += remove(path)
                }
                if !dryRun { try ledger.markPayloadPruned(delivery, at: Clock.rfc3339(now)) }
            }
            let payloads = prunable.count
            // Files no delivery refers to (left by a crash between writing and recording) and old dry runs.
            let referenced = try ledger.payloadPaths()
            var strays = 0
            for path in self.files(under: store.absolute("payloads")) where isOlder(path, than: now, days: payloadsOlderThan) {
                let relative = String(path.dropFirst(ledger.folder.count + 1))
                let base = relative.hasSuffix(".gz") ? String(relative.dropLast(3)) : relative
                if !referenced.contains(base) {
                    bytes += remove(path)
                    strays += 1
                }
            }
            var dryRuns = 0
            let dryFolder = (folder as NSString).appendingPathComponent("dry-run")
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dryFolder)) ?? [] {
                let path = (dryFolder as NSString).appendingPathComponent(name)
                if isOlder(path, than: now, days: payloadsOlderThan) {
                    bytes += self.files(under: path).reduce(0) { $0 + size($1) }
                    if !dryRun { try? FileManager.default.removeItem(atPath: path) }
                    dryRuns += 1
                }
            }
            var removed = (deliveries: 0, disclosures: 0, runs: 0)
            if !dryRun { removed = try ledger.pruneLedger(createdBefore: ledgerCutoff) }

            let verb = dryRun ? "Would delete" : "Deleted"
            print("\(verb) \(Terminal.count(payloads)) delivery payload(s), \(strays) stray file(s) and \(dryRuns) dry-run folder(s) "
                  + "older than \(payloadsOlderThan) days (\(Terminal.count(bytes)) bytes of customer data at rest).")
            if !kept.isEmpty {
                print("Kept \(kept.count) payload(s) that failed or rejected deliveries still need: "
                      + kept.prefix(5).map(\.id).joined(separator: ", ") + (kept.count > 5 ? ", …" : "")
                      + ". Rerun them, or pass --include-failed.")
            }
            if dryRun {
                print("Ledger rows older than \(ledgerOlderThan) days would be deleted too; nothing was changed.")
            } else {
                print("Ledger: removed \(Terminal.count(removed.deliveries)) deliveries, \(Terminal.count(removed.disclosures)) "
                      + "disclosure rows and \(removed.runs) runs older than \(ledgerOlderThan) days "
                      + "(the disclosure accounting is kept \(ledgerOlderThan) days).")
                common.writeMetrics(ledger, configuration: nil)
            }
        }

        /// Deletes a file (unless dry-run); returns its size (0 when missing).
        private func remove(_ path: String) -> Int {
            let bytes = size(path)
            if !dryRun && bytes >= 0 { unlink(path) }
            return max(0, bytes)
        }

        private func size(_ path: String) -> Int {
            (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
        }

        private func isOlder(_ path: String, than now: Date, days: Int) -> Bool {
            guard let modified = try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date else { return false }
            return modified < now.addingTimeInterval(-Double(days) * 86_400)
        }

        private func files(under folder: String) -> [String] {
            guard let enumerator = FileManager.default.enumerator(atPath: folder) else { return [] }
            var result: [String] = []
            while let name = enumerator.nextObject() as? String {
                let path = (folder as NSString).appendingPathComponent(name)
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue { result.append(path) }
            }
            return result
        }
    }
}
