/// A setting that cannot be used, naming where its value came from.
package struct SettingError: Error, CustomStringConvertible, Equatable {
    package let description: String
    package init(_ description: String) { self.description = description }
}
