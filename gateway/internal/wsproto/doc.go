// Package wsproto holds the rules of RFC 6455 that weir applies on both legs
// of a session, on top of the frame types of github.com/gobwas/ws:
//
//   - the server side of the opening handshake: checking a client's upgrade
//     request (CheckRequest), computing Sec-WebSocket-Accept, and writing the
//     101 or an error answer;
//   - the client side towards a backend: writing weir's own upgrade request
//     with hop-by-hop headers removed before weir's own are added
//     (AppendUpstreamRequest), and validating the backend's answer
//     (CheckResponse) before any byte is tunnelled;
//   - frames: reading a header without allocating (ReadHeader), validating
//     frame sequences, sizes and UTF-8 per direction (Validator, UTF8), close
//     payloads (ParseClose), and writing frames with masking keys from a
//     per-session generator (AppendFrame, MaskSource).
//
// Errors have identity: *HandshakeError carries the HTTP status to answer a
// client, *UpstreamError and ErrNotSwitching describe a backend's answer, and
// ProtocolError carries the close code (1002, 1007, 1009) for a frame
// violation. Tests and callers use errors.As and errors.Is, never the text.
//
// Costs: the frame functions do not allocate (the benchmarks in
// bench_test.go and the allocation tests prove it); the handshake functions
// allocate a few small values per handshake.
//
// This package knows nothing of sockets, routes, policy or filters; it
// imports httphead and gobwas/ws only.
package wsproto
