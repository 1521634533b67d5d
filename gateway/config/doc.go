// Package config owns weir's configuration: the schema (Gateway and the types
// under it), loading it with koanf from a YAML file, WEIR_ environment
// variables and --set flags, the defaults, validation with the path of every
// bad key, and Diff, which tells a reload what changed.
//
// Sources, each overriding the one before:
//
//	defaults → YAML (LoadOptions.File or .Data) → WEIR_ env → --set flags
//
// Decoding is strict: an unknown key, a value of the wrong type or a bare
// number where a duration belongs is an error, and Load reports all of them
// at once as a *ValidationError whose FieldErrors carry paths such as
// routes[1].backends.members[0].address. Durations are written like 20s or
// 1m30s, sizes like 512, 64KiB or 1MB (see Size).
//
// The package is a leaf: it imports nothing else from this project, so every
// component can depend on it and tests can build configurations without a
// server. A component receives only its own part (a Route, a Limits); plugin
// and filter configuration stays undecoded (Filter.Config) until the
// component that owns it decodes it. Nothing here keeps state between calls:
// Load returns a fresh Gateway each time, safe to share read-only between
// goroutines once returned.
package config
