package httphead

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// browserUpgrade is what a current browser sends to open a WebSocket.
const browserUpgrade = "GET /chat?room=7 HTTP/1.1\r\n" +
	"Host: chat.example.com\r\n" +
	"Connection: Upgrade\r\n" +
	"Pragma: no-cache\r\n" +
	"Cache-Control: no-cache\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n" +
	"Upgrade: websocket\r\n" +
	"Origin: https://chat.example.com\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Accept-Language: en-GB,en;q=0.9\r\n" +
	"Cookie: session=0123456789abcdef; theme=dark\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" +
	"Sec-WebSocket-Protocol: chat.v2, chat.v1\r\n" +
	"\r\n"

var testLimits = Limits{MaxBytes: 8 << 10, MaxHeaders: 32}

func readReq(s string, bufSize int, lim Limits) (*Request, error) {
	return ReadRequest(bufio.NewReaderSize(strings.NewReader(s), bufSize), lim)
}

func status(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func TestReadRequestBrowserUpgrade(t *testing.T) {
	r, err := readReq(browserUpgrade, 4096, testLimits)
	if err != nil {
		t.Fatalf(
			"ReadRequest: %v",
			err)
	}
	if r.Method != "GET" || r.Target != "/chat?room=7" || r.Proto != HTTP11 {
		t.Fatalf(
			"request line = %q %q %q",
			r.Method, r.Target, r.Proto)
	}
	if len(r.Headers) != 14 {
		t.Fatalf(
			"got %d headers, want 14",
			len(r.Headers))
	}
	if got := r.Get("sec-websocket-key"); got != "dGhlIHNhbXBsZSBub25jZQ==" {
		t.Errorf(
			"Get(sec-websocket-key) = %q",
			got)
	}
	if got := r.Get("HOST"); got != "chat.example.com" {
		t.Errorf(
			"Get(HOST) = %q",
			got)
	}
	if r.Headers[0].Name != "Host" {
		t.Errorf(
			"name case not kept: %q",
			r.Headers[0].Name)
	}
	if got := r.Get("X-Missing"); got != "" {
		t.Errorf(
			"Get(X-Missing) = %q",
			got)
	}
	if r.Values("X-Missing") != nil || r.Count("X-Missing") != 0 {
		t.Errorf("missing header has values")
	}
}

func TestReadRequestValuesInOrder(t *testing.T) {
	in := "GET / HTTP/1.1\nHost: a\nX-A: 1\nx-a:2\nX-B: 3\nX-A:\t 3 \t\n\n"
	r, err := readReq(in, 4096, testLimits)
	if err != nil {
		t.Fatalf(
			"ReadRequest: %v",
			err)
	}
	got := r.Values("X-A")
	want := []string{"1", "2", "3"}
	if strings.Join(got, "|") != strings.Join(want, "|") || r.Count("x-A") != 3 {
		t.Fatalf(
			"Values = %q, Count = %d",
			got, r.Count("x-A"))
	}
	if r.Headers[2].Name != "x-a" {
		t.Errorf(
			"name = %q",
			r.Headers[2].Name)
	}
}

func TestReadRequestCases(t *testing.T) {
	const okHead = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	cases := []struct {
		name   string
		in     string
		status int // 0: success
	}{
		{name: "crlf", in: okHead},
		{name: "bare lf", in: "GET / HTTP/1.1\nHost: a\n\n"},
		{name: "mixed line ends", in: "GET / HTTP/1.1\r\nHost: a\n\r\n"},
		{name: "HTTP/1.0", in: "GET / HTTP/1.0\r\n\r\n"},
		{name: "no headers", in: "GET / HTTP/1.1\r\n\r\n"},
		{name: "one leading empty line", in: "\r\n" + okHead},
		{name: "four leading empty lines", in: "\r\n\n\r\n\n" + okHead},
		{name: "five leading empty lines", in: "\r\n\r\n\r\n\r\n\r\n" + okHead, status: 400},
		{name: "lower-case method is a token", in: "get / HTTP/1.1\r\n\r\n"},
		{name: "htab and obs-text in value", in: "GET / HTTP/1.1\r\nX: a\tb \xe9\r\n\r\n"},
		{name: "empty value", in: "GET / HTTP/1.1\r\nX:\r\n\r\n"},
		{name: "colon in value", in: "GET / HTTP/1.1\r\nX: a:b\r\n\r\n"},

		{name: "bare CR in request line", in: "GET /\r HTTP/1.1\r\n\r\n", status: 400},
		{name: "bare CR line end", in: "GET / HTTP/1.1\rHost: a\r\n\r\n", status: 400},
		{name: "bare CR in value", in: "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", status: 400},
		{name: "CR CR LF", in: "GET / HTTP/1.1\r\nX: a\r\r\n\r\n", status: 400},
		{name: "obs-fold", in: "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", status: 400},
		{name: "obs-fold tab", in: "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", status: 400},
		{name: "whitespace before first header", in: "GET / HTTP/1.1\r\n Host: a\r\n\r\n", status: 400},
		{name: "space before colon", in: "GET / HTTP/1.1\r\nHost : a\r\n\r\n", status: 400},
		{name: "tab before colon", in: "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", status: 400},
		{name: "empty name", in: "GET / HTTP/1.1\r\n: a\r\n\r\n", status: 400},
		{name: "non-token name", in: "GET / HTTP/1.1\r\nX(y): a\r\n\r\n", status: 400},
		{name: "non-ASCII name", in: "GET / HTTP/1.1\r\nX\xc3\xa9: a\r\n\r\n", status: 400},
		{name: "no colon", in: "GET / HTTP/1.1\r\nHost a\r\n\r\n", status: 400},
		{name: "NUL in value", in: "GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", status: 400},
		{name: "SOH in value", in: "GET / HTTP/1.1\r\nX: \x01\r\n\r\n", status: 400},
		{name: "DEL in value", in: "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", status: 400},
		{name: "ESC in value", in: "GET / HTTP/1.1\r\nX: \x1b[31m\r\n\r\n", status: 400},

		{name: "double space after method", in: "GET  / HTTP/1.1\r\n\r\n", status: 400},
		{name: "double space before version", in: "GET /  HTTP/1.1\r\n\r\n", status: 400},
		{name: "trailing space", in: "GET / HTTP/1.1 \r\n\r\n", status: 400},
		{name: "tab separator", in: "GET\t/ HTTP/1.1\r\n\r\n", status: 400},
		{name: "leading space", in: " GET / HTTP/1.1\r\n\r\n", status: 400},
		{name: "no version", in: "GET /\r\n\r\n", status: 400},
		{name: "no target", in: "GET HTTP/1.1\r\n\r\n", status: 400},
		{name: "method not a token", in: "G(T / HTTP/1.1\r\n\r\n", status: 400},
		{name: "asterisk-form", in: "OPTIONS * HTTP/1.1\r\n\r\n", status: 400},
		{name: "absolute-form", in: "GET http://a/ HTTP/1.1\r\n\r\n", status: 400},
		{name: "authority-form", in: "CONNECT a:443 HTTP/1.1\r\n\r\n", status: 400},
		{name: "fragment in target", in: "GET /a#b HTTP/1.1\r\n\r\n", status: 400},
		{name: "non-ASCII target", in: "GET /\xc3\xa9 HTTP/1.1\r\n\r\n", status: 400},
		{name: "lower-case version", in: "GET / http/1.1\r\n\r\n", status: 400},
		{name: "short version", in: "GET / HTTP/1\r\n\r\n", status: 400},
		{name: "HTTP/2.0", in: "GET / HTTP/2.0\r\n\r\n", status: 505},
		{name: "HTTP/1.2", in: "GET / HTTP/1.2\r\n\r\n", status: 505},
		{name: "HTTP/0.9", in: "GET / HTTP/0.9\r\n\r\n", status: 505},
		{name: "HTTP/3.0", in: "GET / HTTP/3.0\r\n\r\n", status: 505},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readReq(tc.in, 4096, testLimits)
			if got := status(err); got != tc.status || (tc.status == 0 && err != nil) {
				t.Fatalf(
					"status %d (err %v), want %d",
					got, err, tc.status)
			}
		})
	}
}

