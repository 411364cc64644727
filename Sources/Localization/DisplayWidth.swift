/// How many terminal columns a string takes, and padding by columns rather than characters.
///
/// A terminal gives East Asian wide and full-width characters (汉字, "，", "：") two columns and
/// combining marks none, so `String.padding(toLength:)`, which counts characters, misaligns
/// every table with Chinese in it.
extension String {
    /// The columns this string takes in a terminal (UAX #11: wide and full-width are 2).
    public var displayWidth: Int {
        unicodeScalars.reduce(0) { $0 + Self.columns(of: $1) }
    }

    /// This string followed by spaces up to `width` columns (unchanged when it is wider).
    public func padded(toColumns width: Int) -> String {
        let missing = width - displayWidth
        return missing > 0 ? self + String(repeating: " ", count: missing) : self
    }

    private static func columns(of scalar: Unicode.Scalar) -> Int {
        let value = scalar.value
        if value == 0 { return 0 }
        // Combining marks, zero-width joiners and variation selectors take no column.
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        return wideRanges.contains { $0.contains(value) } ? 2 : 1
    }

    /// The East Asian Wide (W) and Fullwidth (F) blocks a terminal gives two columns.
    private static let wideRanges: [ClosedRange<UInt32>] = [
        0x1100...0x115F,   // Hangul Jamo initials
        0x2E80...0x303E,   // CJK radicals, Kangxi, ideographic description, CJK symbols and punctuation
        0x3041...0x33FF,   // Hiragana, Katakana, Bopomofo, Hangul compatibility, CJK compatibility
        0x3400...0x4DBF,   // CJK unified ideographs extension A
        0x4E00...0x9FFF,   // CJK unified ideographs
        0xA000...0xA4CF,   // Yi
        0xAC00...0xD7A3,   // Hangul syllables
        0xF900...0xFAFF,   // CJK compatibility ideographs
        0xFE30...0xFE4F,   // CJK compatibility forms
        0xFF00...0xFF60,   // full-width forms
        0xFFE0...0xFFE6,   // full-width signs
        0x1F300...0x1F64F, // pictographs and emoticons
        0x1F900...0x1F9FF, // supplemental symbols and pictographs
        0x20000...0x3FFFD, // CJK unified ideographs extensions B and later
    ]
}
