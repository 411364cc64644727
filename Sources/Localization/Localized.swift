/// A text in both of the workbook's languages. Both are required: a message cannot be written
/// in one language only, so a missing translation is a compile error, never an empty line at
/// run time.
public struct Localized: Sendable, Hashable, CustomStringConvertible {
    public let english: String
    public let chinese: String

    public init(_ english: String, zh chinese: String) {
        self.english = english
        self.chinese = chinese
    }

    /// The text in `language`.
    public func text(in language: Language) -> String {
        switch language {
        case .english: return english
        case .simplifiedChinese: return chinese
        }
    }

    /// The text in the reader's language (`Language.current`).
    public var description: String { text(in: Language.current) }
}
