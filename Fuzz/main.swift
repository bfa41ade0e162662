// The libFuzzer entry of `make fuzz`: compiled with ExportCore's and FuzzEntries' sources as one
// module (-D FUZZ_SINGLE_MODULE); FUZZ_TARGET names which FuzzEntries check each input goes through.
import Glibc

private let target: ([UInt8]) -> String? = {
    let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let check = FuzzEntries.targets[name] else {
        fatalError("FUZZ_TARGET must be one of \(FuzzEntries.targets.keys.sorted().joined(separator: ", ")); it is '\(name)'")
    }
    return check
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    if let finding = target(bytes) { fatalError("invariant broken: \(finding)") }
    return 0
}
