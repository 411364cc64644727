/// How a grader compares bytes: lengths and the first difference. (Escaping is SocketKit's `escaped`.)
import SocketKit

/// One byte for a message: `0x6c 'l'`, or just `0x00`.
func describe(byte: UInt8) -> String {
    (0x21...0x7E).contains(byte) ? "0x\(hex(byte)) '\(Character(Unicode.Scalar(byte)))'" : "0x\(hex(byte))"
}

/// nil when equal; otherwise both lengths and the first offset where they differ.
///
///     expected 12 bytes, got 10 bytes; they differ from offset 3: expected 0x6c 'l', got 0x00
public func difference(expected: [UInt8], actual: [UInt8]) -> String? {
    // memcmp first: payloads run to megabytes, and an element-by-element == in a debug
    // build takes a noticeable fraction of a second.
    let same = expected.count == actual.count && expected.withUnsafeBytes { left in
        actual.withUnsafeBytes { right in left.count == 0 || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0 }
    }
    guard !same else { return nil }
    let lengths = "expected \(expected.count) bytes, got \(actual.count) bytes"
    let common = min(expected.count, actual.count)
    if let offset = (0..<common).first(where: { expected[$0] != actual[$0] }) {
        return lengths + "; they differ from offset \(offset): expected \(describe(byte: expected[offset])), got \(describe(byte: actual[offset]))"
    }
    return actual.count < expected.count
        ? lengths + "; what came is the first \(actual.count) bytes of what was expected, the rest is missing"
        : lengths + "; the first \(expected.count) bytes are right, then \(actual.count - expected.count) extra bytes came"
}

/// A short fingerprint of a payload (64-bit FNV-1a, in hex): equal bytes, equal digest.
/// Not for security; for telling "the same 4 MB" from "4 MB that differ somewhere".
public func digest(_ bytes: [UInt8]) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01b3
    }
    return String(hash, radix: 16)
}
