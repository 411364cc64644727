/// How bytes are shown to the learner: escaped text, lengths, first difference.

/// `"hello\n"` for printable ASCII, with `\n \r \t \0 \" \\` and `\xNN` for everything else.
/// Long runs are cut in the middle: a transcript of a 4 MB payload stays readable.
public func escaped(_ bytes: some Collection<UInt8>, limit: Int = 96) -> String {
    func escape(_ slice: some Sequence<UInt8>) -> String {
        var text = ""
        for byte in slice {
            switch byte {
            case UInt8(ascii: "\n"): text += "\\n"
            case UInt8(ascii: "\r"): text += "\\r"
            case UInt8(ascii: "\t"): text += "\\t"
            case 0: text += "\\0"
            case UInt8(ascii: "\""): text += "\\\""
            case UInt8(ascii: "\\"): text += "\\\\"
            case 0x20...0x7E: text.unicodeScalars.append(Unicode.Scalar(byte))
            default: text += "\\x" + hex(byte)
            }
        }
        return text
    }
    let array = Array(bytes)
    guard array.count > limit else { return "\"" + escape(array) + "\"" }
    let head = limit * 3 / 4
    let tail = limit - head
    return "\"" + escape(array.prefix(head)) + "\" ... (\(array.count - limit) more bytes) ... \""
        + escape(array.suffix(tail)) + "\""
}

/// Two hex digits.
public func hex(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
}

/// One byte for a message: `0x6c 'l'`, or just `0x00`.
func describe(byte: UInt8) -> String {
    (0x21...0x7E).contains(byte) ? "0x\(hex(byte)) '\(Character(Unicode.Scalar(byte)))'" : "0x\(hex(byte))"
}

/// nil when equal; otherwise both lengths and the first offset where they differ.
///
///     expected 12 bytes, got 10 bytes; they differ from offset 3: expected 0x6c 'l', got 0x00
public func difference(expected: [UInt8], actual: [UInt8]) -> String? {
    guard expected != actual else { return nil }
    let lengths = "expected \(expected.count) bytes, got \(actual.count) bytes"
    let common = min(expected.count, actual.count)
    if let offset = (0..<common).first(where: { expected[$0] != actual[$0] }) {
        return lengths + "; they differ from offset \(offset): expected \(describe(byte: expected[offset])), got \(describe(byte: actual[offset]))"
    }
    return actual.count < expected.count
        ? lengths + "; what came is the first \(actual.count) bytes of what was expected, the rest is missing"
        : lengths + "; the first \(expected.count) bytes are right, then \(actual.count - expected.count) extra bytes came"
}
