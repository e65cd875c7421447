import FuzzChecks

/// libFuzzer's entry point (its own main drives it): one input through FuzzChecks.deadLetter.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    FuzzChecks.deadLetter(start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
    return 0
}
