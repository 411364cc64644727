// Your scratch file: paste a fragment from a lesson here and run it with
//
//     swift run playground
//
// Nothing here is graded, and `workbook reset` never touches it. It can call SocketKit and
// every lesson's functions (your own versions, from Exercises/), like the lessons' code does.
import Foundation
import Lesson01
import SocketKit

// An example to start from (lesson 1): make a socket and ask the kernel what it is.
let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
if fd < 0 {
    print("socket failed: \(SocketError(call: "socket"))")
} else {
    print("socket() gave descriptor \(fd)")
    close(fd)
}
