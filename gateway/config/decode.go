package config

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// overrideText marks a value that came from the environment or a --set flag.
// Such values are always text, so the decoder parses them into the field's
// type ("10000" into an int, "2MiB" into a Size, "a,b" into a list). Values
// from YAML keep YAML's types and are checked strictly: `max_connections:
// "10000"` is an error, as is `idle_timeout: 20`.
type overrideText string

var (
	durationType = reflect.TypeFor[time.Duration]()
	sizeType     = reflect.TypeFor[Size]()
)

// decoder turns the merged configuration tree (maps, lists and scalars, as
// koanf holds it) into a Gateway by walking the struct's koanf tags. It keeps
// going after an error so that one run reports every problem, and records the
// path of every key that was present, so that defaults fill only what no
// source set.
//
// It exists instead of koanf's mapstructure-based Unmarshal because that one
// is weakly typed (it takes 20 as 20ns), stops naming paths once it sees an
// unknown key, and cannot tell an explicit zero from an absent key.
type decoder struct {
	problems
	present map[string]bool
}

func newDecoder() *decoder { return &decoder{present: make(map[string]bool)} }

// isSet reports whether some source gave a value at path.
func (d *decoder) isSet(path string) bool { return d.present[path] }

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// value decodes raw into v. A nil raw (absent key, or YAML null) leaves v as
// it is, so that the default applies.
func (d *decoder) value(path string, raw any, v reflect.Value) {
	if raw == nil {
		return
	}
	d.present[path] = true
	text, isText := raw.(overrideText)

	switch v.Type() {
	case durationType:
		d.duration(path, raw, v)
		return
	case sizeType:
		d.size(path, raw, v)
		return
	}

	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(path, raw, v.Elem())
	case reflect.Struct:
		d.structure(path, raw, v)
	case reflect.Slice:
		d.list(path, raw, v)
	case reflect.Map:
		d.mapping(path, raw, v)
	case reflect.Interface:
		v.Set(reflect.ValueOf(plain(raw)))
	case reflect.String:
		s, ok := textOf(raw)
		if !ok {
			d.add(path, "expected a string, got "+describe(raw))
			return
		}
		v.SetString(s)
	case reflect.Bool:
		switch {
		case isText:
			b, err := strconv.ParseBool(string(text))
			if err != nil {
				d.add(path, "expected true or false, got "+strconv.Quote(string(text)))
				return
			}
			v.SetBool(b)
		default:
			b, ok := raw.(bool)
			if !ok {
				d.add(path, "expected true or false, got "+describe(raw))
				return
			}
			v.SetBool(b)
		}
	case reflect.Int:
		n, ok := intOf(raw)
		if !ok || v.OverflowInt(n) {
			d.add(path, "expected an integer, got "+describe(raw))
			return
		}
		v.SetInt(n)
	case reflect.Float64:
		f, ok := floatOf(raw)
		if !ok {
			d.add(path, "expected a number, got "+describe(raw))
			return
		}
		v.SetFloat(f)
	default:
		// Only reachable if types.go gains a field of a kind this decoder
		// does not know; TestDecoderCoversSchema fails first.
		d.add(path, "unsupported field type "+v.Type().String())
	}
}

func (d *decoder) structure(path string, raw any, v reflect.Value) {
	m, ok := raw.(map[string]any)
	if !ok {
		d.add(path, "expected a mapping of keys, got "+describe(raw))
		return
	}
	fields := tagsOf(v.Type())
	for _, k := range sortedKeys(m) {
		p := joinPath(path, k)
		i, ok := fields[k]
		if !ok {
			d.add(p, "unknown key"+suggest(k, fields))
			continue
		}
		d.value(p, m[k], v.Field(i))
	}
}

func (d *decoder) list(path string, raw any, v reflect.Value) {
	var items []any
	switch r := raw.(type) {
	case []any:
		items = r
	case overrideText:
		// A whole list from one variable or flag: comma-separated, which
		// only makes sense for lists of scalars.
		if v.Type().Elem().Kind() == reflect.Struct {
			d.add(path, "expected a list of mappings; set one key of one element instead, like "+indexPath(path, 0)+".name")
			return
		}
		for _, s := range strings.Split(string(r), ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, overrideText(s))
			}
		}
	default:
		d.add(path, "expected a list, got "+describe(raw))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, item := range items {
		p := indexPath(path, i)
		if item == nil {
			d.add(p, "empty list element")
			continue
		}
		d.value(p, item, out.Index(i))
	}
	v.Set(out)
}

