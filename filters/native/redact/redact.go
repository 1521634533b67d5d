package redact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
)

// Name is the name configuration uses for this filter.
const Name = "redact"

// Defaults of the configuration.
const (
	DefaultReplacement    = "[REDACTED]"
	DefaultMaxOutputBytes = 1 << 20
)

// ErrOutputTooLarge is the error of a message whose rewritten form would be
// larger than max_output_bytes (and than the message itself). The chain
// treats it as a filter failure: the session closes with 1011, or with
// on_error skip the message goes on unredacted.
var ErrOutputTooLarge = errors.New("redact: rewritten message would exceed max_output_bytes")

// Info describes the filter for a filters.Registry.
func Info() filters.Info {
	return filters.Info{Name: Name, New: newFactory}
}

// config is the filter's `config:` block.
type config struct {
	Fields         []string `json:"fields"`
	Patterns       []string `json:"patterns"`
	Replacement    *string  `json:"replacement"`
	MaxOutputBytes *int     `json:"max_output_bytes"`
}

func newFactory(raw json.RawMessage) (filters.Factory, error) {
	var cfg config
	if err := filters.DecodeConfig(Name, raw, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Fields) == 0 && len(cfg.Patterns) == 0 {
		return nil, &filters.ConfigError{Filter: Name, Key: "fields",
			Err: fmt.Errorf("%w: give fields, patterns or both", filters.ErrMissingKey)}
	}
	r := &redactor{maxOut: DefaultMaxOutputBytes, repl: []byte(DefaultReplacement)}
	for i, f := range cfg.Fields {
		if f == "" {
			return nil, filters.ConfigErrorf(Name, fmt.Sprintf("fields[%d]", i), "must not be empty")
		}
		r.fields = append(r.fields, []byte(f))
	}
	if cfg.Replacement != nil {
		if !utf8.ValidString(*cfg.Replacement) {
			return nil, filters.ConfigErrorf(Name, "replacement", "must be valid UTF-8")
		}
		r.repl = []byte(*cfg.Replacement)
	}
	r.replJSON = appendQuoted(nil, r.repl)
	if cfg.MaxOutputBytes != nil {
		if *cfg.MaxOutputBytes <= 0 {
			return nil, filters.ConfigErrorf(Name, "max_output_bytes", "must be > 0, got %d", *cfg.MaxOutputBytes)
		}
		r.maxOut = *cfg.MaxOutputBytes
	}
	if err := r.compile(cfg.Patterns); err != nil {
		return nil, err
	}
	return r, nil
}

// compile checks each pattern on its own, so that an error names it, then
// joins them into one regexp: one pass over the text finds a match of any.
// Each is wrapped in a group, which also scopes its flags ((?i) and so on).
func (r *redactor) compile(patterns []string) error {
	if len(patterns) == 0 {
		return nil
	}
	alts := make([]string, len(patterns))
	for i, p := range patterns {
		key := fmt.Sprintf("patterns[%d]", i)
		re, err := syntax.Parse(p, syntax.Perl)
		if err != nil {
			return filters.ConfigErrorf(Name, key, "%w", err)
		}
		// A pattern that matches the empty string would "redact" between
		// every two characters.
		if nullable(re) {
			return filters.ConfigErrorf(Name, key, "%q can match the empty string", p)
		}
		alts[i] = "(?:" + p + ")"
	}
	re, err := regexp.Compile(strings.Join(alts, "|"))
	if err != nil {
		return filters.ConfigErrorf(Name, "patterns", "%w", err)
	}
	r.re = re
	return nil
}

// nullable reports whether re can match the empty string.
func nullable(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpStar, syntax.OpQuest,
		syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	case syntax.OpCapture, syntax.OpPlus:
		return nullable(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min == 0 || nullable(re.Sub[0])
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !nullable(s) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if nullable(s) {
				return true
			}
		}
		return false
	}
	return false // literals, classes, any character, no match
}

// redactor is both the factory and the filter: it keeps no state per
// session, so every session shares it and NewFilter costs nothing. It is
// immutable but for its pool, which is safe for concurrent use.
type redactor struct {
	fields   [][]byte
	re       *regexp.Regexp // nil without patterns
	repl     []byte
	replJSON []byte // repl as a JSON string, quotes included
	maxOut   int

	// scratch holds *[]byte for decoding escaped JSON strings; a buffer
	// never leaves one OnMessage call.
	scratch sync.Pool
}

var (
	_ filters.Factory = (*redactor)(nil)
	_ filters.Filter  = (*redactor)(nil)
)

// maxScratch is the largest decoding buffer kept for reuse, so that one huge
// escaped string does not pin its buffer for good.
const maxScratch = 64 << 10

// NewFilter returns r itself.
func (r *redactor) NewFilter(context.Context, *filters.Session) (filters.Filter, error) {
	return r, nil
}

// OnMessage rewrites a text message holding something to redact; binary
// messages pass untouched. A rewritten Payload is a new slice the filter
// does not keep. It does not allocate when there is nothing to redact.
func (r *redactor) OnMessage(_ context.Context, _ *filters.Session, m *filters.Message) (filters.Verdict, error) {
	if m.Op != ws.OpText {
		return filters.Continue, nil
	}
	out, err := r.rewrite(m.Payload)
	if err != nil {
		return filters.Continue, err
	}
	if out != nil {
		m.Payload = out
	}
	return filters.Continue, nil
}

