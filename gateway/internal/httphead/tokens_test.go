package httphead

import (
	"strings"
	"testing"
)

func TestHasToken(t *testing.T) {
	cases := []struct {
		name   string
		values []string
		token  string
		want   bool
	}{
		{name: "single", values: []string{"Upgrade"}, token: "upgrade", want: true},
		{name: "H-01 keep-alive, Upgrade", values: []string{"keep-alive, Upgrade"}, token: "upgrade", want: true},
		{name: "OWS and tabs", values: []string{" keep-alive ,\tUPGRADE\t"}, token: "upgrade", want: true},
		{name: "second line", values: []string{"close", "upgrade"}, token: "upgrade", want: true},
		{name: "empty elements", values: []string{",,upgrade,,"}, token: "upgrade", want: true},
		{name: "substring is not a token", values: []string{"upgraded"}, token: "upgrade"},
		{name: "part of an element", values: []string{"x upgrade"}, token: "upgrade"},
		{name: "Kelvin sign does not fold", values: []string{"websoc\u212Aet"}, token: "websocket"},
		{name: "none", values: nil, token: "upgrade"},
		{name: "empty value", values: []string{""}, token: "upgrade"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := HasToken(tc.values, tc.token); got != tc.want {
				t.Fatalf(
					"HasToken(%q, %q) = %v",
					tc.values, tc.token, got)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	cases := []struct {
		name   string
		values []string
		want   []string
		ok     bool
	}{
		{name: "list", values: []string{"chat.v2, chat.v1"}, want: []string{"chat.v2", "chat.v1"}, ok: true},
		{name: "lines in order", values: []string{"a", "b ,c"}, want: []string{"a", "b", "c"}, ok: true},
		{name: "empty elements skipped", values: []string{" , a,, b ,"}, want: []string{"a", "b"}, ok: true},
		{name: "nothing", values: []string{""}, want: nil, ok: true},
		{name: "space inside", values: []string{"a b"}, ok: false},
		{name: "separator", values: []string{"a/b"}, ok: false},
		{name: "quoted", values: []string{`"a"`}, ok: false},
		{name: "non-ASCII", values: []string{"caf\xc3\xa9"}, ok: false},
		{name: "bad in second line", values: []string{"a", "b;c"}, ok: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Tokens(tc.values)
			if ok != tc.ok || strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf(
					"Tokens(%q) = %q, %v",
					tc.values, got, ok)
			}
			n, ok2 := CountTokens(tc.values)
			if ok2 != tc.ok || (ok2 && n != len(tc.want)) {
				t.Fatalf(
					"CountTokens(%q) = %d, %v",
					tc.values, n, ok2)
			}
		})
	}
}

func TestTokenChars(t *testing.T) {
	const tchars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for b := 0; b < 256; b++ {
		want := strings.IndexByte(tchars, byte(b)) >= 0
		if got := IsTokenChar(byte(b)); got != want {
			t.Errorf(
				"IsTokenChar(%#x) = %v",
				b, got)
		}
	}
	if IsToken("") {
		t.Error("empty string is a token")
	}
}

func TestValidFieldValue(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{v: "a b\tc", want: true},
		{v: "", want: true},
		{v: "\xff", want: true},
		{v: " a", want: false},
		{v: "a\t", want: false},
		{v: "a\r\nX: y", want: false},
		{v: "a\x00", want: false},
		{v: "a\x7f", want: false},
	} {
		if got := ValidFieldValue(tc.v); got != tc.want {
			t.Errorf(
				"ValidFieldValue(%q) = %v",
				tc.v, got)
		}
	}
}
