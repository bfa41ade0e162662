#if !FUZZ_SINGLE_MODULE
import ExportCore
#endif

/// What each fuzz target checks of one input, shared by the libFuzzer binaries `make fuzz` builds
/// (Fuzz/<target>.swift, every source compiled as one module) and the replay test that runs the
/// seeds and every kept finding through the same code without libFuzzer
/// (ExportCoreTests/FuzzReplayTests). Each returns nil when the input is handled as it must be, or
/// the invariant it broke. A crash is a finding too: libFuzzer keeps the input.
public enum FuzzEntries {
    public static let targets: [String: @Sendable ([UInt8]) -> String?] = [
        "cron": cron, "note": note, "merkle": merkle, "token": token, "answer": answer, "time": time,
    ]

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

    /// A token endpoint's answer (OAuth2): a token is had only when it can go in a header as it is
    /// (visible ASCII, at most 16 KiB) with a lifetime in range; an error code is only the RFC's alphabet.
    public static func token(_ bytes: [UInt8]) -> String? {
        if let answer = OAuth2Answer.parse(bytes) {
            if answer.token.isEmpty || answer.token.utf8.count > 16 * 1024 || !answer.token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) {
                return "a token that cannot go in a header was accepted: \(answer.token.prefix(64).debugDescription)"
            }
            if let lifetime = answer.expiresIn, !(0...OAuth2Answer.longestLifetime).contains(lifetime) {
                return "a lifetime out of range: \(lifetime)"
            }
        }
        if let code = OAuth2Answer.errorCode(bytes), code.isEmpty || code.utf8.count > 64
            || !code.utf8.allSatisfy({ (0x61...0x7A).contains($0) || $0 == 0x5F }) {
            return "an error code of free text was taken: \(code.prefix(64).debugDescription)"
        }
        return nil
    }

    /// The answer classification and retry decision (RetryPolicy) on any attempt's outcome: never a
    /// crash; a 2xx final status is delivered (unless no token could be had); a wait is within the cap;
    /// a final status is never in doubt; a refusal only comes with a final status.
    public static func answer(_ bytes: [UInt8]) -> String? {
        let b = bytes + [UInt8](repeating: 0, count: max(0, 12 - bytes.count))
        let raw = Int(b[0]) << 8 | Int(b[1])
        let status = raw == 0 ? nil : raw % 700
        let retryBits = Int32(bitPattern: UInt32(b[3]) << 24 | UInt32(b[4]) << 16 | UInt32(b[5]) << 8 | UInt32(b[6]))
        let retryAfter = retryBits == 0 ? nil : Int(retryBits)
        let flags = b[7]
        let text = String(decoding: b.dropFirst(12).prefix(300), as: UTF8.self)
        let problem: TokenProblem? = switch b[8] % 5 {
        case 1: .refused(text)
        case 2: .unavailable(text, retryAfter: retryAfter)
        case 3: .untrusted(text)
        default: nil
        }
        let exchange = Exchange(status: status, curlCode: Int32(b[2] % 100), error: flags & 1 == 0 ? nil : text, retryAfter: retryAfter,
                                requestSent: flags & 2 != 0, clientCertificateMissing: flags & 4 != 0, tokenProblem: problem,
                                tokenRenewed: flags & 8 != 0)
        let policy = RetryPolicy(baseSeconds: 1, capSeconds: Double(b[9] % 200 + 1), maxAttempts: Int(b[10] % 10 + 1))
        let final = status.flatMap { $0 >= 200 ? $0 : nil }
        let verdict = policy.verdict(after: exchange, attempt: Int(b[11] % 10) + 1, wasInDoubt: flags & 16 != 0,
                                     random: FixedUnit(value: Double(flags) / 256))
        switch verdict {
        case .delivered:
            if problem != nil { return "delivered without a token: \(exchange)" }
            if final.map({ !(200...299).contains($0) }) ?? true { return "delivered without a 2xx: \(exchange)" }
        case .retry(let seconds, _):
            if !(seconds >= 0 && seconds <= policy.cap) { return "a wait of \(seconds) s beyond the cap \(policy.cap)" }
        case .stop(let stop):
            if stop.refused && final == nil { return "refused without a final status: \(exchange)" }
        }
        if problem == nil, let final, (200...299).contains(final), verdict != .delivered { return "a 2xx not delivered: \(exchange)" }
        if final != nil && policy.leftInDoubt(exchange) { return "a final status left in doubt: \(exchange)" }
        if !exchange.requestSent && policy.leftInDoubt(exchange) { return "in doubt though nothing left: \(exchange)" }
        return nil
    }

    /// A fixed number in 0..<1 for the backoff's jitter.
    final class FixedUnit: RandomSource {
        let value: Double
        init(value: Double) { self.value = value }
        func nextUnit() -> Double { value }
    }

    /// RFC 3339 times: anything parses or is refused, never a crash; what parses formats back to the same
    /// instant; any instant from 1970 to 9999 formats to text that parses back to it.
    public static func time(_ bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes.prefix(64), as: UTF8.self)
        if let seconds = UTCTime.parse(text) {
            guard seconds.isFinite else { return "a non-finite time from \(text.debugDescription)" }
            if (0...253_402_300_799).contains(seconds) {
                let again = UTCTime.parse(UTCTime.format(seconds, milliseconds: true))
                if again.map({ abs($0 - seconds) > 0.0011 }) ?? true {
                    return "\(text.debugDescription) → \(seconds) → \(UTCTime.format(seconds, milliseconds: true)) → \(String(describing: again))"
                }
            }
        }
        guard bytes.count >= 8 else { return nil }
        let raw = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let instant = Double(raw % 253_402_300_800) + Double(bytes.last ?? 0) / 256
        let formatted = UTCTime.format(instant)
        if UTCTime.parse(formatted) != instant.rounded(.down) {
            return "\(instant) formats to \(formatted), which parses to \(String(describing: UTCTime.parse(formatted)))"
        }
        return nil
    }
}
