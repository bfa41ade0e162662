import Foundation

/// Runs the real `partner-export` binary, as operators do.
public enum Binary {
    public struct Result {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        public var output: String { stdout + stderr }
    }

    /// The built executable beside the test bundle.
    public static var url: URL { executable("partner-export") }

    /// The test-only executable whose clock is fixed at `PARTNER_EXPORT_NOW` (the production one has no such clock).
    public static var fixedClockURL: URL { executable("partner-export-fixed-clock") }

    static func executable(_ name: String) -> URL {
        let candidates = [
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent(name),
            Bundle.main.bundleURL.appendingPathComponent(name),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name),
            TestFiles.packageRoot.appendingPathComponent(".build/debug/\(name)"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[3]
    }

    /// Runs the binary with `arguments` in `directory`, with `environment` added to a clean environment.
    /// With `PARTNER_EXPORT_NOW` in `environment`, the fixed-clock executable runs instead.
    public static func run(_ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil,
                           executable: URL? = nil) throws -> Result {
        let process = Process()
        process.executableURL = executable ?? (environment["PARTNER_EXPORT_NOW"] != nil ? fixedClockURL : url)
        process.arguments = arguments
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "LANG": "C.UTF-8"]
        if let home = ProcessInfo.processInfo.environment["HOME"] { env["HOME"] = home }
        env.merge(environment) { $1 }
        process.environment = env
        if let directory { process.currentDirectoryURL = directory }
        // Files rather than pipes: nothing can fill up and block the child.
        let folder = TestFiles.temporaryDirectory("run")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outURL = folder.appendingPathComponent("stdout")
        let errURL = folder.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try out.close()
        try err.close()
        let outData = (try? Data(contentsOf: outURL)) ?? Data()
        let errData = (try? Data(contentsOf: errURL)) ?? Data()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}
