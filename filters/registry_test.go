package filters_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/weirproxy/weir/filters"
)

func info(name string) filters.Info {
	return filters.Info{Name: name, New: func(json.RawMessage) (filters.Factory, error) { return plainFactory{}, nil }}
}

func TestRegistry(t *testing.T) {
	t.Run("lookup", func(t *testing.T) {
		r, err := filters.NewRegistry(info("b"), info("a"))
		if err != nil {
			t.Fatal(err)
		}
		if in, ok := r.Lookup("a"); !ok || in.Name != "a" {
			t.Fatal("Lookup(a)")
		}
		if _, ok := r.Lookup("c"); ok {
			t.Fatal("Lookup(c) found something")
		}
		if got := r.Names(); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("Names() = %q", got)
		}
	})
	t.Run("refused", func(t *testing.T) {
		for name, infos := range map[string][]filters.Info{
			"duplicate": {info("a"), info("b"), info("a")},
			"no name":   {info("")},
			"no New":    {{Name: "x"}},
		} {
			if r, err := filters.NewRegistry(infos...); err == nil || r != nil {
				t.Errorf("%s: NewRegistry = %v, %v; want an error", name, r, err)
			}
		}
	})
	t.Run("nil", func(t *testing.T) {
		var r *filters.Registry
		if _, ok := r.Lookup("a"); ok || r.Names() != nil {
			t.Fatal("a nil registry holds nothing")
		}
	})
}
