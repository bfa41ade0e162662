import ExportCore
import Foundation

/// A transport that answers from a script, for the retry loop without a server: each send takes the
/// next answer (200 once the script is used up) and records what was sent.
public final class ScriptedTransport: Transport, @unchecked Sendable {
    private let lock = NSLock()
    private var script: [Exchange]
    public private(set) var sent: [Upload] = []

    public init(_ script: [Exchange]) { self.script = script }

    public func send(_ upload: Upload, timestamp: Int64) throws -> Exchange {
        lock.lock()
        defer { lock.unlock() }
        sent.append(upload)
        return script.isEmpty ? Exchange(status: 200) : script.removeFirst()
    }
}

/// A clock that only moves when the code under test sleeps, recording every wait.
public final class ScriptedClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    public private(set) var waits: [Double] = []

    public init(start: Date = Date(timeIntervalSince1970: 1_795_744_800)) { current = start }

    public var source: TimeSource {
        TimeSource(now: { [self] in
            lock.lock()
            defer { lock.unlock() }
            return current
        }, sleep: { [self] seconds in
            lock.lock()
            waits.append(seconds)
            current = current.addingTimeInterval(seconds)
            lock.unlock()
        })
    }
}
