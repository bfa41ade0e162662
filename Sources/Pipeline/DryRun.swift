import CustomerSource
import ExportCore
import Foundation
import FeedRendering

/// `run --dry-run`: every batch of one partner rendered to files (mode 0600), nothing sent, nothing recorded.
public struct DryRun {
    public let job: ExportJob
    /// The partner's folder for this run (created, mode 0700).
    public let folder: String

    public init(job: ExportJob, folder: String) {
        self.job = job
        self.folder = folder
    }

    public func run(runID: String, generatedAt: String) throws -> ExportTally {
        try Folders.create(folder)
        let ext = job.plan.partner.contract.format.fileExtension
        return try job.runBatches(runID: runID, generatedAt: generatedAt,
                                  deliveryID: { "\(runID)-b\($0)" }) { batch in
            let name = String(format: "batch-%06d.%@", batch.number, ext)
            try OutputFile.write(batch.parts, to: (folder as NSString).appendingPathComponent(name))
        }
    }
}

/// Folders for the tool's own files: readable by the owner only (they hold personal data).
public enum Folders {
    public static func create(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw OutputError(path: path, errno: ENOTDIR) }
            return
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }
}
