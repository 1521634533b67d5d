package httphead

import "strconv"

// Defaults used when a Limits field is zero or negative. They are a fallback
// that is safe on the internet, not a recommendation: configuration sets its
// own.
const (
	DefaultMaxBytes   = 32 << 10
	DefaultMaxHeaders = 100
)

// Limits bounds one message head.
type Limits struct {
	// MaxBytes bounds the start line plus all header lines, counted as
	// received (line ends included, the empty line that ends the head not
	// included).
	MaxBytes int
	// MaxHeaders bounds the number of header lines.
	MaxHeaders int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	return l
}

// Header is one header line.
type Header struct {
	// Name is the field name as received (its case is kept).
	Name string
	// Value is the field value without leading and trailing whitespace.
	Value string
}

// Request is the head of a request.
type Request struct {
	Method string
	// Target is the request-target, always in origin-form ("/path?query").
	Target string
	// Proto is "HTTP/1.1" or "HTTP/1.0".
	Proto   string
	Headers []Header
}

// Get returns the value of the first header named name (compared without
// regard to ASCII case), or "".
func (r *Request) Get(name string) string { return get(r.Headers, name) }

// Values returns the values of every header named name, in order, or nil.
func (r *Request) Values(name string) []string { return values(r.Headers, name) }

// Count returns how many header lines are named name.
func (r *Request) Count(name string) int { return count(r.Headers, name) }

// Response is the head of a response.
type Response struct {
	// Proto is "HTTP/1.1" or "HTTP/1.0".
	Proto   string
	Status  int
	Reason  string
	Headers []Header
}

// Get returns the value of the first header named name (compared without
// regard to ASCII case), or "".
func (r *Response) Get(name string) string { return get(r.Headers, name) }

// Values returns the values of every header named name, in order, or nil.
func (r *Response) Values(name string) []string { return values(r.Headers, name) }

// Count returns how many header lines are named name.
func (r *Response) Count(name string) int { return count(r.Headers, name) }

func get(hs []Header, name string) string {
	for i := range hs {
		if EqualFold(hs[i].Name, name) {
			return hs[i].Value
		}
	}
	return ""
}

func values(hs []Header, name string) []string {
	n := count(hs, name)
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := range hs {
		if EqualFold(hs[i].Name, name) {
			out = append(out, hs[i].Value)
		}
	}
	return out
}

func count(hs []Header, name string) int {
	n := 0
	for i := range hs {
		if EqualFold(hs[i].Name, name) {
			n++
		}
	}
	return n
}

// Error is a head that must not be processed, with the status to answer.
// Functions of this package return it as *Error; errors.As accepts either an
// *Error or an Error target.
type Error struct {
	// Status is 400, 414, 431 or 505 for a request, 502 for a response.
	Status int
	// Reason is a short fixed text; it never contains received bytes.
	Reason string
}

func (e Error) Error() string {
	return "httphead: " + strconv.Itoa(e.Status) + " " + e.Reason
}

// As lets errors.As fill an Error value target from an *Error.
func (e *Error) As(target any) bool {
	if t, ok := target.(*Error); ok {
		*t = *e
		return true
	}
	return false
}

// EqualFold reports whether a and b are equal under ASCII case folding.
// Unlike strings.EqualFold it does not fold other Unicode letters, so that
// "\u212A" (the Kelvin sign) never matches "k" in a header name or token.
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
