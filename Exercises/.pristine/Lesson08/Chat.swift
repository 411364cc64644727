// Lesson 8: the capstone: a chat server on lesson 7's event loop, and its client.
// Read Lessons/08-chat.md first. Grade with: swift run workbook check 8
//
// Each function below is a stub: it throws NotStarted() until you replace its body.
// `import SocketKit` brings in the C calls (poll, accept, recv, send, fcntl, read, write,
// close, errno), SocketError and `sendNoSignal`.
//
// The protocol (Lessons/08-chat.md explains each rule). Lines of UTF-8 text, each ending in
// "\n" (a "\r" before it is dropped). What a client sends:
//
//     /nick NAME     take a nickname (1 to 16 bytes of UTF-8: letters of any script, the
//                    digits 0-9, "_" or "-"); the first thing every client must do
//     /who           ask who is here
//     /quit          leave
//     anything else  a message for everyone else, as it is (spaces kept; an empty line too)
//
// A command is the line's first word: "/who" and "/quit" ignore what follows a space, and
// NAME is everything after "/nick " (so "/nick" alone and "/nick a b" are bad nicknames).
//
// What the server sends (every line ends in "\n"):
//
//     to the client                       to everyone else
//     welcome NAME        (first /nick)   * NAME joined
//     ok, now NAME        (a new /nick)   * OLD is now NAME
//                         (your own name again: "ok, now NAME", nothing announced)
//     who: A, B, C        (/who: every client with a nickname, you included, sorted by
//                          their bytes, so "Zoe" comes before "adam")
//     bye                 (/quit)         * NAME left
//                                         NAME: TEXT      (a message)
//     error: pick a nickname first with /nick NAME        (a message or /who before /nick)
//     error: nickname taken                                (someone else has it)
//     error: bad nickname                                  (empty, too long, a space...)
//     error: line too long                                 (more than maxLine bytes)
//     error: not UTF-8                                     (the line is not valid UTF-8)
//     error: unknown command                               (a line starting with "/")
//
// A line in error is dropped, and only its sender hears of it; the client stays. A line
// too long gets that answer whatever it holds; otherwise a line that is not UTF-8 gets
// that one; otherwise the answer depends on what the line says.
//
// "/quit" is answered "bye", then the connection is closed: what the client sent after
// "/quit" is ignored, and nothing more is sent to it. A client that disconnects without
// /quit (end-of-file or a reset) is announced the same way ("* NAME left"), after every
// whole line it sent before; an unfinished line (no "\n") it leaves behind is dropped. A
// client that has no nickname yet is never announced, and is sent nothing but the answers
// to its own lines. A nickname is free again once its owner has left or changed it.
import SocketKit

/// Runs the chat server on `listener` until `stop` (the read end of a pipe) becomes readable.
///
/// - One thread, `poll`, non-blocking connections, as in lesson 7's serveEchoWithPoll: a
///   buffer of bytes received per client (lines arrive in pieces, several at once), and a
///   queue of bytes to send per client (POLLOUT only while it is not empty).
/// - A message reaches every other named client, in the order the server read them, once;
///   never the sender.
/// - A client that does not read: its queue grows (the bytes waiting for it that `send`
///   has not taken yet). When it would hold more than `maxQueued` bytes, disconnect that
///   client (and announce "* NAME left"); not before. The server must never wait for one
///   client.
/// - A line longer than `maxLine` bytes (counting every byte before its "\n", a "\r"
///   included) is answered "error: line too long" once, as soon as more than `maxLine` of
///   its bytes have come (do not wait for its "\n": it may never come), and dropped, up to
///   and including its "\n", however long it is: no part of it is ever read as a line.
/// - On stop: close every connection and return. The listener and `stop` are the caller's.
///
/// - Throws: `SocketError` when the listener is not a listening socket (check with
///   SO_ACCEPTCONN, as in lesson 7), or when poll or accept fail for a reason other than
///   EINTR, EAGAIN or ECONNABORTED.
public func serveChat(_ listener: Int32, stop: Int32, maxLine: Int, maxQueued: Int) throws {
    throw NotStarted()
}

/// The chat client: what is typed on `input` goes to the server on `connection`, what the
/// server sends is written to `output`, both at once, with `poll` on `input` and
/// `connection`.
///
/// - Lines typed are sent as they are (one "\n" each); the server's bytes are written to
///   `output` as they come (partial lines included: the server's side decides the lines).
/// - When `input` ends (read returns 0: Ctrl-D, or the end of a pipe), send "/quit\n" (once:
///   stop watching `input`, which poll reports ready for ever once it has ended), then keep
///   writing what the server sends until it closes the connection, and return. If the
///   input ended in the middle of a line (the last byte typed was not "\n"), send "\n"
///   before "/quit\n": the server reads lines, and "hello/quit" is a message, not a quit.
/// - When the server closes the connection, return (whatever is left on `input` is not
///   read).
/// - `connection` stays open: it is the caller's. Nothing here may block on one side while
///   the other has something to say.
///
/// - Throws: `SocketError` naming the call when poll, read, write, recv or send fail for a
///   reason other than EINTR or EAGAIN (ECONNRESET from the server, say).
public func runChatClient(connection: Int32, input: Int32, output: Int32) throws {
    throw NotStarted()
}
