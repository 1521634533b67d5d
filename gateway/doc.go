// Package gateway is weir's server: listeners, the accept loop, the session
// lifecycle, the client handshake, the backend leg, the two relay engines and
// graceful drain.
//
// A session travels through these phases; each arrow is a place it can end
// early, with a defined answer (an HTTP status before the 101, a close code
// after it), a log line and a metric:
//
//	accept ─▶ admission (connection cap: 503)
//	  ─▶ request head (deadline: 408; size caps: 414/431; syntax: 400/505)
//	  ─▶ route (no route: 404; plain HTTP route served by weir itself)
//	  ─▶ handshake check (RFC 6455 §4.2.1: 400/426; Origin: 403)
//	  ─▶ filters' handshake hooks (status they choose)
//	  ─▶ backend pick + dial (nothing answers: 503 + Retry-After)
//	  ─▶ backend upgrade (timeout: 504; invalid 101: 502; non-101: relayed)
//	  ─▶ 101 to the client, Sec-WebSocket-Accept computed by weir
//	  ─▶ relay until close:
//	       frames: every frame parsed and validated both ways (1002, 1007,
//	               1009), message rate (1008), filter chain, pings, idle
//	               sessions parked on an epoll poller with no goroutine
//	       tunnel: opaque bytes, kernel splice, idle timeout only; parks idle
//	  ─▶ close: codes relayed; backend loss → 1011 to the client; client
//	     loss → 1001 to the backend; drain → 1001 to both.
//
// Costs per session: a pump that relays holds a 32 KiB reader and a work
// buffer (output batch, scratch) from pools, and a goroutine from a pool of
// reused workers (workers.go); after 2 ms without bytes it gives all of them
// back and parks on the poller. Whole frames are written from the reader
// where they were read (spans), large chunks of plain TCP legs with writev;
// the output batch takes the rest (parts of cut frames, filter output).
//
// A generation is an immutable snapshot of everything built from one
// configuration (routes, their balancers and filter chains). A session holds
// the generation it started with until it ends; a reload builds the next one
// aside and swaps a pointer, so a reload closes no WebSocket unless
// reload.drain_timeout asks for old sessions to be closed (1012) after it.
//
// This package must not be imported by anything but cmd/weir and tests.
package gateway
