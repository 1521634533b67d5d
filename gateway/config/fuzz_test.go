package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzLoad feeds arbitrary YAML to Load. Load must never panic, must return
// either a Gateway or an error (never both, never neither), and a Gateway it
// returns must pass Validate.
func FuzzLoad(f *testing.F) {
	f.Add(DefaultYAML)
	if example, err := os.ReadFile(exampleFile); err == nil {
		f.Add(example)
	}
	for _, s := range []string{
		validBase,
		overrideBase,
		"",
		"listeners: [",
		"listeners: {name: a}",
		"listeners: [~]",
		"listeners: [{name: a, address: \"127.0.0.1:0\"}]\nserver: {drain_timeout: 20}",
		"listeners: [{name: a, address: \"127.0.0.1:0\", tls: {certs: [{cert: /nonexistent, key: ''}]}}]",
		"routes: [{name: r, limits: {max_frame_bytes: 9223372036854775807, messages_per_second: 1e308}}]",
		"a: &a [*a, *a]\n",
		"listeners: [{name: a, address: \"127.0.0.1:0\"}]\nroutes: [{name: r, filters: [{native: x, config: {1: [a, {b: c}]}}], backends: {members: [{address: builtin:echo}]}}]",
		"!!binary AAAA",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Load(LoadOptions{Data: data})
		switch {
		case err != nil && g != nil:
			t.Fatalf("Load returned both a Gateway and %v", err)
		case err != nil:
			var ve *ValidationError
			if !errors.As(err, &ve) && !errors.Is(err, ErrSyntax) {
				t.Fatalf("Load error %v is neither a *ValidationError nor ErrSyntax", err)
			}
		case g == nil:
			t.Fatal("Load returned neither a Gateway nor an error")
		default:
			if err := g.Validate(); err != nil {
				t.Fatalf("Load accepted a config that Validate rejects: %v", err)
			}
			Diff(g, g)
		}
	})
}
