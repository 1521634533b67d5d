package filters

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// ConfigError reports a bad `config:` block of a native filter. Filter is the
// filter's name, Key the configuration key at fault ("" when the block as a
// whole is bad, "patterns[2]" for an element of a list). The config loader
// takes it apart with errors.As to print the full path of the key
// (`routes[0].filters[1].config.max_bytes: must be > 0`).
type ConfigError struct {
	Filter string
	Key    string
	Err    error
}

func (e *ConfigError) Error() string {
	switch {
	case e.Key == "":
		return fmt.Sprintf("%s: %v", e.Filter, e.Err)
	case e.Filter == "":
		return fmt.Sprintf("%s: %v", e.Key, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Filter, e.Key, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// Conditions a ConfigError wraps, for callers that branch on the kind of
// mistake rather than on the key.
var (
	// ErrUnknownKey: the block names a key the filter does not have.
	ErrUnknownKey = errors.New("unknown key")
	// ErrMissingKey: a required key is absent.
	ErrMissingKey = errors.New("required key is missing")
	// ErrBadValue: a key has a value of the wrong type or out of range.
	ErrBadValue = errors.New("bad value")
)

// ConfigErrorf returns a *ConfigError for key whose Err wraps ErrBadValue
// with a message built from format and args.
func ConfigErrorf(filter, key, format string, args ...any) error {
	return &ConfigError{Filter: filter, Key: key, Err: fmt.Errorf("%w: "+format, append([]any{ErrBadValue}, args...)...)}
}

// DecodeConfig decodes raw, the JSON form of a filter's `config:` block, into
// the struct v points to, strictly: a key that is not the exact `json` tag of
// one of v's top-level fields is an ErrUnknownKey (encoding/json alone would
// accept "MAX_BYTES" for max_bytes), a value of the wrong type is an
// ErrBadValue, and anything but one JSON object is an ErrBadValue. Fields of v keep
// their values when raw is empty or JSON null, so callers set defaults in v
// before the call. Every error is a *ConfigError naming filter and, where
// there is one, the key.
//
// It runs at configuration time only; it uses reflection and allocates.
func DecodeConfig(filter string, raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("filters: DecodeConfig needs a pointer to a struct, got %T", v)
	}

	// Pass 1: the keys, exactly as written.
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return &ConfigError{Filter: filter, Err: fmt.Errorf("%w: config must be an object: %v", ErrBadValue, err)}
	}
	known := configKeys(rv.Elem().Type())
	for k := range keys {
		if !known[k] {
			return &ConfigError{Filter: filter, Key: k, Err: ErrUnknownKey}
		}
	}

	// Pass 2: the values.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &ConfigError{Filter: filter, Key: te.Field,
				Err: fmt.Errorf("%w: want %s, got JSON %s", ErrBadValue, te.Type, te.Value)}
		}
		return &ConfigError{Filter: filter, Err: fmt.Errorf("%w: %v", ErrBadValue, err)}
	}
	return nil
}

// configKeys returns the JSON names of t's exported top-level fields.
func configKeys(t reflect.Type) map[string]bool {
	keys := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		keys[name] = true
	}
	return keys
}
