import ArgumentParser
import Delivery
import ExportConfig
import ExportCore
import Foundation
import Ledger
import Pipeline

/// notify.yaml around `run` and `rerun`: the heartbeat's `/start`, then its success or `/fail` ping,
/// and the incidents the run opened or resolved, as signed webhooks. Every notification of a command
/// shares 10 seconds; one that fails is a warning, never the run's failure.
struct Notifications {
    let settings: NotifySettings?
    let directory: URL
    let environment: [String: String]
    let budget = NotifyClient.Budget(seconds: 10)

    /// notify.yaml read on its own, so that a configuration that does not hold together still pings `/fail`.
    init(_ common: CommonOptions) {
        let directory = URL(fileURLWithPath: common.configDirectory, isDirectory: true)
        let (settings, problems, _) = ConfigLoader.loadNotify(from: directory)
        if !problems.isEmpty {
            Terminal.warning("notify.yaml has \(problems.count) problem(s), so no heartbeat or incident is sent; the run goes on "
                             + "('partner-export validate' names them)")
        }
        self.settings = problems.isEmpty ? settings : nil
        self.directory = directory
        environment = common.environment
    }

    /// Runs `body` between the heartbeat's `/start` and its success (exit 0) or `/fail` (exit 1 or 2) ping.
    /// Exit 75 (another run holds the lock) pings nothing more: that run pings for itself.
    func around(_ body: () throws -> Void) throws {
        ping("/start")
        do {
            try body()
            ping("")
        } catch let error as ExportError {
            if error.exitCode != 75 { ping("/fail") }
            throw error
        } catch let code as ExitCode {
            if code.rawValue == 1 || code.rawValue == 2 { ping("/fail") }
            throw code
        } catch {
            ping("/fail")
            throw error
        }
    }

    private func ping(_ suffix: String) {
        guard let heartbeat = settings?.heartbeat else { return }
        var url = URLComponents(string: heartbeat.url)
        if let path = url?.path { url?.path = (path.hasSuffix("/") ? String(path.dropLast()) : path) + suffix }
        let outcome = NotifyClient(caFile: heartbeat.caFile.map { ConfigPaths.resolve($0, in: directory).path }, budget: budget)
            .get(url?.string ?? heartbeat.url)
        if !outcome.ok {
            Terminal.warning("notify: the heartbeat ping\(suffix.isEmpty ? "" : " " + suffix) was not delivered ("
                             + (outcome.problem ?? "no answer") + "); the run is not affected")
        }
    }

    /// Opens and resolves the incidents `result` (or `failure`) shows, and sends what is to be announced.
    func announce(after result: RunResult?, failure: ExportError?, common: CommonOptions) {
        guard let webhook = settings?.webhook else { return }
        do {
            let ledger = try common.ledger.open(.write(create: false))
            let announcements = try Incidents.update(after: result, failure: failure, ledger: ledger, events: webhook.events,
                                                     now: CommandContext.time.now())
            guard !announcements.isEmpty else { return }
            guard let secret = environment[webhook.signingSecretEnv], secret.hasPrefix("whsec_"),
                  let key = Data(base64Encoded: String(secret.dropFirst(6))), key.count >= 16 else {
                for announcement in announcements { try Incidents.release(announcement, ledger: ledger) }
                Terminal.warning("notify: \(announcements.count) incident(s) not sent: the environment variable "
                                 + "\(webhook.signingSecretEnv) (webhook.signing_secret_env) must hold 'whsec_' and the base64 "
                                 + "of at least 16 bytes")
                return
            }
            let client = NotifyClient(caFile: webhook.caFile.map { ConfigPaths.resolve($0, in: directory).path }, budget: budget)
            for announcement in announcements {
                let outcome = client.post(webhook.url, json: announcement.body, id: announcement.id, key: Array(key),
                                          timestamp: Int64(Date().timeIntervalSince1970))
                if !outcome.ok {
                    try Incidents.release(announcement, ledger: ledger)
                    Terminal.warning("notify: incident \(announcement.type) of \(announcement.partner.isEmpty ? "the ledger" : announcement.partner) "
                                     + "was not delivered (\(outcome.problem ?? "no answer")); it is sent after the next run")
                }
            }
        } catch {
            Terminal.warning("notify: incidents could not be recorded or sent: \(ExportError.wrapping(error).message)")
        }
    }
}
