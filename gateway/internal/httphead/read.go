package httphead

import (
	"bufio"
	"bytes"
	"io"
)

// Errors with the status to answer. They never leave the package as they
// are: ReadRequest and ReadResponse hand out copies (see private).
var (
	errRequestLineTooLong = &Error{Status: 414, Reason: "request line too long"}
	errHeadTooLarge       = &Error{Status: 431, Reason: "request header section too large"}
	errTooManyHeaders     = &Error{Status: 431, Reason: "too many header lines"}
	errHeaderLineTooLong  = &Error{Status: 431, Reason: "header line too long"}
	errBareCR             = &Error{Status: 400, Reason: "bare CR in head"}
	errRequestLine        = &Error{Status: 400, Reason: "malformed request line"}
	errMethod             = &Error{Status: 400, Reason: "malformed method"}
	errTarget             = &Error{Status: 400, Reason: "request target is not in origin-form"}
	errProto              = &Error{Status: 400, Reason: "malformed HTTP version"}
	errVersion            = &Error{Status: 505, Reason: "HTTP version not supported"}
	errObsFold            = &Error{Status: 400, Reason: "obsolete line folding"}
	errFieldName          = &Error{Status: 400, Reason: "malformed header name"}
	errFieldValue         = &Error{Status: 400, Reason: "control character in header value"}
	errNoColon            = &Error{Status: 400, Reason: "header line without colon"}

	errStatusLine   = &Error{Status: 502, Reason: "malformed status line"}
	errRespTooLarge = &Error{Status: 502, Reason: "response head too large"}
	errRespHeader   = &Error{Status: 502, Reason: "malformed response header"}
)

// span locates a header's name and value inside the head's buffer.
type span struct{ ns, ne, vs, ve uint32 }

// inlineSpans is how many headers are tracked without a heap allocation; a
// browser upgrade carries 12 to 20.
const inlineSpans = 32

// head is the raw material of one message head while it is read: the start
// line and header lines copied into one buffer, and where each header lies.
type head struct {
	br    *bufio.Reader
	lim   Limits
	used  int // bytes of the head consumed so far, against lim.MaxBytes
	read  bool
	buf   []byte
	start int // end of the start line in buf
}

// line reads one line and returns it without its line end (CRLF or bare LF,
// RFC 9112 §2.2). tooLong answers a line that does not fit the reader's
// buffer, overBudget a line that takes the head past MaxBytes.
func (h *head) line(tooLong, overBudget error) ([]byte, error) {
	line, err := h.br.ReadSlice('\n')
	if len(line) > 0 {
		h.read = true
	}
	switch {
	case err == bufio.ErrBufferFull:
		return nil, tooLong
	case err == io.EOF:
		if !h.read {
			return nil, io.EOF
		}
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	}
	raw := len(line)
	n := raw - 1
	if n > 0 && line[n-1] == '\r' {
		n--
	}
	line = line[:n]
	// Lines count as received, line ends included. Empty lines are not
	// counted: the one that ends the head must not make a head of exactly
	// MaxBytes fail, and the ones skipped before a request line are
	// bounded by a count of their own.
	if n > 0 {
		h.used += raw
		if h.used > h.lim.MaxBytes {
			return nil, overBudget
		}
	}
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, errBareCR
	}
	return line, nil
}

// headErrors are the answers to a bad header section: a request's name the
// precise status, a response's all map to 502.
type headErrors struct {
	lineTooLong, tooLarge, tooMany error
	// syntax, when set, replaces every syntax error.
	syntax error
}

func (e *headErrors) bad(err error) error {
	if e.syntax != nil {
		return e.syntax
	}
	return err
}

var (
	requestHeadErrors  = headErrors{lineTooLong: errHeaderLineTooLong, tooLarge: errHeadTooLarge, tooMany: errTooManyHeaders}
	responseHeadErrors = headErrors{lineTooLong: errRespTooLarge, tooLarge: errRespTooLarge, tooMany: errRespTooLarge, syntax: errRespHeader}
)

