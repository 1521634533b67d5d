package filters

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Info describes a native filter type that configuration can name.
type Info struct {
	// Name is what configuration writes after `native:`, e.g. "size_limit".
	Name string
	// New decodes the filter's configuration strictly (unknown keys are
	// errors), applies defaults, validates, and returns a Factory. raw is the
	// JSON encoding of the filter's `config:` block, or nil when it has none.
	New func(raw json.RawMessage) (Factory, error)
}

// Registry maps native filter names to their constructors. It is a value that
// the program builds and passes in: there is no global registration.
type Registry struct {
	infos map[string]Info
}

// NewRegistry returns a registry holding infos; a duplicate name is an error.
func NewRegistry(infos ...Info) (*Registry, error) {
	r := &Registry{infos: make(map[string]Info, len(infos))}
	for _, in := range infos {
		if in.Name == "" || in.New == nil {
			return nil, fmt.Errorf("filters: registry entry %q is incomplete", in.Name)
		}
		if _, dup := r.infos[in.Name]; dup {
			return nil, fmt.Errorf("filters: native filter %q registered twice", in.Name)
		}
		r.infos[in.Name] = in
	}
	return r, nil
}

// Lookup returns the filter type called name.
func (r *Registry) Lookup(name string) (Info, bool) {
	if r == nil {
		return Info{}, false
	}
	in, ok := r.infos[name]
	return in, ok
}

// Names returns the registered names, sorted.
func (r *Registry) Names() []string {
	if r == nil {
		return nil
	}
	names := make([]string, 0, len(r.infos))
	for n := range r.infos {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
