// Package admin is weir's admin HTTP API, served on its own listener
// (loopback by default): liveness, readiness, Prometheus metrics, pprof,
// and operations (reload, drain) that the program wires in as functions.
package admin
