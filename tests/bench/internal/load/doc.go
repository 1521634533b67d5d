// Package load is the engine of wsload, weir's WebSocket load tool: a lean
// gobwas/ws client (masked frames as RFC 6455 §5.3 requires, caller-owned
// buffers, no per-message allocation) and the four measurements built on it:
//
//   - Throughput: C connections, each keeping a window of W echo messages
//     in flight, for a duration; messages/s and MB/s.
//   - Latency: an open-loop schedule of R messages/s over C connections;
//     each latency runs from the message's scheduled send time, not from
//     when it was actually sent, so a stall is charged to every message it
//     delayed (no coordinated omission).
//   - Connect: N workers looping dial → upgrade → one echo → close.
//   - Idle: N sessions opened, each proven with one echo, then held idle
//     until released, proven again with one more echo and closed.
//
// Every echo is verified byte for byte (sequence number and content): a
// proxy that drops, reorders, duplicates or corrupts a message is reported
// as a mismatch, never counted as throughput.
//
// Every mode is bounded by its own duration and by the caller's context;
// every goroutine a mode starts is waited for before the mode returns.
//
// It must not import anything from weir itself: the bench measures weir
// from the outside, like any client.
package load
