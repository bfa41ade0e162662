// For the tests only, never shipped: partner-export with its clock fixed at PARTNER_EXPORT_NOW (RFC 3339),
// so that schedules, retention and golden files can be checked at chosen times. The production
// executable has no way to move its clock.
import ExportCommands
import ExportCore
import Foundation

if let text = ProcessInfo.processInfo.environment["PARTNER_EXPORT_NOW"], let fixed = Timestamps.parse(text) {
    CommandContext.fixClock(at: fixed)
}
PartnerExportCommand.runAndExit()
