import Foundation
import Synchronization

/// A loopback listener that counts the connections made to it (each closed at once): for tests that
/// something is never fetched. A connection the kernel completed but nobody accepted yet is counted
/// too when ``connections`` is read, so the count is exact once the clients have exited.
public final class ConnectionCounter: Sendable {
    public let port: Int
    private let fd: Int32
    private let state = Mutex((accepted: 0, running: true))

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0, fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0 else {
            throw SandboxError(description: "cannot listen on loopback")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        start()
    }

    private func start() {
        let thread = Thread { [self] in
            while state.withLock({ $0.running }) {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 100) > 0 else { continue }
                state.withLock { drain(&$0.accepted) }
            }
        }
        thread.start()
    }

    /// Accepts (and closes) every connection waiting in the backlog.
    private func drain(_ accepted: inout Int) {
        while true {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            accepted += 1
            close(client)
        }
    }

    public var connections: Int {
        state.withLock { state in
            drain(&state.accepted)
            return state.accepted
        }
    }

    deinit {
        state.withLock { $0.running = false }
        close(fd)
    }
}
