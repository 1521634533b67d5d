// Package httphead reads the head of an HTTP/1.1 message (the start line and
// the header section) from a bufio.Reader, under limits that are checked
// before anything is allocated for a line.
//
// It owns the syntax rules of RFC 9112 §2–§5 and RFC 9110 §5 that a gateway
// needs before it decides anything: line endings, the request line, the
// status line, field names and values, and comma-separated token lists. It
// reads no body and knows nothing of WebSocket, routing or policy; those
// layers read the parsed head.
//
// Contracts:
//   - The caller sets read deadlines on the connection; an I/O error
//     (including a timeout) is returned as it is, so errors.Is and errors.As
//     see the net error. io.EOF before any byte is returned as io.EOF itself:
//     the peer went away and no answer is due.
//   - Every syntax or size failure is an *[Error] carrying the status to
//     answer (400, 414, 431, 505 for requests; 502 for a backend's response).
//   - The bufio.Reader must be at least as large as the longest line the
//     caller accepts: a line that does not fit is answered 414 (request line)
//     or 431 (header line).
//   - Cost: one pass over each line, a copy into one buffer per head, one
//     string for the whole head (names and values are substrings of it) and
//     one slice of headers.
//
// This package imports only the standard library.
package httphead
