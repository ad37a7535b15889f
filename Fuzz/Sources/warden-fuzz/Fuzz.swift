import Foundation
import WardenFuzzTargets

/// The target chosen by `WARDEN_FUZZ_TARGET` (a name of ``FuzzTargets/all``), looked up once.
let target: @Sendable ([UInt8]) -> Void = {
    let name = ProcessInfo.processInfo.environment["WARDEN_FUZZ_TARGET"] ?? ""
    guard let run = FuzzTargets.named(name) else {
        let names = FuzzTargets.all.map(\.name).joined(separator: ", ")
        FileHandle.standardError.write(Data("set WARDEN_FUZZ_TARGET to one of \(names)\n".utf8))
        exit(2)
    }
    return run
}()

/// libFuzzer's entry point: one input, any bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    target(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
