// Package native lists weir's built-in filters. Each lives in its own
// package under this one, with the same files every time:
//
//	doc.go          the filter's README: what it does, its configuration
//	                keys with defaults, an example (tested), its costs
//	<name>.go       Info() and the filter
//	<name>_test.go  table tests, filterstest.Conformance, fuzz targets,
//	                benchmarks with the figures they gave
//
// plus files split by concern where a filter is big enough to need them
// (redact/json.go). The README sections (Description, Configuration,
// Example, Cost) and the examples themselves are checked by a test here.
//
// [All] is the list a program builds its filters.Registry from; nothing
// registers itself. A new filter is a new folder and one line in All.
package native
