import Foundation
import FuzzEntries
import Testing
import TestSupport

/// Every seed of `make fuzz` and every finding kept under Tests/Fuzz/<target>/, replayed through the
/// same checks the fuzz targets run (without libFuzzer): what was once found stays fixed.
@Suite("Fuzz findings, replayed")
struct FuzzReplayTests {
    static func inputs(_ target: String) throws -> [(String, [UInt8])] {
        var result: [(String, [UInt8])] = []
        for folder in ["Fuzz/corpus/\(target)", "Tests/Fuzz/\(target)"] {
            let url = TestFiles.packageRoot.appendingPathComponent(folder)
            // A target with no finding kept has no folder (git keeps no empty one).
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            for name in try FileManager.default.contentsOfDirectory(atPath: url.path).sorted() where !name.hasPrefix(".") {
                result.append(("\(folder)/\(name)", Array(try Data(contentsOf: url.appendingPathComponent(name)))))
            }
        }
        return result
    }

    @Test("each target's seeds and kept findings pass its checks", arguments: ["cron", "note", "merkle", "token", "answer", "time"])
    func replay(target: String) throws {
        let check = try #require(FuzzEntries.targets[target])
        let inputs = try Self.inputs(target)
        #expect(!inputs.isEmpty)
        for (name, bytes) in inputs {
            #expect(check(bytes) == nil, "\(name)")
        }
    }

    @Test("the finding kept for signed notes is the one it was: a signature line whose last base64 character differs only in unused bits")
    func notePadding() throws {
        let bytes = Array(try Data(contentsOf: TestFiles.packageRoot.appendingPathComponent("Tests/Fuzz/note/signature-padding-bits")))
        #expect(bytes.last == 0x0A && FuzzEntries.note(bytes) == nil)
    }
}
