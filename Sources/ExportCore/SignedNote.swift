import CCrypto
import Foundation

/// An Ed25519 key pair (RFC 8032) from OpenSSL's libcrypto.
public struct Ed25519Key: Sendable {
    /// The 32-byte private key (RFC 8032's seed).
    public let seed: [UInt8]
    public let publicKey: [UInt8]

    public static func generate() throws -> Ed25519Key {
        var seed = [UInt8](repeating: 0, count: 32)
        var publicKey = [UInt8](repeating: 0, count: 32)
        guard pe_ed25519_generate(&seed, &publicKey) == 0 else { throw SignedNoteError("libcrypto could not make an Ed25519 key") }
        return Ed25519Key(seed: seed, publicKey: publicKey)
    }

    public init(seed: [UInt8]) throws {
        guard seed.count == 32 else { throw SignedNoteError("an Ed25519 private key has 32 bytes") }
        var publicKey = [UInt8](repeating: 0, count: 32)
        guard pe_ed25519_public_key(seed, &publicKey) == 0 else { throw SignedNoteError("libcrypto refused the Ed25519 key") }
        self.seed = seed
        self.publicKey = publicKey
    }

    private init(seed: [UInt8], publicKey: [UInt8]) {
        self.seed = seed
        self.publicKey = publicKey
    }

    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 64)
        guard pe_ed25519_sign(seed, message, message.count, &signature) == 0 else { throw SignedNoteError("libcrypto could not sign") }
        return signature
    }

    public static func isValid(signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        signature.count == 64 && publicKey.count == 32 && pe_ed25519_verify(publicKey, message, message.count, signature) == 0
    }
}

/// The C2SP signed-note conventions for Ed25519 keys: a key's id is the first 4 bytes of
/// SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key); the verifier key is `name+hex id+base64(0x01 ‖ public
/// key)`; the signer key (kept secret) `PRIVATE+KEY+name+hex id+base64(0x01 ‖ private key)`.
public struct NoteSigner: Sendable {
    public let name: String
    public let key: Ed25519Key

    public init(name: String, key: Ed25519Key) throws {
        try NoteVerifier.checkName(name)
        self.name = name
        self.key = key
    }

    public var keyID: [UInt8] { NoteVerifier.keyID(name: name, publicKey: key.publicKey) }

    public var verifier: NoteVerifier { NoteVerifier(name: name, publicKey: key.publicKey) }

    /// The secret form, for the key file.
    public var encoded: String {
        "PRIVATE+KEY+\(name)+\(Hex.string(keyID))+" + Data([0x01] + key.seed).base64EncodedString()
    }

    public init(encoded text: String) throws {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY", let bytes = Data(base64Encoded: String(parts[4])),
              bytes.count == 33, bytes.first == 0x01 else {
            throw SignedNoteError("not a signer key (expected PRIVATE+KEY+name+id+key)")
        }
        try self.init(name: String(parts[2]), key: try Ed25519Key(seed: Array(bytes.dropFirst())))
        guard Hex.string(keyID) == parts[3] else { throw SignedNoteError("the signer key's id does not match its key") }
    }

    /// A signed note: the text (ending in a newline), a blank line, and this key's signature line.
    public func sign(_ text: String) throws -> String {
        precondition(text.hasSuffix("\n"), "a note's text ends with a newline")
        let signature = try key.sign(Array(text.utf8))
        return text + "\n" + "\u{2014} \(name) " + Data(keyID + signature).base64EncodedString() + "\n"
    }

}

public struct NoteVerifier: Sendable, Equatable {
    public let name: String
    public let publicKey: [UInt8]

    public init(name: String, publicKey: [UInt8]) {
        self.name = name
        self.publicKey = publicKey
    }

    /// `name+hex id+base64(0x01 ‖ public key)`.
    public init(encoded text: String) throws {
        // The key is base64, which may hold '+': only the first two separate.
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let bytes = Data(base64Encoded: String(parts[2])), bytes.count == 33, bytes.first == 0x01 else {
            throw SignedNoteError("not a verifier key (expected name+id+key)")
        }
        self.init(name: String(parts[0]), publicKey: Array(bytes.dropFirst()))
        guard Hex.string(keyID) == parts[1] else { throw SignedNoteError("the verifier key's id does not match its key") }
    }

    public var keyID: [UInt8] { Self.keyID(name: name, publicKey: publicKey) }

    /// The key id in hex, as the verifier key shows it.
    public var keyIDHex: String { Hex.string(keyID) }

