//go:build wasip1

package main

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// config is the filter's JSON configuration.
type config struct {
	Window      string // a Go duration: "10s", "1m"
	MaxMessages int64
	MaxBytes    int64
	OnExceed    string // close or drop
	Reason      string
}

// parse reads the config object: a flat JSON object of strings and
// integers. A small reader rather than encoding/json: with encoding/json
// (and fmt) the module grows from about 2.2 MB to 3.4 MB, and the gateway
// compiles every byte of it at each load.
func (c *config) parse(b []byte) error {
	r := reader{b: b}
	if !r.take('{') {
		return errors.New("quota: config must be a JSON object")
	}
	if r.take('}') {
		return r.end()
	}
	for {
		key, err := r.str()
		if err != nil {
			return err
		}
		if !r.take(':') {
			return errNotJSON
		}
		switch key {
		case "window":
			c.Window, err = r.str()
		case "on_exceed":
			c.OnExceed, err = r.str()
		case "reason":
			c.Reason, err = r.str()
		case "max_messages":
			c.MaxMessages, err = r.int(key)
		case "max_bytes":
			c.MaxBytes, err = r.int(key)
		default:
			return errors.New("quota: config: unknown key " + strconv.Quote(key) +
				" (known: window, max_messages, max_bytes, on_exceed, reason)")
		}
		if err != nil {
			return err
		}
		if r.take(',') {
			continue
		}
		if r.take('}') {
			return r.end()
		}
		return errNotJSON
	}
}

var errNotJSON = errors.New("quota: config is not valid JSON")

type reader struct {
	b []byte
	i int
}

func (r *reader) skipWS() {
	for r.i < len(r.b) && (r.b[r.i] == ' ' || r.b[r.i] == '\t' || r.b[r.i] == '\n' || r.b[r.i] == '\r') {
		r.i++
	}
}

// take skips whitespace and consumes c if it comes next.
func (r *reader) take(c byte) bool {
	r.skipWS()
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

func (r *reader) end() error {
	r.skipWS()
	if r.i != len(r.b) {
		return errNotJSON
	}
	return nil
}

// hex4 reads the four hex digits of a \u escape.
func (r *reader) hex4() (rune, bool) {
	if len(r.b)-r.i < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(r.b[r.i:r.i+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	r.i += 4
	return rune(v), true
}

// str reads a string, decoding its escapes; invalid UTF-8 and lone
// surrogates become U+FFFD, as encoding/json does.
func (r *reader) str() (string, error) {
	if !r.take('"') {
		return "", errNotJSON
	}
	var out []byte
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return string(out), nil
		case c < 0x20:
			return "", errNotJSON
		case c != '\\':
			ch, n := utf8.DecodeRune(r.b[r.i:])
			out = utf8.AppendRune(out, ch)
			r.i += n
			continue
		}
		if r.i+1 >= len(r.b) {
			return "", errNotJSON
		}
		e := r.b[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			ch, ok := r.hex4()
			if !ok {
				return "", errNotJSON
			}
			if utf16.IsSurrogate(ch) && r.i+1 < len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
				save := r.i
				r.i += 2
				lo, ok := r.hex4()
				if dec := utf16.DecodeRune(ch, lo); ok && dec != utf8.RuneError {
					ch = dec
				} else {
					r.i = save
				}
			}
			out = utf8.AppendRune(out, ch) // a lone surrogate appends U+FFFD
		default:
			return "", errNotJSON
		}
	}
	return "", errNotJSON
}

// int reads an integer written without fraction or exponent.
func (r *reader) int(key string) (int64, error) {
	r.skipWS()
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	v, err := strconv.ParseInt(string(r.b[start:r.i]), 10, 64)
	if err != nil || (r.i < len(r.b) && (r.b[r.i] == '.' || r.b[r.i] == 'e' || r.b[r.i] == 'E')) {
		return 0, errors.New("quota: config: " + key + " must be an integer")
	}
	return v, nil
}