// rewrite returns p redacted, or nil when there is nothing to redact.
//
// JSON is walked string by string even when only patterns are configured:
// Go's regexp runs its fast backtracking engine on short inputs and its
// slower NFA on long ones, so matching each string on its own costs less
// than one pass over the whole message (about 190 MB/s against 20-70 MB/s
// for the patterns of the benchmark).
func (r *redactor) rewrite(p []byte) ([]byte, error) {
	w := rewriter{r: r, in: p, limit: max(len(p), r.maxOut)}
	switch {
	case maybeJSON(p) && json.Valid(p):
		w.walkJSON()
	case r.re == nil:
		return nil, nil
	default:
		w.replace(0, len(p), p, false)
	}
	if w.scratch != nil && cap(*w.scratch) <= maxScratch {
		*w.scratch = (*w.scratch)[:0]
		r.scratch.Put(w.scratch)
	}
	return w.finish()
}

// maybeJSON reports whether p starts the way a JSON text does. It spares
// plain text a call of json.Valid, which allocates its error.
func maybeJSON(p []byte) bool {
	switch nextByte(p, 0) {
	case '{', '[', '"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 't', 'f', 'n':
		return true
	}
	return false
}

// rewriter is the state of one rewrite; it lives on the caller's stack.
type rewriter struct {
	r     *redactor
	in    []byte
	limit int

	out     []byte // nil until the first change
	copied  int    // in[:copied] is in out already
	scratch *[]byte
	err     error
}

// walkJSON visits every string and number of the JSON text w.in. A string
// followed by ':' is a key; the value after a key named in fields is
// replaced when it is a string or a number. Objects and arrays are not
// replaced but walked into, so fields match at any depth.
func (w *rewriter) walkJSON() {
	p := w.in
	redactValue := false
	for i := 0; i < len(p) && w.err == nil; {
		switch c := p[i]; {
		case c == '"':
			end, escaped := stringEnd(p, i)
			isKey := nextByte(p, end) == ':'
			switch {
			case redactValue && !isKey:
				w.cut(i, end)
				w.out = append(w.out, w.r.replJSON...)
				redactValue = false
			default:
				text := p[i+1 : max(end-1, i+1)]
				if escaped {
					text = w.unquote(text)
				}
				if isKey {
					redactValue = w.r.isField(text)
				}
				if w.r.re != nil {
					w.replace(i, end, text, true)
				}
			}
			i = end
		case c == '-' || '0' <= c && c <= '9':
			end := numberEnd(p, i)
			switch {
			case redactValue:
				w.cut(i, end)
				w.out = append(w.out, w.r.replJSON...)
			case w.r.re != nil:
				w.replace(i, end, p[i:end], true)
			}
			redactValue = false
			i = end
		case c == '{' || c == '[' || c == 't' || c == 'f' || c == 'n':
			redactValue = false
			i++
		default:
			i++
		}
	}
}

// isField reports whether key is one of the configured field names, ignoring
// case as encoding/json does when it decodes into a struct: a backend that
// reads "SSN" into its Ssn field must not get it unredacted.
func (r *redactor) isField(key []byte) bool {
	for _, f := range r.fields {
		if bytes.EqualFold(key, f) {
			return true
		}
	}
	return false
}

// unquote decodes the escaped contents of a JSON string into the scratch
// buffer and returns them, valid until the next call.
func (w *rewriter) unquote(s []byte) []byte {
	if w.scratch == nil {
		if b, ok := w.r.scratch.Get().(*[]byte); ok {
			w.scratch = b
		} else {
			w.scratch = new([]byte)
		}
	}
	*w.scratch = appendUnquoted((*w.scratch)[:0], s)
	return *w.scratch
}

// replace applies the patterns to text, which stands for w.in[start:end]:
// when they match, w.in[start:end] is replaced by text with each match
// replaced, as a JSON string when quote is set.
func (w *rewriter) replace(start, end int, text []byte, quote bool) {
	if !w.r.re.Match(text) {
		return
	}
	// The closure must not capture w: that would move every rewriter to
	// the heap, also on the path that finds nothing.
	repl := w.r.repl
	budget := w.limit - len(w.out) - (start - w.copied)
	over := false
	replaced := w.r.re.ReplaceAllFunc(text, func([]byte) []byte {
		if budget -= len(repl); budget < 0 {
			over = true
			return nil
		}
		return repl
	})
	if over {
		w.err = ErrOutputTooLarge
		return
	}
	w.cut(start, end)
	if quote {
		w.out = appendQuoted(w.out, replaced)
	} else {
		w.out = append(w.out, replaced...)
	}
	if len(w.out) > w.limit {
		w.err = ErrOutputTooLarge
	}
}

// cut copies what comes before w.in[start:end] to out and skips the rest:
// the caller appends what replaces it.
func (w *rewriter) cut(start, end int) {
	if w.out == nil {
		w.out = make([]byte, 0, len(w.in)+len(w.in)/8+len(w.r.replJSON))
	}
	w.out = append(w.out, w.in[w.copied:start]...)
	w.copied = end
}

// finish returns the rewritten message, or nil when nothing changed.
func (w *rewriter) finish() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	if w.out == nil {
		return nil, nil
	}
	w.out = append(w.out, w.in[w.copied:]...)
	if len(w.out) > w.limit {
		return nil, ErrOutputTooLarge
	}
	return w.out, nil
}