    public var encoded: String { "\(name)+\(Hex.string(keyID))+" + Data([0x01] + publicKey).base64EncodedString() }

    static func keyID(name: String, publicKey: [UInt8]) -> [UInt8] {
        var hasher = SHA256Hasher()
        hasher.update(Array(name.utf8) + [0x0A, 0x01] + publicKey)
        return hasher.finalize { Array($0.prefix(4)) }
    }

    static func checkName(_ name: String) throws {
        guard !name.isEmpty, !name.contains("+"), !name.unicodeScalars.contains(where: { $0.properties.isWhitespace }) else {
            throw SignedNoteError("a key name is non-empty, without spaces or '+': \(name.debugDescription)")
        }
    }

    /// The note's text when this key signed it; throws saying why not.
    public func verify(_ note: String) throws -> String {
        var note = note
        while note.hasSuffix("\n\n") { note.removeLast() }
        guard let split = note.range(of: "\n\n", options: .backwards) else { throw SignedNoteError("not a signed note (no blank line before the signatures)") }
        let text = String(note[..<split.lowerBound]) + "\n"
        let lines = note[split.upperBound...].split(separator: "\n", omittingEmptySubsequences: true)
        guard !lines.isEmpty else { throw SignedNoteError("the note carries no signature") }
        var named = false
        for line in lines {
            guard line.hasPrefix("\u{2014} ") else { throw SignedNoteError("a signature line does not start with '— '") }
            let fields = line.dropFirst(2).split(separator: " ")
            guard fields.count == 2, fields[0] == name else { continue }
            // Canonical base64 only: a decoder ignores the unused bits of the last character, so without this
            // check a changed signature line (the same signature) would still verify (found by `make fuzz`).
            guard let bytes = Data(base64Encoded: String(fields[1])), bytes.count == 68,
                  bytes.base64EncodedString() == fields[1] else { continue }
            guard Array(bytes.prefix(4)) == keyID else { continue }
            named = true
            if Ed25519Key.isValid(signature: Array(bytes.dropFirst(4)), of: Array(text.utf8), publicKey: publicKey) { return text }
        }
        throw SignedNoteError(named ? "the signature of \(name) does not match the note (altered, or forged)"
                                    : "not signed by \(name)'s key \(Hex.string(keyID))")
    }
}

/// A C2SP `tlog-checkpoint`: origin, tree size, root hash (base64), each on its line; then, once
/// `prune` has removed a prefix of the log, the extension line `pruned <n>` (how many of the first
/// entries the ledger no longer holds), so that a prune nobody signed shows; and any other extension
/// lines (an accepted rollback's record, docs/audit.md), kept in order.
public struct Checkpoint: Sendable, Equatable {
    public let origin: String
    public let size: UInt64
    public let root: [UInt8]
    public let pruned: UInt64
    /// Extension lines other than `pruned` (each one line of printable text).
    public let extensions: [String]

    public init(origin: String, size: UInt64, root: [UInt8], pruned: UInt64 = 0, extensions: [String] = []) {
        self.origin = origin
        self.size = size
        self.root = root
        self.pruned = pruned
        self.extensions = extensions
    }

    public var text: String {
        "\(origin)\n\(size)\n\(Data(root).base64EncodedString())\n" + (pruned > 0 ? "pruned \(pruned)\n" : "")
            + extensions.map { $0 + "\n" }.joined()
    }

    /// Whether the two say the same about the log (origin, size, root, pruned), whatever else they record.
    public func sameTree(as other: Checkpoint) -> Bool {
        origin == other.origin && size == other.size && root == other.root && pruned == other.pruned
    }

    /// Reads a checkpoint from a signed note that `verifier` signed.
    public init(note: String, verifier: NoteVerifier) throws {
        let text = try verifier.verify(note)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, let size = UInt64(lines[1]), let root = Data(base64Encoded: String(lines[2])), root.count == 32 else {
            throw SignedNoteError("not a checkpoint (origin, size and root hash lines)")
        }
        var pruned: UInt64 = 0
        var extensions: [String] = []
        // The text ends with a newline: its last "line" is empty.
        for line in lines.dropFirst(3).dropLast() {
            if line.hasPrefix("pruned ") {
                guard let n = UInt64(line.dropFirst(7)), n <= size else { throw SignedNoteError("a checkpoint's pruned line is not a count") }
                pruned = n
            } else {
                extensions.append(String(line))
            }
        }
        self.init(origin: String(lines[0]), size: size, root: Array(root), pruned: pruned, extensions: extensions)
    }
}

public struct SignedNoteError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}
