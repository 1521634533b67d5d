// Package e2e is weir's end-to-end suite: it builds the weir binary once,
// runs it on loopback port 0 with configurations written per test, and
// drives it with clients that share no code with weir — the
// github.com/coder/websocket Go library, the `ws` npm client
// (node/client.mjs) and headless Chromium over the DevTools protocol.
//
// What it owns: the process harness (start, wait for the "listening" log
// line, stop with SIGTERM and require exit status 0, kill by PID when a test
// ends early), a Go echo backend with close-code controls, and the tests of
// the contract the binary offers from outside: echo and data integrity
// (D-01), close-code relay (D-02), reload on SIGHUP and POST /reload with
// live sessions, graceful drain on SIGTERM (G-01), the admin endpoints, and
// the `validate` and `version` commands.
//
// It imports nothing from weir but plugins/pluginstest, which only runs
// the toolchains that build the example filters: the binary and its
// documented configuration are the whole interface, so these tests keep
// their meaning when the internals change.
//
// External programs: `node` (with `npm ci` run in node/) and Debian's
// `chromium`. A test that needs one skips with a message naming the missing
// program; CI installs both (tests/setup.sh).
package e2e
