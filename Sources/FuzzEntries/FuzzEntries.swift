#if !FUZZ_SINGLE_MODULE
import ExportCore
#endif

/// What each fuzz target checks of one input, shared by the libFuzzer binaries `make fuzz` builds
/// (Fuzz/<target>.swift, every source compiled as one module) and the replay test that runs the
/// seeds and every kept finding through the same code without libFuzzer
/// (ExportCoreTests/FuzzReplayTests). Each returns nil when the input is handled as it must be, or
/// the invariant it broke. A crash is a finding too: libFuzzer keeps the input.
public enum FuzzEntries {
    public static let targets: [String: @Sendable ([UInt8]) -> String?] = ["cron": cron, "note": note, "merkle": merkle]

    /// `schedule:` cron expressions: anything parses or is refused with a reason; a schedule that parses
    /// either fires (after any time, strictly later; its latest fire at or before a time is not later)
    /// or is reported as never firing.
    public static func cron(_ bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes.prefix(256), as: UTF8.self)
        let problem = CronSchedule.problem(in: text)
        guard let schedule = try? CronSchedule(parsing: text) else {
            return problem == nil ? "refused without a reason: \(text.debugDescription)" : nil
        }
        // A schedule that parses but never fires is the one problem `validate` reports for it; it then has no fire time.
        if (problem != nil) == schedule.canFire { return "canFire and the reported problem disagree: \(text.debugDescription)" }
        for t: Int64 in [0, 1_800_000_000, 4_102_444_799] {
            if !schedule.canFire, schedule.nextFire(after: t) != nil { return "a schedule that never fires fired: \(text.debugDescription)" }
            if let next = schedule.nextFire(after: t), next <= t { return "nextFire(after: \(t)) = \(next) for \(text.debugDescription)" }
            if let latest = schedule.latestFire(atOrBefore: t), latest > t {
                return "latestFire(atOrBefore: \(t)) = \(latest) for \(text.debugDescription)"
            }
        }
        return nil
    }

    /// A fixed signing key (a test key, derived from a constant; it signs nothing real).
    private static let signer: NoteSigner? = {
        guard let key = try? Ed25519Key(seed: Array(repeating: 7, count: 32)) else { return nil }
        return try? NoteSigner(name: "fuzz.example", key: key)
    }()

    /// Signed notes, verifier keys and checkpoints (what `audit verify` reads): arbitrary text never
    /// verifies under the fixed key; a note this key signed verifies to its text, and any change of
    /// one byte makes it fail.
    public static func note(_ bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes.prefix(4096), as: UTF8.self)
        _ = try? NoteVerifier(encoded: text)
        guard let signer else { return "the fixed key could not be made" }
        let verifier = signer.verifier
        if (try? verifier.verify(text)) != nil { return "an arbitrary text verified: \(text.debugDescription)" }
        _ = try? Checkpoint(note: text, verifier: verifier)
        // Only a note's text is signed (it ends with a newline: NoteSigner's contract).
        guard text.hasSuffix("\n"), let signed = try? signer.sign(text) else { return nil }
        guard let body = try? verifier.verify(signed), body == text else { return "a signed note did not verify to its text" }
        var altered = Array(signed.utf8)
        let position = Int(bytes.first ?? 0) * 31 % altered.count
        altered[position] ^= 0x01
        if let changed = String(validating: altered, as: UTF8.self), changed != signed, (try? verifier.verify(changed)) != nil {
            return "a note changed at byte \(position) still verified"
        }
        return nil
    }

    /// The Merkle tree, its frontier encoding and consistency proofs: a frontier decodes only to what
    /// encodes back to the same bytes; between two sizes the bytes choose, the proof verifies, and
    /// with one hash changed it does not.
    public static func merkle(_ bytes: [UInt8]) -> String? {
        if let frontier = try? MerkleFrontier(decoding: bytes), frontier.encoded() != bytes {
            return "a frontier decoded from \(bytes.count) bytes encodes to other bytes"
        }
        guard bytes.count >= 2 else { return nil }
        let size = UInt64(bytes[0]) % 64 + 1
        let old = UInt64(bytes[1]) % size + 1
        var tree = MerkleFrontier()
        var oldRoot: [UInt8] = []
        var hashes: [[UInt8]] = []
        for i in 0..<size {
            let leaf = Merkle.leafHash(Array(bytes.dropFirst(2).prefix(Int(i) + 1)) + [UInt8(truncatingIfNeeded: i)])
            hashes.append(leaf)
            tree.append(leafHash: leaf)
            if i + 1 == old { oldRoot = tree.root }
        }
        func subtree(_ range: Range<UInt64>) -> [UInt8] {
            var sub = MerkleFrontier()
            for i in range { sub.append(leafHash: hashes[Int(i)]) }
            return sub.root
        }
        let proof = Merkle.consistencyRanges(old: old, size: size).map(subtree)
        guard Merkle.verifyConsistency(old: old, oldRoot: oldRoot, size: size, root: tree.root, proof: proof) else {
            return "a genuine proof from \(old) to \(size) did not verify"
        }
        if !proof.isEmpty {
            var forged = proof
            let which = Int(bytes.last ?? 0) % forged.count
            forged[which][0] ^= 0x80
            if Merkle.verifyConsistency(old: old, oldRoot: oldRoot, size: size, root: tree.root, proof: forged) {
                return "a proof from \(old) to \(size) with hash \(which) changed still verified"
            }
        }
        if old < size, Merkle.verifyConsistency(old: old, oldRoot: tree.root, size: size, root: tree.root, proof: proof) {
            return "the newer root passed for the older one (\(old) to \(size))"
        }
        return nil
    }
}
