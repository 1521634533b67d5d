package config

import _ "embed"

// DefaultYAML is the configuration weir runs with when given none: one
// listener on 127.0.0.1:8080 with the built-in echo backend at /echo and the
// demo page at /, and the admin API on 127.0.0.1:9901. Everything is on
// loopback, so running the binary without flags exposes nothing.
//
// It is a var only because go:embed requires one; treat it as read-only.
//
//go:embed default.yaml
var DefaultYAML []byte
