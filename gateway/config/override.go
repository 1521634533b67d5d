package config

import (
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// EnvPrefix starts every environment variable that Load reads.
const EnvPrefix = "WEIR_"

// nonConfigEnv reports whether name is a WEIR_ variable that is not a
// configuration key, which Load skips instead of refusing. The list is empty
// today: every WEIR_ variable must name a key, so a typo such as
// WEIR_SERVER_MAX_CONECTIONS fails loudly instead of being ignored. A variable
// the program reads for itself (say, one naming the config file) gets a case
// here.
func nonConfigEnv(name string) bool {
	switch name {
	default:
		return false
	}
}

// segment is one step of a resolved key: a field (key) or a list element
// (index >= 0).
type segment struct {
	key   string
	index int
}

func fieldSeg(k string) segment { return segment{key: k, index: -1} }

// render prints segments the way errors name paths: routes[0].limits.burst.
func render(segs []segment) string {
	var b strings.Builder
	for _, s := range segs {
		if s.index >= 0 {
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
}

// resolveEnv maps the lower-cased, underscore-split words of a variable name
// onto the schema. Field names contain underscores themselves
// (max_message_bytes), so a name cannot simply be split: at each struct the
// words are matched against each field's tag, and a number selects a list
// element. It returns the segments and the type at the end, or a reason.
func resolveEnv(t reflect.Type, words []string) ([]segment, reflect.Type, string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if len(words) == 0 {
		return nil, t, ""
	}
	switch t.Kind() {
	case reflect.Struct:
		tags := tagsOf(t)
		// Try tags with more words first, so that the most specific field
		// wins should two ever share a prefix; ties by name, for stability.
		names := slices.Collect(maps.Keys(tags))
		slices.SortFunc(names, func(a, b string) int {
			if c := cmp.Compare(strings.Count(b, "_"), strings.Count(a, "_")); c != 0 {
				return c
			}
			return strings.Compare(a, b)
		})
		for _, tag := range names {
			parts := strings.Split(tag, "_")
			if !wordsPrefix(words, parts) {
				continue
			}
			rest, leaf, why := resolveEnv(t.Field(tags[tag]).Type, words[len(parts):])
			if why == "" {
				return append([]segment{fieldSeg(tag)}, rest...), leaf, ""
			}
			if why != noKey {
				return nil, nil, why
			}
		}
	case reflect.Slice:
		i, err := strconv.Atoi(words[0])
		if err != nil || i < 0 || strconv.Itoa(i) != words[0] {
			break
		}
		rest, leaf, why := resolveEnv(t.Elem(), words[1:])
		if why != "" {
			return nil, nil, why
		}
		return append([]segment{{index: i}}, rest...), leaf, ""
	case reflect.Map:
		return nil, nil, "map entries (match headers, filter config) cannot be set from the environment; use --set or the file"
	}
	return nil, nil, noKey
}

const noKey = "names no configuration key"

func wordsPrefix(words, parts []string) bool {
	if len(parts) > len(words) {
		return false
	}
	for i, p := range parts {
		if words[i] != p {
			return false
		}
	}
	return true
}

// resolveSet maps a dotted --set key ("routes.0.limits.max_message_bytes",
// or with brackets, "routes[0].limits.max_message_bytes") onto the schema.
// Inside a map (match.headers, a filter's config) the rest of the key is one
// map key, taken literally. On failure the segments returned name the key as
// far as it was understood, for the error's path.
func resolveSet(root reflect.Type, key string) ([]segment, reflect.Type, string) {
	key = strings.NewReplacer("[", ".", "]", "").Replace(key)
	parts := strings.Split(key, ".")
	var segs []segment
	t := root
	for i, p := range parts {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := fieldByTag(t, p)
			if !ok {
				return append(segs, fieldSeg(p)), nil, "unknown key" + suggest(p, tagsOf(t))
			}
			segs = append(segs, fieldSeg(p))
			t = f.Type
		case reflect.Slice:
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || strconv.Itoa(n) != p {
				return segs, nil, fmt.Sprintf("a list: expected an element number, got %q", p)
			}
			segs = append(segs, segment{index: n})
			t = t.Elem()
		case reflect.Map:
			mk := strings.Join(parts[i:], ".")
			if mk == "" {
				return segs, nil, "expected a map key after the dot"
			}
			return append(segs, fieldSeg(mk)), t.Elem(), ""
		default:
			return append(segs, fieldSeg(p)), nil, "unknown key"
		}
	}
	return segs, t, ""
}

// tagsOf returns t's koanf tags, for suggestions.
func tagsOf(t reflect.Type) map[string]int {
	tags := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("koanf"); tag != "" && tag != "-" {
			tags[tag] = i
		}
	}
	return tags
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	i, ok := tagsOf(t)[tag]
	if !ok {
		return reflect.StructField{}, false
	}
	return t.Field(i), true
}

// settable reports whether a value of type t can be written as text: a
// scalar, a list of scalars (comma-separated), or an opaque map value.
func settable(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return false
	case reflect.Slice:
		return settable(t.Elem())
	}
	return true
}

