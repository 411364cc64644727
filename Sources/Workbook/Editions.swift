import Foundation

/// The shape of a Markdown page, for comparing its two editions (English and 简体中文).
///
/// A translation rewrites the prose freely, but a reader of either edition must meet the same
/// lesson: the same headings in the same order and at the same levels, the same tables (rows
/// and columns), and the same code. Code is compared without its comments, which may be
/// translated: Swift with `SwiftCode` (so "// in a string" stays code), shell and Python
/// without what follows a `#` that starts a word. A block with no language tag is a picture or
/// the output of a program: translated labels are allowed in a picture (it then holds CJK
/// text), but a block without CJK text must be the English one exactly.
struct PageShape {
    struct Block: Equatable {
        /// The tag after the opening fence ("swift", "sh", ""), or "indented" for a block
        /// indented by four spaces.
        let tag: String
        let lines: [String]
        /// Where it starts in its file (from 1).
        let line: Int
    }

    /// "## Pitfalls" is 2: one per heading outside code, in order.
    private(set) var headingLevels: [Int] = []
    private(set) var blocks: [Block] = []
    /// Per table: its rows (separator included) and the header's column count.
    private(set) var tables: [(rows: Int, columns: Int)] = []
    /// Relative link targets ("../Exercises/Lesson01/CreateSocket.swift"), without anchors.
    private(set) var links: [String] = []

    init(_ text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var fence: (tag: String, start: Int, lines: [String])?
        var table: (rows: Int, columns: Int)?
        var previousBlank = true
        var indented: (start: Int, lines: [String])?
        func endIndented() {
            if let block = indented { blocks.append(Block(tag: "indented", lines: block.lines, line: block.start)) }
            indented = nil
        }
        for (index, line) in lines.enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if var open = fence {
                if trimmed == "```" {
                    blocks.append(Block(tag: open.tag, lines: open.lines, line: open.start))
                    fence = nil
                } else {
                    open.lines.append(line)
                    fence = open
                }
                continue
            }
            if trimmed.hasPrefix("```") {
                endIndented()
                fence = (String(trimmed.dropFirst(3)).trimmingCharacters(in: .whitespaces), index + 1, [])
                continue
            }
            // An indented block: four spaces after a blank line, until a line that is not.
            if line.hasPrefix("    "), indented != nil || (previousBlank && table == nil) {
                indented = indented ?? (index + 1, [])
                indented!.lines.append(String(line.dropFirst(4)))
                continue
            }
            if indented != nil, !trimmed.isEmpty { endIndented() }
            if trimmed.hasPrefix("|") {
                table = table ?? (0, Self.cells(trimmed))
                table!.rows += 1
            } else if let done = table {
                tables.append(done)
                table = nil
            }
            if line.hasPrefix("#") {
                let level = line.prefix { $0 == "#" }.count
                if line.dropFirst(level).hasPrefix(" ") { headingLevels.append(level) }
            }
            // Links in prose only: "[UInt8](repeating: 0, count: 8)" in inline code is Swift.
            links += Self.relativeLinks(in: line.replacingOccurrences(of: "`[^`]*`", with: "", options: .regularExpression))
            previousBlank = trimmed.isEmpty
        }
        endIndented()
        if let done = table { tables.append(done) }
    }

    /// The cells of a table row: "|" outside backticks separates them ("`a | b`" is one cell).
    private static func cells(_ row: String) -> Int {
        var count = 0
        var inCode = false
        var previous: Character = " "
        for character in row {
            if character == "`" { inCode.toggle() }
            if character == "|", !inCode, previous != "\\" { count += 1 }
            previous = character
        }
        return max(0, count - 1)
    }

    /// The targets of `[text](target)` links that are files of this repository.
    private static func relativeLinks(in line: String) -> [String] {
        var found: [String] = []
        var rest = Substring(line)
        while let open = rest.range(of: "](") {
            let after = rest[open.upperBound...]
            guard let close = after.firstIndex(of: ")") else { break }
            let target = String(after[..<close]).split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            if !target.isEmpty, !target.contains("://"), !target.hasPrefix("mailto:") { found.append(target) }
            rest = after[close...]
        }
        return found
    }

    /// A block's code with its comments taken out, for comparing two editions.
    static func code(of block: Block) -> [String] {
        switch block.tag {
        case "swift", "indented":
            return SwiftCode.lines(block.lines.joined(separator: "\n")).map(\.text)
        case "sh", "bash", "console", "shell", "python", "py":
            return block.lines.map { line in
                // "# ..." at the start of a line or after a space is a comment; "$#" and "a#b" are not.
                var result = line
                if let range = line.range(of: #"(^|\s)#(\s|$).*$"#, options: .regularExpression) { result = String(line[..<range.lowerBound]) }
                return result.replacingOccurrences(of: #"\s+$"#, with: "", options: .regularExpression)
            }.filter { !$0.isEmpty }
        default:
            return block.lines
        }
    }

    /// True when `text` holds a CJK ideograph or full-width punctuation.
    static func hasCJK(_ text: String) -> Bool {
        text.unicodeScalars.contains { (0x3000...0x303F).contains($0.value) || (0x4E00...0x9FFF).contains($0.value) || (0xFF00...0xFFEF).contains($0.value) }
    }

    /// What differs between `self` (the English page) and `other` (its translation), each
    /// difference in one line that says where; empty when they match.
    func differences(from other: PageShape, english: String, translation: String) -> [String] {
        var found: [String] = []
        if headingLevels != other.headingLevels {
            found.append("headings: \(english) has \(headingLevels.count) (levels \(Self.levels(headingLevels))), \(translation) has \(other.headingLevels.count) (levels \(Self.levels(other.headingLevels)))")
        }
        if tables.count != other.tables.count {
            found.append("tables: \(english) has \(tables.count), \(translation) has \(other.tables.count)")
        } else {
            for (number, (mine, theirs)) in zip(tables, other.tables).enumerated() where mine != theirs {
                found.append("table \(number + 1): \(mine.rows) rows of \(mine.columns) columns in \(english), \(theirs.rows) of \(theirs.columns) in \(translation)")
            }
        }
        if blocks.count != other.blocks.count {
            found.append("code blocks: \(english) has \(blocks.count), \(translation) has \(other.blocks.count)")
            return found
        }
        for (mine, theirs) in zip(blocks, other.blocks) {
            let picture = !["swift", "indented", "sh", "bash", "console", "shell", "python", "py"].contains(mine.tag)
            if mine.tag != theirs.tag {
                found.append("the block at \(english):\(mine.line) is \"\(mine.tag)\", at \(translation):\(theirs.line) \"\(theirs.tag)\"")
            } else if picture ? (!Self.hasCJK(theirs.lines.joined()) && mine.lines != theirs.lines) : Self.code(of: mine) != Self.code(of: theirs) {
                found.append("the block at \(translation):\(theirs.line) is not the code at \(english):\(mine.line) (only comments\(picture ? " and a picture's labels" : "") may be translated)")
            }
        }
        return found
    }

    private static func levels(_ levels: [Int]) -> String {
        levels.map(String.init).joined()
    }
}
