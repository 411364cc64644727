import Foundation

/// The language the workbook speaks to its reader: English (the default) or 简体中文.
///
/// Chosen once per process, from the environment, in this order:
/// 1. `WORKBOOK_LANG` (`en`, `zh-Hans`, or a locale name such as `zh_CN.UTF-8`);
/// 2. the locale's message language, as POSIX orders it: `LC_ALL`, then `LC_MESSAGES`, then `LANG`.
/// Any locale that starts with `zh` picks 简体中文; anything else (`C`, `POSIX`, `en_US.UTF-8`,
/// `fr_FR`) picks English. An unknown `WORKBOOK_LANG` falls back to English, with one line
/// (`notice`) for the front end to print on stderr.
public enum Language: String, CaseIterable, Sendable {
    case english = "en"
    case simplifiedChinese = "zh-Hans"

    /// The choice for this process.
    public static let current: Language = choose(ProcessInfo.processInfo.environment).language

    /// Why `current` is English although `WORKBOOK_LANG` asked for something else; nil when
    /// there is nothing to say.
    public static let notice: String? = choose(ProcessInfo.processInfo.environment).notice

    /// The language `environment` asks for, and a notice when its WORKBOOK_LANG is not understood.
    public static func choose(_ environment: [String: String]) -> (language: Language, notice: String?) {
        if let asked = environment["WORKBOOK_LANG"]?.trimmingCharacters(in: .whitespaces), !asked.isEmpty {
            if let language = parse(asked) { return (language, nil) }
            let known = allCases.map(\.rawValue).joined(separator: " or ")
            return (.english, "WORKBOOK_LANG=\(asked) is not a language this workbook speaks (\(known)): using English")
        }
        // POSIX: the first of these that is set and not empty decides; an empty one is skipped.
        for name in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            if let locale = environment[name], !locale.isEmpty {
                return (locale.lowercased().hasPrefix("zh") ? .simplifiedChinese : .english, nil)
            }
        }
        return (.english, nil)
    }

    /// "en", "en_GB.UTF-8", "zh-Hans", "zh_CN.UTF-8", "zh": the language meant; nil when none of ours.
    private static func parse(_ value: String) -> Language? {
        let lowered = value.lowercased()
        if lowered == "c" || lowered == "posix" || lowered == "en" || lowered.hasPrefix("en_") || lowered.hasPrefix("en-") { return .english }
        if lowered == "zh" || lowered.hasPrefix("zh_") || lowered.hasPrefix("zh-") || lowered.hasPrefix("zh.") { return .simplifiedChinese }
        return nil
    }
}