// setAt writes val at segs inside the merged tree root, creating mappings on
// the way. It never creates list elements: an override of an element the
// configuration does not have is an error, because an element made of one
// key and defaults is almost never what was meant. On failure it returns the
// path where the walk stopped and why.
func setAt(root map[string]any, segs []segment, val any) (string, string) {
	var cur any = root
	for i, s := range segs {
		last := i == len(segs)-1
		if s.index >= 0 {
			l, ok := cur.([]any)
			if !ok || s.index >= len(l) {
				return render(segs[:i+1]), fmt.Sprintf("no such element: the configuration has %d in %s, and an override cannot add one", len(l), render(segs[:i]))
			}
			if last {
				l[s.index] = val
				return "", ""
			}
			if l[s.index] == nil {
				l[s.index] = make(map[string]any)
			}
			cur = l[s.index]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return render(segs[:i]), "holds " + describe(cur) + ", not a mapping, so " + render(segs) + " cannot be set"
		}
		if last {
			m[s.key] = val
			return "", ""
		}
		next := m[s.key]
		if next == nil {
			if segs[i+1].index >= 0 {
				return render(segs[:i+2]), fmt.Sprintf("no such element: the configuration has no %s, and an override cannot add one", render(segs[:i+1]))
			}
			next = make(map[string]any)
			m[s.key] = next
		}
		cur = next
	}
	return "", ""
}

// applyEnv applies WEIR_ variables from env (os.Environ form) to the tree.
func applyEnv(root map[string]any, env []string, p *problems) {
	schema := reflect.TypeFor[Gateway]()
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || nonConfigEnv(name) {
			continue
		}
		words := strings.Split(strings.ToLower(strings.TrimPrefix(name, EnvPrefix)), "_")
		segs, leaf, why := resolveEnv(schema, words)
		if why == "" && !settable(leaf) {
			why = render(segs) + " is a section, not a value; set one of its keys"
		}
		if why != "" {
			p.add(name, why)
			continue
		}
		if where, why := setAt(root, segs, overrideText(val)); why != "" {
			p.add(name, where+": "+why)
		}
	}
}

// applySets applies "key=value" overrides, in order, to the tree.
func applySets(root map[string]any, sets []string, p *problems) {
	schema := reflect.TypeFor[Gateway]()
	for _, kv := range sets {
		key, val, ok := strings.Cut(kv, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			p.add("--set "+kv, "expected key=value, like routes.0.limits.max_message_bytes=2MiB")
			continue
		}
		segs, leaf, why := resolveSet(schema, key)
		if why == "" && !settable(leaf) {
			why = "a section, not a value; set one of its keys"
		}
		if why != "" {
			path := render(segs)
			if path == "" {
				path = key
			}
			p.add(path, why)
			continue
		}
		if where, why := setAt(root, segs, overrideText(val)); why != "" {
			p.add(where, why)
		}
	}
}
