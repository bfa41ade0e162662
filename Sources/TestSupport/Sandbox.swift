import Foundation

/// The project's partner sandbox (`sandbox/partner_sandbox.py`) run for a test: real TLS on
/// loopback, a CA made at test time, faults on demand, every request recorded.
public final class Sandbox {
    public let folder: URL
    public let ports: [String: Int]
    private let process: Process

    /// One recorded request.
    public struct Request {
        public let seq: Int
        public let path: String
        public let method: String
        public let idempotencyKey: String?
        public let status: Int?
        public let signatureValid: Bool?
        public let clientCertificate: Bool
        public let duplicate: Bool
        public let headers: [String: String]
        public let bodySHA256: String
        public let bodyFile: String?
        /// When the sandbox had read the request (seconds since 1970).
        public var time: Double = 0

        public var body: Data? { bodyFile.flatMap { FileManager.default.contents(atPath: $0) } }
        public var acknowledged: Bool { status.map { (200...299).contains($0) } ?? false }
    }

    /// The throw-away PKI (made once per test process by `sandbox/make-pki.sh`); a failure to make it
    /// stops the test process with openssl's own words, rather than failing every TLS test obscurely.
    public static let pki: URL = {
        let folder = TestFiles.temporaryDirectory("pki")
        let script = TestFiles.packageRoot.appendingPathComponent("sandbox/make-pki.sh").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["bash", script, folder.path]
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        do {
            try process.run()
        } catch {
            fatalError("sandbox/make-pki.sh could not be started: \(error)")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              ["ca.pem", "server.pem", "server.key", "client.pem", "client.key"].allSatisfy({
                  FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }) else {
            fatalError("sandbox/make-pki.sh failed (exit \(process.terminationStatus)): \(message)")
        }
        return folder
    }()

    public static func pki(_ name: String) -> String { pki.appendingPathComponent(name).path }

    /// Starts a sandbox with `routes` (path → settings, as the sandbox's --routes file) and `environment`
    /// holding the secrets the routes name. `rogue` serves a certificate from an unrelated CA.
    public init(routes: [String: Any], environment: [String: String], rogue: Bool = false, folder existing: URL? = nil) throws {
        folder = existing ?? TestFiles.temporaryDirectory("sandbox")
        try? FileManager.default.removeItem(at: folder.appendingPathComponent("ports.json"))
        let routesFile = folder.appendingPathComponent("routes.json")
        try JSONSerialization.data(withJSONObject: routes).write(to: routesFile)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestFiles.packageRoot.appendingPathComponent("sandbox/partner_sandbox.py").path,
                             "--dir", folder.path,
                             "--cert", Self.pki(rogue ? "rogue-server.pem" : "server.pem"),
                             "--key", Self.pki(rogue ? "rogue-server.key" : "server.key"),
                             "--client-ca", Self.pki("ca.pem"), "--listen", "tls:0", "--listen", "mtls:0", "--mtls", "mtls",
                             "--routes", routesFile.path]
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let portsFile = folder.appendingPathComponent("ports.json")
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: portsFile.path) { usleep(25_000) }
        guard let data = FileManager.default.contents(atPath: portsFile.path),
              let ports = try JSONSerialization.jsonObject(with: data) as? [String: Int] else {
            process.terminate()
            throw SandboxError(description: "the sandbox did not start (is python3 installed?)")
        }
        self.ports = ports
    }

    deinit { stop() }

    public func stop() {
        if process.isRunning {
            // SIGKILL: a child of the test runner may inherit a mask that blocks SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// `https://localhost:<port><path>` on the plain-TLS or the mTLS listener.
    public func url(_ path: String, mtls: Bool = false) -> String {
        "https://localhost:\(ports[mtls ? "mtls" : "tls"] ?? 0)\(path)"
    }

    /// Queues `faults` for the next requests to `path` (after any still queued), through the sandbox's
    /// control endpoint.
    public func addFaults(_ faults: [[String: Any]], path: String) throws {
        let body = try JSONSerialization.data(withJSONObject: ["path": path, "faults": faults])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["curl", "-sS", "--fail", "--cacert", Self.pki("ca.pem"), "-X", "POST", "--data-binary", "@-",
                             url("/_control/faults")]
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(body)
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw SandboxError(description: "the sandbox refused the faults (curl \(process.terminationStatus))") }
    }

    /// Every request recorded so far.
    public func requests() -> [Request] {
        guard let text = try? String(contentsOf: folder.appendingPathComponent("requests.jsonl"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return Request(seq: object["seq"] as? Int ?? 0, path: object["path"] as? String ?? "",
                           method: object["method"] as? String ?? "", idempotencyKey: object["idempotency_key"] as? String,
                           status: object["response_status"] as? Int, signatureValid: object["signature_valid"] as? Bool,
                           clientCertificate: object["client_cert"] as? Bool ?? false, duplicate: object["duplicate"] as? Bool ?? false,
                           headers: object["headers"] as? [String: String] ?? [:], bodySHA256: object["body_sha256"] as? String ?? "",
                           bodyFile: object["body_file"] as? String, time: object["time"] as? Double ?? 0)
        }
    }

    /// Everything the sandbox wrote (its request log and the bodies).
    public var files: [String] { TestFiles.files(under: folder.path) }
}

public struct SandboxError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}
