/// A check found a mistake. Its description is the whole message the learner reads, in
/// the order of grading-checklist.md: the check, expected and actual, the wire, the hint.
///
///     check:    makeListener(host:port:backlog:) binds the address it was given
///     expected: a listener on 127.0.0.1
///     actual:   a listener on 0.0.0.0:40211
///     wire:
///       (nothing was recorded on the wire)
///     hint [any-address]: ...
public struct CheckFailure: Error, CustomStringConvertible, Sendable {
    public let check: String
    public let expected: String
    public let actual: String
    /// The transcript as it stood when the mistake was found (later clean-up is not shown).
    public let wire: String?
    public let hint: Hint?

    public init(check: String, expected: String, actual: String, transcript: Transcript? = nil, hint: Hint?) {
        self.check = check
        self.expected = expected
        self.actual = actual
        self.wire = transcript?.rendered(indent: "  ")
        self.hint = hint
    }

    public var description: String {
        var lines = [
            "check:    \(check)",
            "expected: \(expected)",
            "actual:   \(actual)",
        ]
        if let wire {
            lines.append("wire:")
            lines.append(wire)
        }
        if let hint { lines.append("hint [\(hint.id)]: \(hint.text)") }
        return lines.joined(separator: "\n")
    }
}
