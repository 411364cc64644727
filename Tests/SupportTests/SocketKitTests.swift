import SocketKit
import XCTest

final class SocketKitTests: XCTestCase {
    func testErrorNamesTheCallTheErrnoAndItsText() {
        let error = SocketError(call: "bind", code: EADDRINUSE)
        XCTAssertEqual(error.name, "EADDRINUSE")
        XCTAssertTrue(error.description.hasPrefix("bind failed: EADDRINUSE ("), error.description)
        XCTAssertFalse(error.text.isEmpty)
        XCTAssertEqual(errnoName(ECONNREFUSED), "ECONNREFUSED")
        XCTAssertEqual(errnoName(EAGAIN), "EAGAIN")  // shares its value with EWOULDBLOCK on Linux
        XCTAssertEqual(errnoName(99_999), "errno 99999")
    }

    func testErrorReadsErrnoByDefault() {
        XCTAssertEqual(close(-1), -1)
        let error = SocketError(call: "close")
        XCTAssertEqual(error.code, EBADF)
    }

    func testAddressesSurviveTheTripThroughSockaddr() throws {
        for address in [SocketAddress.ipv4(host: "127.0.0.1", port: 8002), .ipv6(host: "::1", port: 8002), .unix(path: "/tmp/workbook.sock")] {
            var storage = sockaddr_storage()
            let length = try address.withSockAddr { pointer, length in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: Int(length))) }
                return length
            }
            XCTAssertEqual(try SocketAddress(storage: storage, length: length), address)
        }
    }

    func testPortIsStoredInNetworkByteOrder() throws {
        // 8002 is 0x1F42: on the wire (and in sin_port's memory) 0x1F comes first.
        try SocketAddress.ipv4(host: "127.0.0.1", port: 8002).withSockAddr { pointer, _ in
            let bytes = UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self)
            let portOffset = MemoryLayout<sockaddr_in>.offset(of: \sockaddr_in.sin_port)!
            XCTAssertEqual([bytes[portOffset], bytes[portOffset + 1]], [0x1F, 0x42])
        }
    }

    func testTextThatIsNotAnAddressIsAnError() {
        XCTAssertThrowsError(try SocketAddress.ipv4(host: "localhost", port: 1).withSockAddr { _, _ in }) { error in
            XCTAssertEqual((error as? SocketError)?.code, EINVAL)
            XCTAssertTrue((error as? SocketError)?.call.hasPrefix("inet_pton") ?? false)
        }
        XCTAssertThrowsError(try SocketAddress.ipv6(host: "127.0.0.1", port: 1).withSockAddr { _, _ in })
        let long = String(repeating: "x", count: 200)
        XCTAssertThrowsError(try SocketAddress.unix(path: long).withSockAddr { _, _ in }) { error in
            XCTAssertEqual((error as? SocketError)?.code, ENAMETOOLONG)
        }
    }

    func testUnknownFamilyInStorageIsAnError() {
        XCTAssertThrowsError(try SocketAddress(storage: sockaddr_storage(), length: 16))
    }

    func testKernelChosenPortIsReadBack() throws {
        let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { _ = close(fd) }
        try SocketAddress.ipv4(host: "127.0.0.1", port: 0).withSockAddr { pointer, length in
            XCTAssertEqual(bind(fd, pointer, length), 0)
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let address = try SocketAddress(storage: storage, length: length)
        XCTAssertEqual(address.host, "127.0.0.1")
        XCTAssertNotEqual(address.port, 0)
    }

    func testNotStartedNamesTheLessonAndFile() {
        let stub = NotStarted(fileID: "Lesson02/Listener.swift", function: "makeListener(host:port:backlog:)")
        XCTAssertEqual(stub.lesson, 2)
        XCTAssertEqual(stub.file, "Exercises/Lesson02/Listener.swift")
        XCTAssertTrue(stub.description.hasPrefix("Lesson 2 not started: open Exercises/Lesson02/Listener.swift"))
    }

    func testEscapedShowsTextAndEscapesTheRest() {
        XCTAssertEqual(escaped(Array("hi\n\0\"".utf8)), #""hi\n\0\"""#)
        XCTAssertEqual(escaped(Array("你好".utf8)), "\"你好\"")
        XCTAssertEqual(escaped([0x61, 0xFF, 0x62, 0x01]), #""a\xffb\x01""#)
        let long = escaped([UInt8](repeating: 0x61, count: 1000))
        XCTAssertTrue(long.contains("(904 more bytes)"), long)
    }

    func testConstantsDescribeThemselves() {
        XCTAssertEqual("\(AddressFamily.inet6) \(SocketType.datagram)", "AF_INET6 SOCK_DGRAM")
        XCTAssertEqual(AddressFamily(rawValue: 4242).description, "address family 4242")
    }
}
