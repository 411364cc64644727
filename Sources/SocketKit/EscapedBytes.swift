/// Bytes as text a person can read, for transcripts and demo output.

/// `"hello\n"`: printable text as it is, with `\n \r \t \0 \" \\` escaped and `\xNN` for
/// any other control byte. Valid UTF-8 ("你好") shows as text; invalid bytes as `\xNN`.
/// Long runs are cut in the middle, so a transcript of a 4 MB payload stays readable.
public func escaped(_ bytes: some Collection<UInt8>, limit: Int = 96) -> String {
    let array = Array(bytes)
    guard array.count > limit else { return "\"" + escapeRun(array) + "\"" }
    let head = limit * 3 / 4
    let tail = limit - head
    return "\"" + escapeRun(Array(array.prefix(head))) + "\" ... (\(array.count - limit) more bytes) ... \""
        + escapeRun(Array(array.suffix(tail))) + "\""
}

private func escapeRun(_ bytes: [UInt8]) -> String {
    var text = ""
    var decoder = UTF8()
    var iterator = bytes[...].makeIterator()
    var consumed = 0
    while true {
        switch decoder.decode(&iterator) {
        case .scalarValue(let scalar):
            let width = UTF8.width(scalar)
            consumed += width
            text += escape(scalar)
        case .error:
            // Not UTF-8 here: show this byte as hex and carry on after it.
            text += "\\x" + hex(bytes[consumed])
            consumed += 1
            iterator = bytes[consumed...].makeIterator()
            decoder = UTF8()
        case .emptyInput:
            return text
        }
    }
}

private func escape(_ scalar: Unicode.Scalar) -> String {
    switch scalar {
    case "\n": return "\\n"
    case "\r": return "\\r"
    case "\t": return "\\t"
    case "\0": return "\\0"
    case "\"": return "\\\""
    case "\\": return "\\\\"
    case " "..."~": return String(scalar)
    default:
        if scalar.value < 0x80 { return "\\x" + hex(UInt8(scalar.value)) }
        return scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format
            ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
    }
}

/// Two hex digits.
public func hex(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
}
