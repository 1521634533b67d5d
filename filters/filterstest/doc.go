// Package filterstest helps test message filters: native ones, the WASM
// plugin host, and anything else that implements [filters.Factory].
//
//   - [NewSession] and [NewRecordedSession] give a filter a session whose
//     sender records what the filter injects and whether it closed the session.
//   - [Run] drives one filter instance through a list of messages the way the
//     gateway would and returns, per message, what the filter decided.
//   - [Conformance] checks the contracts every filter must meet, whatever it
//     does: it does not keep Payload after OnMessage returns, it tolerates many
//     concurrent sessions, it copes with empty and 1 MiB payloads, it closes
//     cleanly without having seen a message, and what it returns is something
//     the gateway may send.
//
// Everything here is for tests; it uses the testing package and allocates
// freely. It imports only filters and the standard library (plus gobwas/ws
// for opcodes), so the plugin host's tests can use it too.
package filterstest
