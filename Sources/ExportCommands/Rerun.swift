import ArgumentParser
import Foundation
import Pipeline

extension PartnerExportCommand {
    /// `rerun`: complete the feeds that failed deliveries left incomplete, under today's consent and contract.
    struct Rerun: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Complete the feeds that failed, rejected or held deliveries left incomplete, under today's consent and contract.",
            discussion: """
                Each owed batch is rendered again under today's consent, filters, contract and mapping. The same records \
                go out as the same bytes under the same delivery id; changed records go out as a new delivery that \
                replaces the old one; when no customer remains, nothing is sent. If the mapping changed since the feed \
                began, the partner's whole feed is sent again in the new shape. Afterwards the partner holds every \
                record that is eligible now, each sent once.
                """)

        @OptionGroup var common: CommonOptions

        @Argument(help: "Delivery ids (from 'partner-export deliveries --failed'): their partners' feeds are completed.")
        var deliveries: [String] = []

        @Flag(help: "Every partner that is owed something.")
        var failed = false

        @Option(help: "With --failed: only this partner's.")
        var partner: String?

        @Flag(help: "Print the report as JSON.")
        var json = false

        @Flag(help: "Send deletion notices even when they exceed a partner's max_deletions_percent of the customers it holds.")
        var allowDeletions = false

        func validate() throws {
            if partner != nil && !failed {
                throw ValidationError("--partner goes with --failed: 'rerun --failed --partner \(partner ?? "")' completes that "
                                      + "partner's feed")
            }
            guard failed != !deliveries.isEmpty else { throw ValidationError("name delivery ids, or pass --failed (not both)") }
        }

        func run() throws {
            common.startLogging()
            let notifications = Notifications(common)
            try notifications.around {
                let configuration = try common.loadConfiguration()
                try RunCommand.execute(failed ? .rerunFailed(partner: partner) : .rerunDeliveries(deliveries), common: common,
                                       configuration: configuration, parallel: 2, json: json, allowDeletions: allowDeletions,
                                       notifications: notifications)
            }
        }
    }
}
