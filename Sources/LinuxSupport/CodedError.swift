/// The one shape of an error of ours: a stable, machine-readable `code` (a `Code` struct over a private enum, so only
/// its module names codes and adding one breaks no caller) and a `message` for people, which is the description.
package protocol CodedError: Error, Sendable, CustomStringConvertible {
    associatedtype Code: Hashable, Sendable, CustomStringConvertible
    var code: Code { get }
    var message: String { get }
}

extension CodedError {
    package var description: String { message }
}
