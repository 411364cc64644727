/// Text made safe to put inside HTML or XML, in an element or a quoted attribute: the five
/// characters with a meaning there are written as entities, and the control characters that
/// XML 1.0 does not allow (all but tab, line feed and carriage return) are left out.
/// Used by the JUnit report and the class roster's HTML page.
enum Markup {
    static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\n", "\t", "\r": out.unicodeScalars.append(scalar)
            default: if scalar.value >= 0x20 { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}
