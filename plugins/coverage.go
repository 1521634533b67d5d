package plugins

import (
	"slices"
	"sort"
)

// Coverage says which parts of ABI v1 a loaded module touches. It exists
// for conformance kits (sdk/tck): a kit compares the host's functions with
// what its guests import, so a function added to the host cannot go
// without a guest that calls it.
type Coverage struct {
	// HostFunctions are the weir_v1 functions registered in the plugin's
	// runtime, sorted: what the host really provides, not a copy of a list.
	HostFunctions []string
	// Imported are the weir_v1 functions the module imports, sorted.
	Imported []string
	// Hooks are the function exports ABI v1 names (sdk/ABI.md §2), in the
	// order of its table.
	Hooks []string
	// Exported are the Hooks the module exports, in the same order.
	Exported []string
}

// Coverage returns what the module of p imports and exports of ABI v1.
// After the plugin was closed (Release and its last session ended) the
// host module is gone and HostFunctions is empty.
func (p *Plugin) Coverage() Coverage {
	var c Coverage
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if !closed {
		if mod := p.runtime.Module(importModule); mod != nil {
			for name := range mod.ExportedFunctionDefinitions() {
				c.HostFunctions = append(c.HostFunctions, name)
			}
			sort.Strings(c.HostFunctions)
		}
	}
	for _, def := range p.compiled.ImportedFunctions() {
		if mod, name, _ := def.Import(); mod == importModule && !slices.Contains(c.Imported, name) {
			c.Imported = append(c.Imported, name)
		}
	}
	sort.Strings(c.Imported)
	exported := p.compiled.ExportedFunctions()
	for _, spec := range abiExports() {
		c.Hooks = append(c.Hooks, spec.name)
		if _, ok := exported[spec.name]; ok {
			c.Exported = append(c.Exported, spec.name)
		}
	}
	return c
}