// headers reads header lines up to the empty line. Each line is checked
// against the byte budget and the count before it is copied.
func (h *head) headers(e *headErrors, spans []span) ([]span, error) {
	// Bounded: every iteration consumes a non-empty line and counts it
	// against MaxHeaders, or returns.
	for {
		line, err := h.line(e.lineTooLong, e.tooLarge)
		if err != nil {
			if err == errBareCR {
				return nil, e.bad(err)
			}
			return nil, err
		}
		if len(line) == 0 {
			return spans, nil
		}
		if len(spans) == h.lim.MaxHeaders {
			return nil, e.tooMany
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obs-fold (RFC 9112 §5.2), or whitespace before the first
			// header line (§2.2): both are rejected.
			return nil, e.bad(errObsFold)
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return nil, e.bad(errNoColon)
		}
		name := line[:colon]
		if len(name) == 0 {
			return nil, e.bad(errFieldName)
		}
		for _, b := range name {
			if !IsTokenChar(b) {
				// Includes whitespace between the name and the colon
				// (RFC 9112 §5.1).
				return nil, e.bad(errFieldName)
			}
		}
		v := line[colon+1:]
		i, j := 0, len(v)
		for i < j && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
		for j > i && (v[j-1] == ' ' || v[j-1] == '\t') {
			j--
		}
		v = v[i:j]
		for _, b := range v {
			if (b < 0x20 && b != '\t') || b == 0x7f {
				return nil, e.bad(errFieldValue)
			}
		}
		ns := len(h.buf)
		h.buf = append(h.buf, name...)
		vs := len(h.buf)
		h.buf = append(h.buf, v...)
		spans = append(spans, span{ns: uint32(ns), ne: uint32(vs), vs: uint32(vs), ve: uint32(len(h.buf))})
	}
}

// fields turns spans into headers over s, the head's buffer as a string.
func fields(s string, spans []span) []Header {
	if len(spans) == 0 {
		return nil
	}
	hs := make([]Header, len(spans))
	for i, sp := range spans {
		hs[i] = Header{Name: s[sp.ns:sp.ne], Value: s[sp.vs:sp.ve]}
	}
	return hs
}

func newHead(br *bufio.Reader, lim Limits) head {
	lim = lim.withDefaults()
	return head{br: br, lim: lim, buf: make([]byte, 0, min(lim.MaxBytes, 1024))}
}

// private gives the caller its own copy of a package error, so that no
// caller can change what another one sees.
func private(err error) error {
	if e, ok := err.(*Error); ok {
		c := *e
		return &c
	}
	return err
}

// ReadRequest reads a request line and header section from br. It does not
// read a body.
//
// Up to four empty lines before the request line are skipped (RFC 9112
// §2.2). The request line must be exactly "METHOD SP origin-form SP
// HTTP/1.x" with single spaces; a well-formed version other than 1.0 and 1.1
// is 505.
func ReadRequest(br *bufio.Reader, lim Limits) (*Request, error) {
	r, err := readRequest(br, lim)
	if err != nil {
		return nil, private(err)
	}
	return r, nil
}

func readRequest(br *bufio.Reader, lim Limits) (*Request, error) {
	h := newHead(br, lim)
	var line []byte
	for skipped := 0; ; skipped++ {
		var err error
		line, err = h.line(errRequestLineTooLong, errRequestLineTooLong)
		if err != nil {
			return nil, err
		}
		if len(line) > 0 {
			break
		}
		if skipped >= maxLeadingEmptyLines {
			return nil, errRequestLine
		}
	}
	method, target, proto, err := splitRequestLine(line)
	if err != nil {
		return nil, err
	}
	h.buf = append(h.buf, method...)
	h.buf = append(h.buf, target...)
	h.start = len(h.buf)
	var inline [inlineSpans]span
	spans, err := h.headers(&requestHeadErrors, inline[:0])
	if err != nil {
		return nil, err
	}
	s := string(h.buf)
	return &Request{
		Method:  s[:len(method)],
		Target:  s[len(method):h.start],
		Proto:   proto,
		Headers: fields(s, spans),
	}, nil
}

