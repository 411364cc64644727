import GradingHarness
import SocketKit

/// Hints more than one lesson gives.
extension Hint {
    /// A C call's -1 was not turned into an error.
    static func uncheckedResult(_ call: String) -> Hint {
        Hint("unchecked-result", "\(call)() reports failure by returning -1 and leaving the reason in errno. Check what it returned, and when it is -1 throw SocketError(call: \"\(call)\") straight away. Carrying on with -1 turns one clear error into a strange one later.")
    }

    /// errno was read after another call had overwritten it.
    static let errnoLate = Hint(
        "errno-late",
        "errno describes the most recent failed call. Read it (create the SocketError) immediately after the call that returned -1, before any other call, close() included, can change it.")
}
