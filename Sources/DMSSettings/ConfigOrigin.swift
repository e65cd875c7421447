/// Where a config value was written: a file and its line.
package struct ConfigOrigin: Sendable, Equatable, CustomStringConvertible {
    package let path: String
    package let line: Int
    package var description: String { "\(path):\(line)" }
}
