package struct RecoveryReport: Sendable, Equatable {
    package var loaded: Int
    package var cleaned: Int
    package var elapsed: Duration
}
