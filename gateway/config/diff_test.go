package config

import (
	"reflect"
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(g *Gateway)
		want   []string
	}{
		{"nothing", func(g *Gateway) {}, nil},
		{"server", func(g *Gateway) { g.Server.DrainTimeout = time.Minute }, []string{"server"}},
		{"admin", func(g *Gateway) { g.Admin.Address = "" }, []string{"admin"}},
		{"telemetry", func(g *Gateway) { g.Telemetry.Logs.Level = "debug" }, []string{"telemetry"}},
		{"plugins", func(g *Gateway) { g.Plugins.Shards = 4 }, []string{"plugins"}},
		{"reload", func(g *Gateway) { g.Reload.DrainTimeout = time.Minute }, []string{"reload"}},
		{"listener changed", func(g *Gateway) { g.Listeners[1].Address = "127.0.0.1:1" }, []string{"listeners[internal]"}},
		{"listener added", func(g *Gateway) {
			g.Listeners = append(g.Listeners, Listener{Name: "extra", Address: "127.0.0.1:2"})
		}, []string{"listeners[extra]"}},
		{"listener removed", func(g *Gateway) { g.Listeners = g.Listeners[:1] }, []string{"listeners[internal]"}},
		{"route limit changed", func(g *Gateway) { g.Routes[0].Limits.Burst = 99 }, []string{"routes[chat]"}},
		{"route member changed", func(g *Gateway) { g.Routes[0].Backends.Members[0].Weight = 7 }, []string{"routes[chat]"}},
		{"route filter config changed", func(g *Gateway) {
			g.Routes[0].Filters[0].Config = map[string]any{"max_bytes": 1}
		}, []string{"routes[chat]"}},
		{"route renamed", func(g *Gateway) { g.Routes[1].Name = "page" }, []string{"routes[page]", "routes[demo]"}},
		{"routes reordered", func(g *Gateway) { g.Routes[0], g.Routes[1] = g.Routes[1], g.Routes[0] }, []string{"routes"}},
		{"route removed keeps order", func(g *Gateway) { g.Routes = g.Routes[1:] }, []string{"routes[chat]"}},
		{"several", func(g *Gateway) {
			g.Server.MaxConnections = 1
			g.Routes[1].Serve = ""
			g.Listeners[0].Address = "127.0.0.1:3"
		}, []string{"listeners[public]", "server", "routes[demo]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, cur := loadBase(t), loadBase(t)
			tt.mutate(cur)
			if got := Diff(old, cur); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Diff = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDiffNil(t *testing.T) {
	g := loadBase(t)
	want := []string{"listeners[public]", "listeners[internal]", "admin", "server", "routes[chat]", "routes[demo]", "telemetry", "plugins", "reload"}
	if got := Diff(nil, g); !reflect.DeepEqual(got, want) {
		t.Errorf("Diff(nil, g) = %q, want %q", got, want)
	}
	if got := Diff(nil, nil); got != nil {
		t.Errorf("Diff(nil, nil) = %q, want nothing", got)
	}
}

func TestDiffDoesNotModify(t *testing.T) {
	old, cur := loadBase(t), loadBase(t)
	cur.Routes[0].Name = "x"
	before := loadBase(t)
	before.Routes[0].Name = "x"
	Diff(old, cur)
	if !reflect.DeepEqual(cur, before) || !reflect.DeepEqual(old, loadBase(t)) {
		t.Fatal("Diff modified its arguments")
	}
}
