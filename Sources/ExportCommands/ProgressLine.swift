import Foundation

/// Progress of long work on a terminal: one status line on standard error, per partner, redrawn at
/// most ten times a second — records rendered, batches delivered, retries waiting. Off a terminal
/// (cron, systemd, a pipe) it prints nothing: only the summary.
final class ProgressLine: @unchecked Sendable {
    private struct PartnerState {
        var records = 0
        var batches = 0
        var delivered = 0
        var retries = 0
        var waitingUntil: Date?
    }

    let enabled: Bool
    private let lock = NSLock()
    private var states: [String: PartnerState] = [:]
    private var order: [String] = []
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(enabled: Bool = isatty(STDERR_FILENO) == 1) { self.enabled = enabled }

    func rendered(partner: String, batch: Int, records: Int) {
        update(partner) { state in
            state.records += records
            state.batches = max(state.batches, batch)
        }
    }

    func attempted(partner: String, delivered: Bool, retry: Bool) {
        update(partner) { state in
            if delivered { state.delivered += 1 }
            if retry { state.retries += 1 }
            state.waitingUntil = nil
        }
    }

    func waiting(partner: String, seconds: Double) {
        update(partner) { $0.waitingUntil = Date().addingTimeInterval(seconds) }
        guard enabled else { return }
        lock.lock()
        draw(force: true)
        lock.unlock()
    }

    /// Clears the status line before the summary is printed.
    func finish() {
        guard enabled else { return }
        lock.lock()
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        drawn = false
        lock.unlock()
    }

    private func update(_ partner: String, _ change: (inout PartnerState) -> Void) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        if states[partner] == nil { order.append(partner) }
        change(&states[partner, default: PartnerState()])
        draw(force: false)
    }

    private func draw(force: Bool) {
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let parts = order.map { partner -> String in
            let s = states[partner] ?? PartnerState()
            var text = "\(partner): \(Terminal.count(s.records)) records rendered, \(s.delivered)/\(s.batches) batches delivered"
            if s.retries > 0 { text += ", \(s.retries) retries" }
            if let until = s.waitingUntil, until > now { text += String(format: ", waiting %.0f s to retry", until.timeIntervalSince(now)) }
            return text
        }
        var line = parts.joined(separator: " | ")
        let width = Self.terminalWidth()
        if line.count > width - 1 { line = String(line.prefix(width - 2)) + "…" }
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
        drawn = true
    }

    private static func terminalWidth() -> Int {
        var size = winsize()
        return ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 20 ? Int(size.ws_col) : 100
    }
}
