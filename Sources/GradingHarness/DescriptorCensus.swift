import Foundation
import SocketKit

/// Counts the sockets this process has open that the harness does not own: the ones the
/// learner's code opened. Compare a census before and after a call to find a leak.
public struct DescriptorCensus: Equatable, Sendable {
    public let sockets: Set<Int32>

    /// Takes the census now.
    public static func take() -> DescriptorCensus {
        HarnessOwned.lock.lock()
        defer { HarnessOwned.lock.unlock() }
        let learners = openDescriptors().filter { Inspect.isSocket($0) && !HarnessOwned.owns($0) }
        return DescriptorCensus(sockets: Set(learners))
    }

    /// The sockets open now that were not open in `earlier`.
    public func added(since earlier: DescriptorCensus) -> Set<Int32> {
        sockets.subtracting(earlier.sockets)
    }

    private static func openDescriptors() -> [Int32] {
        #if os(Linux)
        // /proc lists exactly the open descriptors; the one used to read it is not a socket.
        if let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            return names.compactMap { Int32($0) }
        }
        #endif
        let highest = min(Int32(getdtablesize()), 65536)
        return (0..<highest).filter { Inspect.isOpen($0) }
    }
}
