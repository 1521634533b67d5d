package filters_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/filters/native"
)

// A route's chain of two native filters, built the way the gateway builds
// it: factories from configuration once per generation, an instance per
// session, then every message through the instance.
func ExampleChain() {
	ctx := context.Background()
	reg, err := filters.NewRegistry(native.All()...)
	if err != nil {
		panic(err)
	}

	// Configuration time: decode, validate, build the factories.
	var entries []filters.Entry
	for _, f := range []struct{ name, config string }{
		{"size_limit", `{"max_bytes": 64}`},
		{"json_only", `{"require_object": true, "action": "drop"}`},
	} {
		info, _ := reg.Lookup(f.name)
		factory, err := info.New(json.RawMessage(f.config))
		if err != nil {
			panic(err)
		}
		entries = append(entries, filters.Entry{Name: f.name, Factory: factory, Dirs: filters.ClientToBackend})
	}
	chain := filters.NewChain(entries...)

	// Session time.
	in, err := chain.New(ctx, filters.NewSession(filters.Session{ID: 1, Route: "chat"}, nil))
	if err != nil {
		panic(err)
	}
	defer in.Close(ctx, 1000)

	for _, msg := range []string{
		`{"text":"hi"}`,
		`[1,2,3]`,
		`{"text":"` + strings.Repeat("a", 64) + `"}`,
	} {
		m := &filters.Message{Dir: filters.ClientToBackend, Op: ws.OpText, Payload: []byte(msg), Fin: true}
		v, err := in.OnMessage(ctx, m)
		fmt.Printf("%.14s %v %v\n", msg, v, err)
	}
	// Output:
	// {"text":"hi"} continue <nil>
	// [1,2,3] drop <nil>
	// {"text":"aaaaa close close 1009: message too big
}
