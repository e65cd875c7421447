import CLinuxProcess
import Glibc

package struct Errno: Error, Sendable, Equatable, CustomStringConvertible {
    package let code: Int32
    package init(_ code: Int32) { self.code = code }
    package static var current: Errno { Errno(errno) }
    package var description: String { String(cString: strerror(code)) }
}