// maxLeadingEmptyLines bounds the empty lines skipped before a request line.
const maxLeadingEmptyLines = 4

// splitRequestLine checks "METHOD SP target SP HTTP/1.x" with single spaces.
func splitRequestLine(line []byte) (method, target []byte, proto string, err error) {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return nil, nil, "", errRequestLine
	}
	method = line[:sp1]
	for _, b := range method {
		if !IsTokenChar(b) {
			return nil, nil, "", errMethod
		}
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 < 0 {
		return nil, nil, "", errRequestLine
	}
	target = rest[:sp2]
	version := rest[sp2+1:]
	if len(target) == 0 {
		return nil, nil, "", errRequestLine
	}
	if target[0] != '/' {
		return nil, nil, "", errTarget
	}
	for _, b := range target {
		// Visible ASCII only: non-ASCII must be percent-encoded and a
		// fragment is never sent (RFC 9112 §3.2, RFC 3986 §3).
		if b <= ' ' || b >= 0x7f || b == '#' {
			return nil, nil, "", errTarget
		}
	}
	proto, err = parseVersion(version)
	if err != nil {
		if err == errProto {
			// Covers a second space, which lands in the version.
			return nil, nil, "", errRequestLine
		}
		return nil, nil, "", err
	}
	return method, target, proto, nil
}

// Protocol versions, as they appear on the wire.
const (
	HTTP11 = "HTTP/1.1"
	HTTP10 = "HTTP/1.0"
)

// parseVersion accepts HTTP/1.1 and HTTP/1.0; any other well-formed
// HTTP-version is 505, anything else 400.
func parseVersion(v []byte) (string, error) {
	switch string(v) {
	case HTTP11:
		return HTTP11, nil
	case HTTP10:
		return HTTP10, nil
	}
	if len(v) == 8 && string(v[:5]) == "HTTP/" && isDigit(v[5]) && v[6] == '.' && isDigit(v[7]) {
		return "", errVersion
	}
	return "", errProto
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// ReadResponse reads a status line and header section from br. It does not
// read a body. The status line must be "HTTP/1.x SP 3DIGIT [SP reason]" with
// a status from 100 to 599. Every syntax or size failure is an *Error with
// Status 502: what a gateway answers when a backend's head is unusable.
func ReadResponse(br *bufio.Reader, lim Limits) (*Response, error) {
	r, err := readResponse(br, lim)
	if err != nil {
		return nil, private(err)
	}
	return r, nil
}

func readResponse(br *bufio.Reader, lim Limits) (*Response, error) {
	h := newHead(br, lim)
	line, err := h.line(errRespTooLarge, errRespTooLarge)
	if err == errBareCR {
		return nil, errStatusLine
	}
	if err != nil {
		return nil, err
	}
	if len(line) < 12 || line[8] != ' ' {
		return nil, errStatusLine
	}
	var proto string
	switch string(line[:8]) {
	case HTTP11:
		proto = HTTP11
	case HTTP10:
		proto = HTTP10
	default:
		return nil, errStatusLine
	}
	d := line[9:12]
	if !isDigit(d[0]) || !isDigit(d[1]) || !isDigit(d[2]) || d[0] < '1' || d[0] > '5' {
		return nil, errStatusLine
	}
	status := int(d[0]-'0')*100 + int(d[1]-'0')*10 + int(d[2]-'0')
	var reason []byte
	if len(line) > 12 {
		if line[12] != ' ' {
			return nil, errStatusLine
		}
		reason = line[13:]
		for _, b := range reason {
			// reason-phrase = *( HTAB / SP / VCHAR / obs-text )
			if (b < 0x20 && b != '\t') || b == 0x7f {
				return nil, errStatusLine
			}
		}
	}
	h.buf = append(h.buf, reason...)
	h.start = len(h.buf)
	var inline [inlineSpans]span
	spans, err := h.headers(&responseHeadErrors, inline[:0])
	if err != nil {
		return nil, err
	}
	s := string(h.buf)
	return &Response{
		Proto:   proto,
		Status:  status,
		Reason:  s[:h.start],
		Headers: fields(s, spans),
	}, nil
}
