/// `notify.yaml` (docs/design.md, "Operating partners"): a cron monitor's heartbeat URL and an
/// incident webhook. Names of secrets only, never their values.
public struct NotifySettings: Sendable, Equatable {
    /// Pinged with GET: `<url>/start` when a run starts, `<url>` when it succeeds, `<url>/fail` when it
    /// exits 1 or 2 (healthchecks-style).
    public struct Heartbeat: Sendable, Equatable {
        public let url: String
        public let caFile: String?

        public init(url: String, caFile: String? = nil) {
            self.url = url
            self.caFile = caFile
        }
    }

    /// Incidents, as Standard Webhooks-signed JSON POSTs.
    public struct Webhook: Sendable, Equatable {
        public let url: String
        public let caFile: String?
        public let signingSecretEnv: String
        public let events: Set<String>

        public init(url: String, caFile: String? = nil, signingSecretEnv: String, events: Set<String> = Set(NotifySettings.eventTypes)) {
            self.url = url
            self.caFile = caFile
            self.signingSecretEnv = signingSecretEnv
            self.events = events
        }
    }

    public var heartbeat: Heartbeat?
    public var webhook: Webhook?

    public init(heartbeat: Heartbeat? = nil, webhook: Webhook? = nil) {
        self.heartbeat = heartbeat
        self.webhook = webhook
    }

    /// Every incident type; each is followed by `<type>.resolved` when its cause is gone.
    public static let eventTypes = ["feed.incomplete", "delivery.exhausted", "guard.held", "audit.failed", "payload.altered",
                                    "partner.paused", "auth.failed"]
}
