// Package echo is weir's built-in echo backend: a small WebSocket server on
// loopback that sends every message back. The default configuration routes
// /echo to it, so that weir demonstrates itself with nothing else running.
// It is a demo and a test fixture, not a production backend.
package echo
