// Package filters defines what a message filter is and how filters are
// chained; it also holds weir's built-in (native) filters.
//
// A filter sees whole WebSocket messages (or single frames, for a filter that
// asks to stream) flowing through a session, and may pass, rewrite, drop or
// inject messages, or close the session with a code. The gateway builds a
// [Chain] once per configuration generation from [Factory] values and creates
// one [Instance] per session. WASM plugins (package plugins) implement the same
// [Factory] interface, so the gateway cannot tell a native filter from a
// sandboxed one.
//
// Contracts:
//   - A [Filter] belongs to one session and is called by one goroutine at a
//     time; it needs no locking for its own state.
//   - [Message.Payload] is valid until OnMessage returns. A filter that keeps
//     bytes must copy them. A filter may rewrite Payload in place or point it
//     at a slice it owns.
//   - The gateway re-checks what a filter returns (size limits, UTF-8 of text
//     messages): a filter cannot make weir send an invalid frame.
//
// A native filter type is an [Info] (a name and a constructor from its JSON
// configuration) in a [Registry] that the program builds; [DecodeConfig] and
// [ConfigError] give every constructor the same strict decoding and errors
// naming the key at fault. The built-in filters are under native/, and
// filterstest helps test any filter, native or WASM.
//
// This package must not import gateway, plugins or policy: it is a leaf that
// knows nothing of the server.
package filters
