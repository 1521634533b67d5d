package httphead

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

var fuzzLimits = Limits{MaxBytes: 2048, MaxHeaders: 16}

func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		browserUpgrade,
		"GET / HTTP/1.1\nHost: a\n\n",
		"\r\nGET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
		"GET  / HTTP/1.1\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 512)
		r, err := ReadRequest(br, fuzzLimits)
		if err != nil {
			var e *Error
			switch {
			case errors.As(err, &e):
				switch e.Status {
				case 400, 414, 431, 505:
				default:
					t.Fatalf(
						"status %d",
						e.Status)
				}
			case err == io.EOF:
				if len(data) != 0 {
					t.Fatal("io.EOF after bytes were read")
				}
			case errors.Is(err, io.ErrUnexpectedEOF):
			default:
				t.Fatalf(
					"unexpected error %v",
					err)
			}
			return
		}
		if !IsToken(r.Method) || r.Target == "" || r.Target[0] != '/' || (r.Proto != HTTP11 && r.Proto != HTTP10) {
			t.Fatalf(
				"bad request line %q %q %q",
				r.Method, r.Target, r.Proto)
		}
		if len(r.Headers) > fuzzLimits.MaxHeaders {
			t.Fatalf(
				"%d headers",
				len(r.Headers))
		}
		size := len(r.Method) + len(r.Target)
		for _, h := range r.Headers {
			if !IsToken(h.Name) || !ValidFieldValue(h.Value) {
				t.Fatalf(
					"bad header %q: %q",
					h.Name, h.Value)
			}
			size += len(h.Name) + len(h.Value)
			if r.Get(h.Name) != r.Values(h.Name)[0] {
				t.Fatalf(
					"Get and Values disagree on %q",
					h.Name)
			}
		}
		if size > fuzzLimits.MaxBytes {
			t.Fatalf(
				"%d bytes kept, limit %d",
				size, fuzzLimits.MaxBytes)
		}
		// What was accepted reads back the same once written out again.
		again, err := ReadRequest(bufio.NewReaderSize(bytes.NewReader(appendRequest(nil, r)), 4096), Limits{MaxBytes: 1 << 20, MaxHeaders: 100})
		if err != nil || !equalRequests(r, again) {
			t.Fatalf(
				"round trip: %v",
				err)
		}
	})
}

func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
		"HTTP/1.1 101\r\n\r\n",
		"HTTP/1.0 404 Not Found\n\n",
		"HTTP/1.1 1010 x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 512)
		r, err := ReadResponse(br, fuzzLimits)
		if err != nil {
			var e *Error
			if errors.As(err, &e) && e.Status != 502 {
				t.Fatalf(
					"status %d",
					e.Status)
			}
			return
		}
		if r.Status < 100 || r.Status > 599 || (r.Proto != HTTP11 && r.Proto != HTTP10) {
			t.Fatalf(
				"bad status line %q %d",
				r.Proto, r.Status)
		}
		for _, b := range []byte(r.Reason) {
			if (b < 0x20 && b != '\t') || b == 0x7f {
				t.Fatalf(
					"control byte in reason %q",
					r.Reason)
			}
		}
		for _, h := range r.Headers {
			if !IsToken(h.Name) || !ValidFieldValue(h.Value) {
				t.Fatalf(
					"bad header %q: %q",
					h.Name, h.Value)
			}
		}
	})
}
