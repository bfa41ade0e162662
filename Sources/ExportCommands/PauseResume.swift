import ArgumentParser
import ExportCore
import Foundation
import Ledger

extension PartnerExportCommand {
    /// Who is acting, for the ledger: `--by`, else the login (the sudo user's, when run through sudo) at this host.
    static func actor(_ given: String?, environment: [String: String]) -> String {
        if let given, !given.isEmpty { return given }
        let user = environment["SUDO_USER"] ?? environment["USER"] ?? environment["LOGNAME"] ?? "uid \(getuid())"
        return "\(user)@\(ProcessInfo.processInfo.hostName)"
    }

    /// `pause P --reason TEXT`: runs skip the partner (every worker, from its next batch) until `resume`.
    struct Pause: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop sending to a partner (its API is being migrated, a contract is under review) until 'resume'.",
            discussion: """
                Recorded in the ledger with who, when and why, so that every worker sees it: a run in progress sends no \
                new batch of the partner after its next one starts (batches in flight settle); later runs, --all and \
                --due skip it with a line in the report, and rerun refuses it. What it is owed stays owed and listed \
                ('deliveries --failed'). The contract is not touched.
                """)

        @OptionGroup var common: CommonOptions

        @Argument(help: "The partner's id.")
        var partner: String

        @Option(help: "Why (recorded with the pause, shown by run reports and 'runs').")
        var reason: String

        @Option(help: "Who pauses it (default: the login at this host).")
        var by: String?

        func validate() throws {
            guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw ValidationError("--reason must say why (it is recorded for whoever looks later)")
            }
        }

        func run() throws {
            common.startLogging()
            // An emergency stop must not wait for the rest of the configuration to hold together: the contract
            // file is enough to know the partner (its id is its file's name).
            let contract = URL(fileURLWithPath: common.configDirectory).appendingPathComponent("partners/\(partner).yaml").path
            guard partner.utf8.allSatisfy({ $0 > 0x20 && $0 != UInt8(ascii: "/") }), FileManager.default.fileExists(atPath: contract) else {
                throw ExportError.usage("there is no partner '\(partner)' in \(common.configDirectory) (no partners/\(partner).yaml)")
            }
            let ledger = try common.ledger.open(.write(create: true))
            let actor = PartnerExportCommand.actor(by, environment: common.environment)
            let now = Timestamps.rfc3339(CommandContext.time.now())
            try ledger.pause(partner: partner, reason: reason, by: actor, at: now)
            let control = try ledger.partnerControl(partner)
            let owed = try ledger.owed(partner: partner).count
            try StandardOutput.line("\(partner): \(control?.pauseSentence ?? "paused"). Runs skip it until "
                                    + "'partner-export resume \(partner)'; what it is owed stays owed (\(owed) deliveries now).")
        }
    }

    /// `resume P`: ends a pause (and a wait the partner asked for); the next run sends what is owed.
    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Let a paused partner run again (also ends a wait its Retry-After asked for).")

        @OptionGroup var common: CommonOptions

        @Argument(help: "The partner's id.")
        var partner: String

        @Option(help: "Who resumes it (default: the login at this host).")
        var by: String?

        func run() throws {
            common.startLogging()
            let ledger = try common.ledger.open(.write(create: false))
            let actor = PartnerExportCommand.actor(by, environment: common.environment)
            let now = Timestamps.rfc3339(CommandContext.time.now())
            guard let was = try ledger.resume(partner: partner, by: actor, at: now) else {
                try StandardOutput.line("\(partner) is not paused and has no wait on record: nothing to resume.")
                return
            }
            let owed = try ledger.owed(partner: partner).count
            let what = was.pauseSentence ?? "waiting until \(was.waitUntil ?? "?") (\(was.waitReason ?? "Retry-After"))"
            try StandardOutput.line("\(partner) resumed by \(actor) (it was \(what)). Its next run sends what it is owed "
                                    + "(\(owed) deliveries now): 'partner-export run \(partner)' or 'partner-export rerun --failed "
                                    + "--partner \(partner)'.")
        }
    }
}
