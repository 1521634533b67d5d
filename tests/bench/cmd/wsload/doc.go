// Command wsload is weir's WebSocket load tool. It drives one ws:// URL in
// one of four modes and prints one JSON line per result on stdout (plus a
// line for people on stderr):
//
//	wsload -mode throughput -url ws://127.0.0.1:8080/ -conns 8 -window 16 -size 1024 -duration 10s
//	wsload -mode latency    -url ... -rate 10000 -conns 8 -size 1024 -duration 10s -warmup 1s
//	wsload -mode connect    -url ... -workers 8 -duration 10s
//	wsload -mode idle       -url ... -sessions 9000 -duration 5m   # SIGUSR1 ends the hold
//	wsload -mode probe      -url ... -duration 10s                 # wait until the target echoes
//
// Every run is bounded by -duration and by -timeout, a hard limit on the
// whole process. The exit status is 0 when the run had no error, 1 when it
// completed with errors (counted in the JSON), 2 on bad usage or when the
// target could not be reached, 3 when the hard timeout struck.
//
// The measuring code lives in tests/bench/internal/load; this package only
// parses flags and prints.
package main
