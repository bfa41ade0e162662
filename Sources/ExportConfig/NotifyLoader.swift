import ExportCore
import Foundation
import Yams

/// `notify.yaml` → ``NotifySettings``, every problem with its line.
struct NotifyLoader {
    static let file = "notify.yaml"
    static let topKeys = ["heartbeat", "webhook"]
    static let heartbeatKeys = ["url", "ca_file"]
    static let webhookKeys = ["url", "ca_file", "signing_secret_env", "events"]

    let configDirectory: URL
    var diagnostics = Diagnostics(file: NotifyLoader.file)

    init(configDirectory: URL) { self.configDirectory = configDirectory }

    mutating func load(_ root: Node) -> NotifySettings? {
        guard let map = YAMLMap(root, path: "", diagnostics: &diagnostics) else { return nil }
        map.reportUnknownKeys(allowed: Self.topKeys, diagnostics: &diagnostics)
        var settings = NotifySettings()
        if let node = map.value("heartbeat"), let heartbeat = YAMLMap(node, path: "heartbeat", diagnostics: &diagnostics) {
            heartbeat.reportUnknownKeys(allowed: Self.heartbeatKeys, diagnostics: &diagnostics)
            let url = url(heartbeat)
            let ca = caFile(heartbeat)
            if let url { settings.heartbeat = .init(url: url, caFile: ca) }
        }
        if let node = map.value("webhook"), let webhook = YAMLMap(node, path: "webhook", diagnostics: &diagnostics) {
            webhook.reportUnknownKeys(allowed: Self.webhookKeys, diagnostics: &diagnostics)
            let url = url(webhook)
            let ca = caFile(webhook)
            let secret = webhook.requiredString("signing_secret_env", diagnostics: &diagnostics)
            if let secret, !InlineSecret.isEnvironmentVariableName(secret) {
                diagnostics.report(webhook.value("signing_secret_env")?.mark?.line,
                                   "'webhook.signing_secret_env' must name an environment variable (upper-case letters, digits "
                                   + "and _); if what is written there is the secret itself, remove it and rotate it. The value "
                                   + "was not echoed.")
            }
            var events = Set(NotifySettings.eventTypes)
            if let node = webhook.value("events"), let items = webhook.stringList(node, key: "events", diagnostics: &diagnostics) {
                events = []
                for (event, line) in items {
                    guard NotifySettings.eventTypes.contains(event) else {
                        let suggestion = Suggestion.closest(to: event, among: NotifySettings.eventTypes).map { "; did you mean '\($0)'?" } ?? ""
                        diagnostics.report(line, "webhook.events: '\(event)' is not an incident type\(suggestion) Known: "
                                           + NotifySettings.eventTypes.joined(separator: ", "))
                        continue
                    }
                    events.insert(event)
                }
            }
            if let url, let secret, InlineSecret.isEnvironmentVariableName(secret) {
                settings.webhook = .init(url: url, caFile: ca, signingSecretEnv: secret, events: events)
            }
        }
        guard diagnostics.problems.isEmpty else { return nil }
        return settings
    }

    private mutating func url(_ map: YAMLMap) -> String? {
        guard let url = map.requiredString("url", diagnostics: &diagnostics) else { return nil }
        let problems = HTTPSURL.problems(url, key: map.qualified("url"))
        for problem in problems { diagnostics.report(map.value("url")?.mark?.line, problem) }
        return problems.isEmpty ? url : nil
    }

    private mutating func caFile(_ map: YAMLMap) -> String? {
        guard let path = map.optionalString("ca_file", diagnostics: &diagnostics) else { return nil }
        let resolved = ConfigPaths.resolve(path, in: configDirectory).path
        var info = stat()
        if stat(resolved, &info) != 0 || info.st_mode & S_IFMT != S_IFREG || access(resolved, R_OK) != 0 {
            diagnostics.report(map.value("ca_file")?.mark?.line,
                               "\(map.qualified("ca_file")) '\(path)' is not a readable file (paths are relative to the config folder)")
        }
        return path
    }
}
