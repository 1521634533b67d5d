// Package demo holds the page weir serves on its default configuration: it
// opens a WebSocket to /echo through weir and shows what comes back.
package demo
