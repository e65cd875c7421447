import DMSAgentCore
import DMSWire

extension Duration {
    /// Whole and fractional seconds, for the configurations that count in seconds.
    public var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
