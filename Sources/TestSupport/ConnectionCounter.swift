import Foundation

/// A TCP listener on loopback that only counts the connections made to it (to prove nothing was fetched).
public final class ConnectionCounter: @unchecked Sendable {
    public let port: Int
    private let fd: Int32
    private let lock = NSLock()
    private var accepted = 0
    private var running = true

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
        guard bound == 0, listen(fd, 16) == 0 else { throw SandboxError(description: "cannot listen on loopback") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        start()
    }

    private func start() {
        let fd = self.fd
        let thread = Thread { [self] in
            while isRunning {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 100) > 0 else { continue }
                let client = accept(fd, nil, nil)
                if client >= 0 {
                    lock.lock()
                    accepted += 1
                    lock.unlock()
                    close(client)
                }
            }
        }
        thread.start()
    }

    private var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return running
    }

    public var connections: Int {
        lock.lock()
        defer { lock.unlock() }
        return accepted
    }

    deinit {
        lock.lock()
        running = false
        lock.unlock()
        close(fd)
    }
}