func TestReadRequestLimits(t *testing.T) {
	hdr := func(n int) string {
		var b strings.Builder
		b.WriteString("GET / HTTP/1.1\r\n")
		for i := 0; i < n; i++ {
			b.WriteString("X: 1\r\n")
		}
		b.WriteString("\r\n")
		return b.String()
	}
	// "GET / HTTP/1.1" is 14 bytes and "X: 1" 4, line ends included: 16
	// and 6.
	exact := 16 + 6*10
	cases := []struct {
		name    string
		in      string
		bufSize int
		lim     Limits
		status  int
	}{
		{name: "MaxHeaders exactly", in: hdr(10), bufSize: 64, lim: Limits{MaxBytes: 1000, MaxHeaders: 10}},
		{name: "MaxHeaders + 1", in: hdr(11), bufSize: 64, lim: Limits{MaxBytes: 1000, MaxHeaders: 10}, status: 431},
		{name: "MaxBytes exactly", in: hdr(10), bufSize: 64, lim: Limits{MaxBytes: exact, MaxHeaders: 100}},
		{name: "MaxBytes - 1", in: hdr(10), bufSize: 64, lim: Limits{MaxBytes: exact - 1, MaxHeaders: 100}, status: 431},
		{name: "request line over buffer", in: "GET /" + strings.Repeat("a", 100) + " HTTP/1.1\r\n\r\n", bufSize: 64, lim: Limits{MaxBytes: 1000, MaxHeaders: 10}, status: 414},
		{name: "request line over MaxBytes", in: "GET /" + strings.Repeat("a", 100) + " HTTP/1.1\r\n\r\n", bufSize: 4096, lim: Limits{MaxBytes: 64, MaxHeaders: 10}, status: 414},
		{name: "header line over buffer", in: "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 100) + "\r\n\r\n", bufSize: 64, lim: Limits{MaxBytes: 1000, MaxHeaders: 10}, status: 431},
		// L-08: 2 000 one-byte headers; 10 000 cookies; one 20 MB header.
		{name: "L-08 2000 headers", in: "GET / HTTP/1.1\r\n" + strings.Repeat("a:\r\n", 2000) + "\r\n", bufSize: 4096, lim: Limits{MaxBytes: 64 << 10, MaxHeaders: 100}, status: 431},
		{name: "L-08 10000 cookies", in: "GET / HTTP/1.1\r\nCookie: " + strings.Repeat("a=;", 10000) + "\r\n\r\n", bufSize: 64 << 10, lim: Limits{MaxBytes: 16 << 10, MaxHeaders: 100}, status: 431},
		{name: "defaults apply to zero limits", in: hdr(DefaultMaxHeaders + 1), bufSize: 4096, lim: Limits{}, status: 431},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readReq(tc.in, tc.bufSize, tc.lim)
			if got := status(err); got != tc.status || (tc.status == 0 && err != nil) {
				t.Fatalf(
					"status %d (err %v), want %d",
					got, err, tc.status)
			}
		})
	}
}

