import ExportCore
import Testing

@Suite("UTF-8 repair")
struct UTF8ScanTests {
    /// Repairs like Swift's String(decoding:as:) — the Unicode "maximal subpart" practice.
    @Test("replacement matches Swift's decoder on random bytes")
    func matchesSwift() {
        var state: UInt64 = 0x1234_5678
        func next() -> UInt8 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        let alphabet: [UInt8] = [0x41, 0x7F, 0x80, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xA0, 0xED, 0x9F, 0xEF, 0xBF, 0xF0, 0x90,
                                 0xF4, 0x8F, 0xF5, 0xFF, 0xBE, 0xBD]
        for _ in 0..<5000 {
            let length = Int(next() % 12)
            let bytes = (0..<length).map { _ in next() % 2 == 0 ? alphabet[Int(next()) % alphabet.count] : next() }
            let (string, replaced) = bytes.withUnsafeBytes { UTF8Scan.decode($0) }
            let swift = String(decoding: bytes, as: UTF8.self)
            #expect(string == swift)
            let inputReplacements = bytes.withUnsafeBytes { buffer -> Int in
                var count = 0
                var i = 0
                while i < buffer.count {
                    let n = UTF8Scan.sequenceLength(buffer, at: i)
                    if n > 0 {
                        if UTF8Scan.scalarValue(buffer, at: i, length: n) == 0xFFFD { count += 1 }
                        i += n
                    } else {
                        i += -n
                    }
                }
                return count
            }
            #expect(swift.unicodeScalars.filter { $0 == "\u{FFFD}" }.count == replaced + inputReplacements)
        }
    }
}
