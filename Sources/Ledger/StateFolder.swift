import ExportCore
import Foundation

/// The folder holding the ledger and everything else the tool writes (payloads, the lock, metrics,
/// dry-run feeds): personal data, so it must be the user's own and closed to everyone else.
///
/// The tool may run as root, or as a user of its own, next to files other people own: a folder that
/// others can write to would let them plant a symlink where the tool is about to write customer data,
/// or swap the ledger a privacy officer reads; commands that only read refuse it too. Such a folder is
/// refused with a sentence saying how to fix it; a missing one is created with mode 0700.
public enum StateFolder {
    /// Checks `path` (creating it, mode 0700, when `create` and missing).
    public static func check(_ path: String, create: Bool) throws {
        var info = stat()
        if lstat(path, &info) != 0 {
            guard errno == ENOENT else { throw failure(path, "cannot be examined", errno) }
            guard create else {
                throw ExportError.environment("the state folder \(path) does not exist (pass --state or set PARTNER_EXPORT_STATE)")
            }
            try createFolders(path)
            return
        }
        // A symlinked state folder is fine (a deployment's choice); what it points to is checked.
        guard stat(path, &info) == 0 else { throw failure(path, "cannot be followed", errno) }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw ExportError.environment("the state folder \(path) is not a folder; pass --state with a path in a folder of its own")
        }
        try checkOwnership(path, info)
    }

    /// A folder the tool is about to write into must be owned by the user running it (or root) and
    /// writable by nobody else.
    static func checkOwnership(_ path: String, _ info: stat) throws {
        let uid = geteuid()
        if info.st_uid != uid && info.st_uid != 0 {
            throw ExportError.environment("the state folder \(path) belongs to another user (uid \(info.st_uid)); "
                                          + "the ledger and payloads hold personal data: use a folder of your own "
                                          + "(or chown it to uid \(uid))")
        }
        if info.st_mode & (S_IWGRP | S_IWOTH) != 0 {
            throw ExportError.environment("the state folder \(path) can be written by others (mode "
                                          + String(info.st_mode & 0o7777, radix: 8) + "): someone could plant a link where "
                                          + "customer data is written, or swap the ledger someone reads. Fix it with: chmod 700 '\(path)'")
        }
    }

    /// Creates `path` and any missing parent with mode 0700, refusing a parent others can write to.
    static func createFolders(_ path: String) throws {
        let parent = Paths.folder(of: path)
        if !parent.isEmpty && parent != path {
            var info = stat()
            if stat(parent, &info) != 0 {
                guard errno == ENOENT else { throw failure(parent, "cannot be examined", errno) }
                try createFolders(parent)
            } else if info.st_mode & S_IFMT != S_IFDIR {
                throw ExportError.environment("\(parent) is not a folder, so the state folder \(path) cannot be made in it")
            } else if info.st_mode & S_IWOTH != 0 && info.st_mode & S_ISVTX == 0 {
                throw ExportError.environment("\(parent) can be written by everyone; the state folder \(path) is not made in it. "
                                              + "Pick a folder of your own for --state")
            }
        }
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw failure(path, "cannot be created", errno) }
        chmod(path, 0o700)
    }

    static func failure(_ path: String, _ what: String, _ code: Int32) -> ExportError {
        ExportError.environment("the state folder \(path) \(what): \(String(cString: strerror(code)))")
    }
}
