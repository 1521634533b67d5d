// Package telemetry owns weir's process-wide observability: the slog logger
// built from configuration and the metrics every component updates.
//
// Metrics are plain atomic counters and gauges, labelled with a small closed
// set of values (route, status, close code), exported in the Prometheus text
// format by the admin listener. Updating one costs an atomic add and, for a
// labelled metric, one read-locked map lookup; nothing on the per-frame path
// allocates.
package telemetry
