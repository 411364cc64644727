/// What a grader tells the learner about the mistake it found.
///
/// `id` is a short stable name ("byte-order") printed as `hint [byte-order]: ...`; the
/// known-bad check looks for it to prove that each wrong answer was caught for the
/// right reason.
public struct Hint: Hashable, Sendable {
    public let id: String
    public let text: String

    public init(_ id: String, _ text: String) {
        self.id = id
        self.text = text
    }

    /// Checklist row 3, shared by every lesson.
    public static let leak = Hint(
        "descriptor-leak",
        "Every socket you open must be closed, on the error path too: when a call after socket() fails, close the socket before you throw. A server that leaks one descriptor per client stops accepting after about a thousand (EMFILE).")
}
