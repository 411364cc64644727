import GradingHarness
import SocketKit

/// Checks that a learner's call failed with SocketError for `call` (when given) and `code`.
/// When it returned instead, `returnedHint` may name a more specific mistake than an
/// unchecked result, given what came back.
func expectSocketError<Value>(
    _ outcome: Result<Value, any Error>, call: String?, code: Int32, probe: Probe, function: String,
    returnedHint: (Value) -> Hint? = { _ in nil }
) throws {
    let expected = "\(function) to throw SocketError with \(errnoName(code))" + (call.map { " from \($0)()" } ?? "")
    switch outcome {
    case .success(let value):
        let hint = returnedHint(value) ?? .uncheckedResult(call ?? "the system call")
        let actual = Probe.returned(value)  // described before it is closed
        if let fd = value as? Int32 { closeIfOpen(fd) }
        throw probe.fail(expected: expected, actual: actual, hint: hint)
    case .failure(let error as SocketError):
        let rightCall = call.map { error.call.hasPrefix($0) } ?? true
        switch (rightCall, error.code == code) {
        case (true, true):
            return
        case (true, false):
            // The right call failed, but the code is another call's: errno was read too late.
            throw probe.fail(expected: expected, actual: "it threw \(error)", hint: .errnoLate)
        case (false, true):
            throw probe.fail(expected: expected, actual: "it threw \(error)", hint: Hint("error-call", "Name the call that failed: SocketError(call: \"\(call ?? "")\"). The name is how the reader of the error finds the man page."))
        case (false, false):
            // A later step failed instead: the expected call's -1 went unnoticed.
            throw probe.fail(expected: expected, actual: "it threw \(error)", hint: .uncheckedResult(call ?? "the system call"))
        }
    case .failure(let error):
        throw probe.fail(expected: expected, actual: "it threw \(type(of: error)): \(error)", hint: Hint("error-type", "Throw SocketError(call: ...) right after the failed call: it reads errno and names the error."))
    }
}

/// Closes a socket the learner's code handed to the grader. Only a socket the harness does
/// not own: a wrong answer may hand back stdin (0) or the harness's own listener.
/// Call it once per descriptor: numbers are reused as soon as they are closed.
func closeIfOpen(_ fd: Int32) {
    if fd >= 0 && Inspect.isSocket(fd) && !Inspect.isHarnessOwned(fd) { _ = LibC.close(fd) }
}
