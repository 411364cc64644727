import SocketKit

/// Ports for checks that must ask the learner's code for a specific port.
public enum FreePort {
    /// A port that is free on 127.0.0.1 now, and whose byte-swapped value is also free,
    /// different and at least 1024 (an unprivileged user may bind it).
    ///
    /// With such a port, a listener that forgot `port.bigEndian` lands on the swapped port
    /// instead of failing: the grader can see the mistake rather than guess at it.
    /// Found by binding port 0 and letting the kernel choose, never by a fixed number.
    /// Another process could take it before the learner binds it; the grader then sees
    /// EADDRINUSE and tries again with another.
    public static func withFreeByteSwap() throws -> UInt16 {
        for _ in 0..<50 {
            let probe = try HarnessSocket.listener()
            guard let port = try probe.localAddress.port else { continue }
            let swapped = port.byteSwapped
            guard swapped != port, swapped >= 1024, (try? HarnessSocket.listener(port: swapped)) != nil else {
                probe.close()
                continue
            }
            // Both listeners close here (the temporary swapped one already has).
            probe.close()
            return port
        }
        throw SocketError(call: "FreePort.withFreeByteSwap", code: EADDRINUSE)
    }
}
