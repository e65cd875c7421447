public struct RecoveryReport: Sendable, Equatable {
    public var loaded: Int
    public var cleaned: Int
    public var seconds: Double
}
