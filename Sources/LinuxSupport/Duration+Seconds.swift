extension Duration {
    /// Whole and fractional seconds, for arithmetic with wall-clock seconds and C APIs that take them.
    package var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }

    /// Nanoseconds, rounded down, for the monotonic clock's arithmetic.
    package var nanoseconds: Int64 {
        let (whole, attoseconds) = components
        return whole * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Milliseconds, rounded down, for poll(2) timeouts.
    package var milliseconds: Int64 {
        let (whole, attoseconds) = components
        return whole * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