// TestReadRequestHugeHeader (L-08): a 20 MB header line is refused after
// one buffer's worth of bytes, with memory bounded by the reader's buffer.
func TestReadRequestHugeHeader(t *testing.T) {
	big := io.MultiReader(
		strings.NewReader("GET / HTTP/1.1\r\nX: "),
		io.LimitReader(repeatReader('a'), 20<<20),
		strings.NewReader("\r\n\r\n"),
	)
	var ms0, ms1 runtimeMem
	ms0.read()
	_, err := ReadRequest(bufio.NewReaderSize(big, 8<<10), Limits{MaxBytes: 16 << 10, MaxHeaders: 100})
	ms1.read()
	if status(err) != 431 {
		t.Fatalf(
			"err = %v, want 431",
			err)
	}
	if grew := ms1.total - ms0.total; grew > 1<<20 {
		t.Fatalf(
			"allocated %d bytes for a refused header",
			grew)
	}
}

func TestReadRequestIOErrors(t *testing.T) {
	t.Run("EOF before any byte", func(t *testing.T) {
		_, err := readReq("", 4096, testLimits)
		if err != io.EOF {
			t.Fatalf(
				"err = %v, want io.EOF itself",
				err)
		}
	})
	for _, in := range []string{"G", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: a\r\n", "GET / HTTP/1.1\r\nHost", "\r\n"} {
		t.Run("EOF inside the head", func(t *testing.T) {
			_, err := readReq(in, 4096, testLimits)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf(
					"%q: err = %v, want io.ErrUnexpectedEOF",
					in, err)
			}
		})
	}
	t.Run("deadline", func(t *testing.T) {
		c1, c2 := net.Pipe()
		defer c1.Close()
		defer c2.Close()
		if err := c1.SetReadDeadline(time.Now()); err != nil {
			t.Fatal(err)
		}
		_, err := ReadRequest(bufio.NewReader(c1), testLimits)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf(
				"err = %v, want the net timeout",
				err)
		}
	})
}

func TestErrorAsValueAndPointer(t *testing.T) {
	_, err := readReq("GET / HTTP/2.0\r\n\r\n", 4096, testLimits)
	var p *Error
	var v Error
	if !errors.As(err, &p) || !errors.As(err, &v) || p.Status != 505 || v.Status != 505 {
		t.Fatalf(
			"errors.As failed on %v",
			err)
	}
	// A caller changing its error must not change what the next one sees.
	p.Status = 999
	_, err = readReq("GET / HTTP/2.0\r\n\r\n", 4096, testLimits)
	if status(err) != 505 {
		t.Fatal("package error was shared")
	}
}

