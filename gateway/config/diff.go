package config

import "reflect"

// Diff lists what changed between two configurations, at the granularity a
// reload acts on: "listeners[name]" and "routes[name]" for each listener or
// route added, removed or changed (by name), "routes" when the surviving
// routes changed order (first match wins, so order is behaviour), and
// "admin", "server", "telemetry", "plugins", "reload" for those sections.
// The result is in schema order, names in the order new lists them, then
// removed ones in the order old listed them. An empty result means nothing
// changed. A nil Gateway counts as empty. Diff expects configurations that
// passed Validate (unique names); it does not modify its arguments.
func Diff(old, new *Gateway) []string {
	if old == nil {
		old = &Gateway{}
	}
	if new == nil {
		new = &Gateway{}
	}
	var out []string
	out = diffNamed(out, "listeners", old.Listeners, new.Listeners, func(l Listener) string { return l.Name })
	for _, sec := range []struct {
		name     string
		old, new any
	}{
		{"admin", old.Admin, new.Admin},
		{"server", old.Server, new.Server},
	} {
		if !reflect.DeepEqual(sec.old, sec.new) {
			out = append(out, sec.name)
		}
	}
	out = diffNamed(out, "routes", old.Routes, new.Routes, func(r Route) string { return r.Name })
	if !sameOrder(old.Routes, new.Routes) {
		out = append(out, "routes")
	}
	if !reflect.DeepEqual(old.Telemetry, new.Telemetry) {
		out = append(out, "telemetry")
	}
	if !reflect.DeepEqual(old.Plugins, new.Plugins) {
		out = append(out, "plugins")
	}
	if !reflect.DeepEqual(old.Reload, new.Reload) {
		out = append(out, "reload")
	}
	return out
}

// diffNamed appends section[name] for every element added, removed or
// changed between old and new, matched by name.
func diffNamed[T any](out []string, section string, old, new []T, name func(T) string) []string {
	before := make(map[string]T, len(old))
	for _, e := range old {
		if _, dup := before[name(e)]; !dup {
			before[name(e)] = e
		}
	}
	after := make(map[string]bool, len(new))
	for _, e := range new {
		n := name(e)
		if after[n] {
			continue
		}
		after[n] = true
		if prev, ok := before[n]; !ok || !reflect.DeepEqual(prev, e) {
			out = append(out, section+"["+n+"]")
		}
	}
	for _, e := range old {
		n := name(e)
		if !after[n] {
			after[n] = true // report a duplicated removed name once
			out = append(out, section+"["+n+"]")
		}
	}
	return out
}

// sameOrder reports whether the routes present in both lists appear in the
// same relative order.
func sameOrder(old, new []Route) bool {
	inNew := make(map[string]bool, len(new))
	for _, r := range new {
		inNew[r.Name] = true
	}
	inOld := make(map[string]bool, len(old))
	for _, r := range old {
		inOld[r.Name] = true
	}
	var a, b []string
	for _, r := range old {
		if inNew[r.Name] {
			a = append(a, r.Name)
		}
	}
	for _, r := range new {
		if inOld[r.Name] {
			b = append(b, r.Name)
		}
	}
	return reflect.DeepEqual(a, b)
}
