//go:build wasip1

// Command passthrough is the smallest weir filter: every message is
// forwarded as is.
package main

import "github.com/weirproxy/weir/sdk/go/weir"

type passthrough struct{}

func (passthrough) OnMessage(_ uint32, _ weir.Meta, payload []byte) weir.Result {
	return weir.Continue(len(payload))
}

func init() { weir.Register(passthrough{}) }

// main is never run: the module is a WASI reactor.
func main() {}