func TestReadRequestAllocs(t *testing.T) {
	sr := strings.NewReader(browserUpgrade)
	br := bufio.NewReaderSize(sr, 4096)
	n := testing.AllocsPerRun(100, func() {
		sr.Reset(browserUpgrade)
		br.Reset(sr)
		if _, err := ReadRequest(br, testLimits); err != nil {
			t.Fatal(err)
		}
	})
	// The buffer, the head's string, the headers and the Request.
	if n > 4 {
		t.Fatalf(
			"%v allocations per request, want ≤ 4",
			n)
	}
}

func readResp(s string) (*Response, error) {
	return ReadResponse(bufio.NewReaderSize(strings.NewReader(s), 4096), testLimits)
}

func TestReadResponse(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		status int // want Response.Status
		reason string
		err    int // want Error.Status; 0: success
	}{
		{name: "101", in: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", status: 101, reason: "Switching Protocols"},
		{name: "no reason", in: "HTTP/1.1 101\r\n\r\n", status: 101},
		{name: "empty reason", in: "HTTP/1.1 404 \r\n\r\n", status: 404},
		{name: "HTTP/1.0", in: "HTTP/1.0 200 OK\n\n", status: 200, reason: "OK"},
		{name: "reason with obs-text", in: "HTTP/1.1 403 Interdit \xe9\r\n\r\n", status: 403, reason: "Interdit \xe9"},
		{name: "HTTP/2", in: "HTTP/2 200 OK\r\n\r\n", err: 502},
		{name: "HTTP/1.2", in: "HTTP/1.2 200 OK\r\n\r\n", err: 502},
		{name: "four digits", in: "HTTP/1.1 1010 x\r\n\r\n", err: 502},
		{name: "two digits", in: "HTTP/1.1 99 x\r\n\r\n", err: 502},
		{name: "status 099", in: "HTTP/1.1 099 x\r\n\r\n", err: 502},
		{name: "status 600", in: "HTTP/1.1 600 x\r\n\r\n", err: 502},
		{name: "letters", in: "HTTP/1.1 1a1 x\r\n\r\n", err: 502},
		{name: "NUL in reason", in: "HTTP/1.1 200 O\x00K\r\n\r\n", err: 502},
		{name: "bare CR in status line", in: "HTTP/1.1 200 O\rK\r\n\r\n", err: 502},
		{name: "bad header", in: "HTTP/1.1 200 OK\r\nX : y\r\n\r\n", err: 502},
		{name: "obs-fold", in: "HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n", err: 502},
		{name: "too many headers", in: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X: y\r\n", 33) + "\r\n", err: 502},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := readResp(tc.in)
			if tc.err != 0 {
				if status(err) != tc.err {
					t.Fatalf(
						"err = %v, want status %d",
						err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf(
					"ReadResponse: %v",
					err)
			}
			if r.Status != tc.status || r.Reason != tc.reason {
				t.Fatalf(
					"got %d %q, want %d %q",
					r.Status, r.Reason, tc.status, tc.reason)
			}
		})
	}
	t.Run("EOF", func(t *testing.T) {
		if _, err := readResp(""); err != io.EOF {
			t.Fatalf(
				"err = %v, want io.EOF",
				err)
		}
		if _, err := readResp("HTTP/1.1 101 S\r\n"); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf(
				"err = %v, want io.ErrUnexpectedEOF",
				err)
		}
	})
	t.Run("headers", func(t *testing.T) {
		r, err := readResp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nconnection: Upgrade\r\n\r\n")
		if err != nil {
			t.Fatal(err)
		}
		if r.Get("Connection") != "Upgrade" || r.Count("UPGRADE") != 1 || len(r.Values("upgrade")) != 1 {
			t.Fatalf(
				"headers = %q",
				r.Headers)
		}
	})
}

// repeatReader yields the same byte forever.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// appendRequest writes r back as a request head.
func appendRequest(dst []byte, r *Request) []byte {
	dst = append(dst, r.Method...)
	dst = append(dst, ' ')
	dst = append(dst, r.Target...)
	dst = append(dst, ' ')
	dst = append(dst, r.Proto...)
	dst = append(dst, "\r\n"...)
	for _, h := range r.Headers {
		dst = append(dst, h.Name...)
		dst = append(dst, ": "...)
		dst = append(dst, h.Value...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

func equalRequests(a, b *Request) bool {
	if a.Method != b.Method || a.Target != b.Target || a.Proto != b.Proto || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i] != b.Headers[i] {
			return false
		}
	}
	return true
}
