//go:build tools

// Package tools pins modules that the project depends on before every
// package that uses them exists, so that go.mod stays stable while the
// packages land one by one.
package tools

import (
	_ "github.com/coder/websocket"
	_ "github.com/gobwas/ws"
	_ "github.com/gobwas/ws/wsutil"
	_ "github.com/knadh/koanf/parsers/yaml"
	_ "github.com/knadh/koanf/providers/env/v2"
	_ "github.com/knadh/koanf/providers/file"
	_ "github.com/knadh/koanf/providers/posflag"
	_ "github.com/knadh/koanf/providers/rawbytes"
	_ "github.com/knadh/koanf/providers/structs"
	_ "github.com/knadh/koanf/v2"
	_ "github.com/open-policy-agent/opa/v1/rego"
	_ "github.com/spf13/pflag"
	_ "github.com/tetratelabs/wazero"
	_ "go.opentelemetry.io/otel"
	_ "go.opentelemetry.io/otel/sdk/metric"
	_ "go.opentelemetry.io/otel/sdk/trace"
	_ "golang.org/x/sys/unix"
)
