import Foundation
import Synchronization

/// Progress of long work on a terminal, on standard error, redrawn at most ten times a second: one
/// line per partner while there are few (records rendered, batches delivered, retries, a retry
/// waiting), one summary line when there are many. Each line fits the terminal. Off a terminal (cron,
/// systemd, a pipe) it prints nothing: only the report.
final class ProgressLine: Sendable {
    fileprivate struct PartnerState {
        var records = 0
        var batches = 0
        var delivered = 0
        var retries = 0
        var waitingUntil: Date?
    }

    /// More partners than this share one summary line.
    static let linesPerPartnerUpTo = 6

    let enabled: Bool
    private let screen = Mutex(Screen())

    init(enabled: Bool = isatty(STDERR_FILENO) == 1 && !Terminal.errorsAsJSON) { self.enabled = enabled }

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
        update(partner, force: true) { $0.waitingUntil = Date().addingTimeInterval(seconds) }
    }

    /// Clears the progress lines before the report is printed.
    func finish() {
        guard enabled else { return }
        screen.withLock { $0.erase() }
    }

    private func update(_ partner: String, force: Bool = false, _ change: (inout PartnerState) -> Void) {
        guard enabled else { return }
        screen.withLock { screen in
            // A partner's first news is drawn at once: every partner gets its line, however fast it is done.
            let first = screen.states[partner] == nil
            if first { screen.order.append(partner) }
            change(&screen.states[partner, default: PartnerState()])
            screen.draw(force: force || first)
        }
    }
}

/// What is on the terminal: each partner's progress and the lines drawn last.
private struct Screen {
    var states: [String: ProgressLine.PartnerState] = [:]
    var order: [String] = []
    var lastDraw = Date.distantPast
    /// Lines currently on the screen (the cursor sits on the last).
    var drawnLines = 0
    typealias PartnerState = ProgressLine.PartnerState

    func describe(_ partner: String, _ s: PartnerState, now: Date) -> String {
        var text = "\(partner): \(Terminal.count(s.records)) records rendered, \(s.delivered)/\(s.batches) batches delivered"
        if s.retries > 0 { text += ", \(s.retries) retries" }
        if let until = s.waitingUntil, until > now { text += String(format: ", waiting %.0f s to retry", until.timeIntervalSince(now)) }
        return text
    }

    mutating func draw(force: Bool) {
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        var lines: [String]
        if order.count <= ProgressLine.linesPerPartnerUpTo {
            lines = order.map { describe($0, states[$0] ?? PartnerState(), now: now) }
        } else {
            let all = order.compactMap { states[$0] }
            let waiting = all.filter { ($0.waitingUntil ?? .distantPast) > now }.count
            lines = ["\(order.count) partners: \(Terminal.count(all.reduce(0) { $0 + $1.records })) records rendered, "
                     + "\(all.reduce(0) { $0 + $1.delivered })/\(all.reduce(0) { $0 + $1.batches }) batches delivered, "
                     + "\(all.reduce(0) { $0 + $1.retries }) retries" + (waiting > 0 ? ", \(waiting) waiting to retry" : "")]
        }
        let width = Terminal.width(of: STDERR_FILENO) ?? 100
        lines = lines.map { Terminal.cut($0, to: width - 1) }
        var out = erasing()
        out += lines.joined(separator: "\n")
        drawnLines = lines.count
        FileHandle.standardError.write(Data(out.utf8))
    }

    /// What clears the lines drawn last and leaves the cursor at the start of the first.
    func erasing() -> String {
        guard drawnLines > 0 else { return "\r\u{1B}[2K" }
        var out = "\r\u{1B}[2K"
        for _ in 1..<drawnLines { out += "\u{1B}[1A\r\u{1B}[2K" }
        return out
    }

    mutating func erase() {
        guard drawnLines > 0 else { return }
        FileHandle.standardError.write(Data(erasing().utf8))
        drawnLines = 0
    }
}
