import ArgumentParser
import CLibXML2
import CMalloc
import CSQLite
import Delivery
import ExportCore
import Foundation

/// The `partner-export` command: shares customer data with partners exactly as the privacy policy promises.
public struct PartnerExportCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "partner-export",
        abstract: "Share opted-in customers' data with partners, minimised to each contract, and record every disclosure.",
        discussion: """
            Exit codes: 0 all good; 1 some deliveries failed, were rejected or held (a feed is incomplete); 2 invalid \
            configuration, environment or usage; 75 another run holds the lock.
            """,
        version: "\(PartnerExportVersion.string) (commit \(PartnerExportVersion.commit); \(CurlGlobal.versions), libxml2 \(String(cString: pe_xml_dotted_version())), "
            + "SQLite \(String(cString: sqlite3_libversion())))",
        subcommands: [Validate.self, PreviewCommand.self, Run.self, Deliveries.self, Rerun.self, Disclosures.self, Runs.self,
                      Pause.self, Resume.self, Ropa.self, Prune.self, AuditCommand.self, DemoDataCommand.self])

    public init() {}

    /// `--log-format json` (or `=json`) among the arguments, or `PARTNER_EXPORT_LOG_FORMAT=json` without one.
    static func asksForJSONLogs(_ arguments: [String]) -> Bool {
        var given: String?
        for (i, argument) in arguments.enumerated() {
            if argument == "--log-format", i + 1 < arguments.count { given = arguments[i + 1] }
            if argument.hasPrefix("--log-format=") { given = String(argument.dropFirst("--log-format=".count)) }
        }
        return (given ?? ProcessInfo.processInfo.environment["PARTNER_EXPORT_LOG_FORMAT"]) == "json"
    }

    /// Parses the arguments, runs the command and exits with the codes docs/design.md fixes ("Exit codes").
    public static func runAndExit(_ arguments: [String]? = nil) -> Never {
        // Batches are large buffers made and freed again and again from several threads. glibc's
        // adaptive threshold would soon serve them from its arenas, which keep freed memory resident;
        // a fixed threshold maps them and gives them back, so memory stays flat (see docs/performance.md).
        _ = pe_malloc_fix_mmap_threshold(128 * 1024)
        // Decided before parsing, so that a usage error is a JSON line too when JSON was asked for.
        Terminal.errorsAsJSON = Self.asksForJSONLogs(arguments ?? Array(CommandLine.arguments.dropFirst()))
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            Foundation.exit(0)
        } catch let error as ExportError {
            Terminal.error(error.message, code: error.code)
            Foundation.exit(error.exitCode)
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                do {
                    try StandardOutput.line(fullMessage(for: error))
                } catch {
                    Foundation.exit(1)
                }
                Foundation.exit(0)
            }
            // Usage errors (exit 64 in ArgumentParser) are exit 2 here, as docs/design.md says ("Exit codes").
            if Terminal.errorsAsJSON {
                Terminal.error(fullMessage(for: error), code: "usage")
            } else {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            }
            Foundation.exit(code == .validationFailure ? 2 : (code.rawValue == 1 ? 1 : 2))
        }
    }
}
