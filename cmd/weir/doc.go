// Command weir is the WebSocket gateway.
//
//	weir [run] [-c gateway.yaml] [--set key=value]...   run the gateway (the default)
//	weir validate -c gateway.yaml                        check a configuration, print every error
//	weir filter test FILTER.wasm [--config C] < in.jsonl run a WASM filter offline
//	weir version                                         print the version
//
// With no -c, weir runs its embedded default configuration: a demo page on
// http://127.0.0.1:8080/ and a built-in echo backend behind /echo.
//
// Signals: SIGTERM and SIGINT drain gracefully (new connections refused,
// live sessions closed with 1001, bounded by server.drain_timeout); SIGHUP
// reloads the configuration file without dropping live sessions. So does a
// change on disk to the configuration file or a .wasm module a route names,
// with reload.watch on (the default).
package main
