/// A plain message as an error, for validation results.
public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var message: String
    public init(_ message: String) { self.message = message }
    public init(stringLiteral value: String) { message = value }
    public var description: String { message }
}
