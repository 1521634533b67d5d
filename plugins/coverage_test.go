package plugins

import (
	"context"
	"maps"
	"slices"
	"testing"
)

// Coverage reports the functions the runtime really registers (the ABI's
// table, every one defined) and what a module imports and exports of it.
func TestCoverage(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 1})
	p := loadC(t, h, srcPassthrough, "")
	c := p.Coverage()
	if want := slices.Sorted(maps.Keys(weirImportSpecs())); !slices.Equal(c.HostFunctions, want) {
		t.Errorf("HostFunctions = %v, want %v", c.HostFunctions, want)
	}
	if len(c.Imported) != 0 {
		t.Errorf("passthrough imports %v", c.Imported)
	}
	if len(c.Hooks) != len(abiExports()) || !slices.Equal(c.Exported, []string{exportMarker, exportBuffer, exportOnMessage}) {
		t.Errorf("Hooks %v, Exported %v", c.Hooks, c.Exported)
	}

	full := loadC(t, h, srcHostcalls, "").Coverage()
	for _, name := range []string{"kv_get", "send_message", "set_tick"} {
		if !slices.Contains(full.Imported, name) {
			t.Errorf("hostcalls imports %v, missing %s", full.Imported, name)
		}
	}
	if !slices.Contains(full.Exported, exportOnDrain) {
		t.Errorf("hostcalls exports %v", full.Exported)
	}

	// A closed plugin has no host module any more.
	p2, err := h.Load(context.Background(), "closed", buildC(t, srcPassthrough), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := p2.Coverage().HostFunctions; len(got) != 0 {
		t.Errorf("after release: %v", got)
	}
}
