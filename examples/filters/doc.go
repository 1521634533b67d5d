// Package filters holds weir's example message filters, one realistic
// filter per guest language, each in its own folder with a README (what it
// does, its JSON configuration, how to build it, a gateway.yaml snippet):
//
//   - pii-redact-c (C): masks e-mail addresses and card numbers in text
//     messages, in place.
//   - json-allowlist-rust (Rust): text messages must be JSON objects; fields
//     off an allowlist are removed, or the message is dropped, or the
//     session is closed with 1008.
//   - quota-go (Go): a per-session quota of messages and bytes per window;
//     the first message over it closes the session with 1008.
//   - tag-as (AssemblyScript): stamps every JSON object from the client
//     with the session's user and a per-session sequence number.
//
// The Go code here is only tests: they build each filter from source with
// plugins/pluginstest and run it on a plugins.Host, message by message,
// the way `weir filter test` does; the end-to-end tests in tests/e2e run
// the same filters inside the weir binary. The Go filter's package carries
// the wasip1 build constraint, so `go build ./...` and `go vet ./...` on
// the host skip it.
package filters
