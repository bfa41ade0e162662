import CCurl
import ExportCore
import Foundation
import Synchronization

/// Sends notify.yaml's heartbeat pings and incident webhooks: HTTPS only, verification on, no
/// redirects, and never longer than the time left in ``Budget`` — a notification endpoint that is
/// down must not slow a run down by more than a few seconds, nor fail it.
public final class NotifyClient {
    /// The time every notification of one command may take together (counted while they are sent,
    /// not while the run works), and the hosts that failed.
    public final class Budget: Sendable {
        private let state: Mutex<(spentNanoseconds: UInt64, failedHosts: Set<String>)>
        private let allowed: UInt64

        public init(seconds: Double = 10) {
            allowed = UInt64(seconds * 1e9)
            state = Mutex((0, []))
        }

        var remainingMilliseconds: Int {
            state.withLock { $0.spentNanoseconds >= allowed ? 0 : Int((allowed - $0.spentNanoseconds) / 1_000_000) }
        }

        func spend(since start: UInt64) {
            let elapsed = DispatchTime.now().uptimeNanoseconds - start
            state.withLock { $0.spentNanoseconds += elapsed }
        }

        func failed(_ host: String) -> Bool { state.withLock { $0.failedHosts.contains(host) } }
        func fail(_ host: String) { _ = state.withLock { $0.failedHosts.insert(host) } }
    }

    /// What a notification came to: the status, or why there was none.
    public struct Outcome: Sendable {
        public let status: Int?
        public let problem: String?
        public var ok: Bool { status.map { (200...299).contains($0) } ?? false }
    }

    private let budget: Budget
    private let caFile: String?

    public init(caFile: String?, budget: Budget) {
        self.caFile = caFile
        self.budget = budget
    }

    /// GET `url` (a heartbeat ping).
    public func get(_ url: String) -> Outcome { perform(url, body: nil, headers: []) }

    /// POST `body` as JSON, signed with the Standard Webhooks headers under `key`.
    public func post(_ url: String, json body: [UInt8], id: String, key: [UInt8], timestamp: Int64) -> Outcome {
        let signature = WebhookSignature.sign(id: id, timestamp: timestamp, body: body, key: key)
        return perform(url, body: body, headers: ["Content-Type: application/json", "webhook-id: \(id)",
                                                  "webhook-timestamp: \(timestamp)", "webhook-signature: \(signature)"])
    }

    /// The host (and port) of `url`, for messages (a heartbeat URL's path is its secret-ish capability).
    public static func host(of url: String) -> String {
        guard let components = URLComponents(string: url), let host = components.host else { return "the notification host" }
        return components.port.map { "\(host):\($0)" } ?? host
    }

    private func perform(_ url: String, body: [UInt8]?, headers: [String]) -> Outcome {
        let host = Self.host(of: url)
        guard !budget.failed(host) else { return Outcome(status: nil, problem: "skipped: \(host) failed earlier in this command") }
        let remaining = budget.remainingMilliseconds
        guard remaining > 0 else { return Outcome(status: nil, problem: "skipped: the notifications' 10 s were used up") }
        let started = DispatchTime.now().uptimeNanoseconds
        defer { budget.spend(since: started) }
        do {
            let handle = try CurlHandle()
            try HTTPSClient.secure(handle, caFile: caFile)
            try handle.set(CURLOPT_URL, url)
            try handle.set(CURLOPT_CONNECTTIMEOUT_MS, min(remaining, 5000))
            try handle.set(CURLOPT_TIMEOUT_MS, remaining)
            let list = CurlHeaders(headers + ["Expect:"])
            try handle.set(CURLOPT_HTTPHEADER, pointer: UnsafeMutableRawPointer(list.list))
            if let body {
                try handle.set(CURLOPT_POST, 1)
                try handle.set(CURLOPT_COPYPOSTFIELDS, String(decoding: body, as: UTF8.self))
            } else {
                try handle.set(CURLOPT_HTTPGET, 1)
            }
            // The answer is not read (nothing in it changes what happens next).
            _ = pe_curl_setopt_data_callback(handle.raw, CURLOPT_WRITEFUNCTION) { _, size, count, _ in size * count }
            let code = withExtendedLifetime(list) { curl_easy_perform(handle.raw) }
            let status = handle.info(CURLINFO_RESPONSE_CODE)
            guard code == CURLE_OK, status > 0 else {
                budget.fail(host)
                return Outcome(status: nil, problem: "\(host): \(handle.message(code)) (curl \(code.rawValue))")
            }
            if !(200...299).contains(status) { return Outcome(status: status, problem: "\(host) answered HTTP \(status)") }
            return Outcome(status: status, problem: nil)
        } catch {
            return Outcome(status: nil, problem: "\(host): \(error)")
        }
    }
}