func (d *decoder) mapping(path string, raw any, v reflect.Value) {
	m, ok := raw.(map[string]any)
	if !ok {
		d.add(path, "expected a mapping, got "+describe(raw))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(v.Type(), len(m)))
	}
	for _, k := range sortedKeys(m) {
		p := joinPath(path, k)
		if m[k] == nil && v.Type().Elem().Kind() != reflect.Interface {
			d.add(p, "expected a value")
			continue
		}
		ev := reflect.New(v.Type().Elem()).Elem()
		d.value(p, m[k], ev)
		v.SetMapIndex(reflect.ValueOf(k), ev)
	}
}

func (d *decoder) duration(path string, raw any, v reflect.Value) {
	s, _ := textOf(raw)
	dur, err := time.ParseDuration(strings.TrimSpace(s))
	if s == "" || err != nil {
		// A bare number is refused on purpose: 20 could mean seconds or
		// nanoseconds, and guessing wrong makes a timeout useless.
		d.add(path, "expected a duration like 20s or 1m30s, got "+describe(raw))
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) size(path string, raw any, v reflect.Value) {
	const want = "expected a size like 512, 64KiB or 1MiB"
	s, isText := textOf(raw)
	if !isText {
		n, ok := intOf(raw)
		if !ok {
			d.add(path, want+", got "+describe(raw))
			return
		}
		if n < 0 {
			d.add(path, want+", got a negative number")
			return
		}
		v.SetInt(n)
		return
	}
	sz, err := ParseSize(s)
	if err != nil {
		d.add(path, want+", got "+strconv.Quote(s))
		return
	}
	v.SetInt(int64(sz))
}

// textOf returns raw as text when it is a YAML string or override text.
func textOf(raw any) (string, bool) {
	switch r := raw.(type) {
	case string:
		return r, true
	case overrideText:
		return string(r), true
	}
	return "", false
}

// intOf accepts YAML integers and integer text from an override.
func intOf(raw any) (int64, bool) {
	switch r := raw.(type) {
	case int:
		return int64(r), true
	case int64:
		return r, true
	case uint64:
		if r > math.MaxInt64 {
			return 0, false
		}
		return int64(r), true
	case overrideText:
		n, err := strconv.ParseInt(strings.TrimSpace(string(r)), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// floatOf accepts YAML numbers and number text from an override; NaN and
// infinities are refused because no limit means anything with them.
func floatOf(raw any) (float64, bool) {
	var f float64
	switch r := raw.(type) {
	case float64:
		f = r
	case overrideText:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(string(r)), 64); err != nil {
			return 0, false
		}
	default:
		n, ok := intOf(raw)
		if !ok {
			return 0, false
		}
		f = float64(n)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// plain returns raw with every overrideText turned back into a string, for
// values the gateway keeps undecoded (filter config).
func plain(raw any) any {
	switch r := raw.(type) {
	case overrideText:
		return string(r)
	case map[string]any:
		out := make(map[string]any, len(r))
		for k, v := range r {
			out[k] = plain(v)
		}
		return out
	case []any:
		out := make([]any, len(r))
		for i, v := range r {
			out[i] = plain(v)
		}
		return out
	}
	return raw
}

// describe names what a wrong value was, for error messages.
func describe(raw any) string {
	switch r := raw.(type) {
	case string:
		return "the string " + strconv.Quote(r)
	case overrideText:
		return strconv.Quote(string(r))
	case bool:
		return "a boolean"
	case int, int64, uint64:
		return fmt.Sprintf("the number %v", r)
	case float64:
		return fmt.Sprintf("the number %v", r)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("a value of type %T", raw)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// suggest names the known key closest to an unknown one when it is a likely
// typo (edit distance at most 2), ties broken by name so output is stable.
func suggest(unknown string, fields map[string]int) string {
	const limit = 3
	best, bestDist := "", limit
	for k := range fields {
		dist := editDistance(unknown, k, limit)
		if dist < bestDist || (dist == bestDist && dist < limit && k < best) {
			best, bestDist = k, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, or limit when it
// is at least limit. Keys are short, so the quadratic cost does not matter,
// but long input (fuzzing, a pasted blob) is cut off early.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}
