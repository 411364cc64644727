/// The code of a Swift file without its comments, for `workbook hint`'s comparison with the
/// reference answer: a reference's doc comments differ from a learner's in every line, and
/// would hide the few lines of code that matter.
enum SwiftCode {
    struct Line: Equatable {
        /// Where the line is in the file (from 1).
        let number: Int
        let text: String
    }

    /// The lines of `source` that hold code: `//`, `///` and `/* */` comments (nested too)
    /// removed, trailing spaces trimmed, lines left empty dropped. String literals are kept
    /// whole ("// in a string" is code), with escapes, interpolations, multi-line and raw
    /// (#"..."#) strings.
    static func lines(_ source: String) -> [Line] {
        let bytes = Array(source.utf8)
        var lines: [[UInt8]] = [[]]
        func emit<S: Sequence>(_ some: S) where S.Element == UInt8 {
            for byte in some {
                if byte == newline { lines.append([]) } else { lines[lines.count - 1].append(byte) }
            }
        }
        func at(_ index: Int) -> UInt8? { index < bytes.count ? bytes[index] : nil }

        /// Code (at the top, or inside a string's \( ... ) with its open parentheses), or a
        /// string literal with its number of #s.
        enum Context { case code(parentheses: Int), string(hashes: Int, multiline: Bool) }
        var stack: [Context] = [.code(parentheses: 0)]
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch stack[stack.count - 1] {
            case .code(let parentheses):
                if byte == slash, at(index + 1) == slash {
                    while index < bytes.count, bytes[index] != newline { index += 1 }
                    continue
                }
                if byte == slash, at(index + 1) == star {
                    var depth = 0
                    repeat {
                        if bytes[index] == slash, at(index + 1) == star {
                            depth += 1
                            index += 2
                        } else if bytes[index] == star, at(index + 1) == slash {
                            depth -= 1
                            index += 2
                        } else {
                            if bytes[index] == newline { emit([newline]) }
                            index += 1
                        }
                    } while depth > 0 && index < bytes.count
                    continue
                }
                if byte == quote || byte == hash {
                    var end = index
                    while at(end) == hash { end += 1 }
                    if at(end) == quote {
                        let multiline = at(end + 1) == quote && at(end + 2) == quote
                        let opening = end + (multiline ? 3 : 1)
                        emit(bytes[index..<opening])
                        stack.append(.string(hashes: end - index, multiline: multiline))
                        index = opening
                        continue
                    }
                    // A # that opens no string (#if, #available): plain code.
                }
                if stack.count > 1, byte == openParenthesis {
                    stack[stack.count - 1] = .code(parentheses: parentheses + 1)
                } else if stack.count > 1, byte == closeParenthesis {
                    if parentheses == 1 { stack.removeLast() } else { stack[stack.count - 1] = .code(parentheses: parentheses - 1) }
                }
                emit([byte])
                index += 1
            case .string(let hashes, let multiline):
                if byte == backslash {
                    var end = index + 1
                    while end - index - 1 < hashes, at(end) == hash { end += 1 }
                    guard end - index - 1 == hashes, end < bytes.count else {
                        emit([byte])  // not an escape in a raw string
                        index += 1
                        continue
                    }
                    emit(bytes[index...end])
                    if bytes[end] == openParenthesis { stack.append(.code(parentheses: 1)) }
                    index = end + 1
                    continue
                }
                if byte == quote {
                    let quotes = multiline ? 3 : 1
                    let closes = (0..<quotes).allSatisfy { at(index + $0) == quote }
                        && (0..<hashes).allSatisfy { at(index + quotes + $0) == hash }
                    if closes {
                        emit(bytes[index..<(index + quotes + hashes)])
                        stack.removeLast()
                        index += quotes + hashes
                        continue
                    }
                }
                emit([byte])
                index += 1
            }
        }
        return lines.enumerated().compactMap { offset, bytes in
            var text = String(decoding: bytes, as: UTF8.self)
            while let last = text.last, last == " " || last == "\t" || last == "\r" { text.removeLast() }
            return text.isEmpty ? nil : Line(number: offset + 1, text: text)
        }
    }

    private static let newline = UInt8(ascii: "\n")
    private static let slash = UInt8(ascii: "/")
    private static let star = UInt8(ascii: "*")
    private static let quote = UInt8(ascii: "\"")
    private static let hash = UInt8(ascii: "#")
    private static let backslash = UInt8(ascii: "\\")
    private static let openParenthesis = UInt8(ascii: "(")
    private static let closeParenthesis = UInt8(ascii: ")")
}
