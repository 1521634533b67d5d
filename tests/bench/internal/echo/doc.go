// Package echo is the backend of weir's load bench: a minimal WebSocket echo
// server built on gobwas/ws, with one goroutine per connection and nothing
// between the read and the write (no filters, no UTF-8 checks, no message
// reassembly).
//
// It echoes every data frame as it arrives (same opcode, same FIN bit,
// payload unmasked), answers pings with pongs and answers a Close with a
// Close carrying the same code. It is the same process behind every target
// the bench measures, so its cost is part of every row and cancels out in
// the ratios.
//
// It owns: the listener loop, per-connection goroutines and their shutdown.
// It must not import anything from weir itself: the bench measures weir from
// the outside.
package echo
