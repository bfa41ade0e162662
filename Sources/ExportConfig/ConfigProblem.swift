/// One problem found in the configuration: the file, the line and a plain sentence saying what to do.
///
/// Messages name keys, fields and variables, never values: a secret written inline by mistake is
/// never echoed.
public struct ConfigProblem: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file, relative to the config folder (e.g. `partners/acme-offers.yaml`).
    public let file: String
    /// 1-based line, when the problem has one.
    public let line: Int?
    public let message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}

/// Problems found while loading, collected so that one pass reports all of them.
struct Diagnostics {
    let file: String
    private(set) var problems: [ConfigProblem] = []

    init(file: String) { self.file = file }

    mutating func report(_ line: Int?, _ message: String) {
        problems.append(ConfigProblem(file: file, line: line, message: message))
    }
}
