// Command wsecho is the backend of weir's load bench: a minimal gobwas/ws
// echo server (one goroutine per connection, no filters) on a loopback
// address.
//
//	wsecho -addr 127.0.0.1:9001
//
// It prints "listening ADDR" on stdout once it accepts connections, and
// stops on SIGINT or SIGTERM. The server itself lives in
// tests/bench/internal/echo.
package main
