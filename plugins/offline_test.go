package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestRunOffline(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 1})
	in := strings.Join([]string{
		`{"dir":"client","type":"text","data":"hello"}`,
		`{"dir":"backend","type":"binary","data":"AAEC","base64":true}`,
		`{"dir":"client","type":"text","data":"inject pong"}`,
		`{"dir":"client","type":"text","data":"drop"}`,
		`{"close":1000}`,
		``,
		`{"dir":"client","type":"text","data":"close 4001 bye"}`,
		`{"dir":"client","data":"config"}`,
		`{"dir":"client","data":"huge"}`,
		`{"dir":"client","data":"after the error"}`,
	}, "\n")
	want := strings.Join([]string{
		`{"session":1,"action":"forward","dir":"client","type":"text","data":"hello"}`,
		`{"session":1,"action":"forward","dir":"backend","type":"binary","data":"AAEC","base64":true}`,
		`{"session":1,"action":"forward","dir":"client","type":"text","data":"inject pong"}`,
		`{"session":1,"action":"inject","dir":"backend","type":"text","data":"pong"}`,
		`{"session":1,"action":"drop"}`,
		`{"session":1,"action":"end","code":1000}`,
		`{"session":2,"action":"close","code":4001,"reason":"bye"}`,
		`{"session":3,"action":"forward","dir":"client","type":"text","data":"{\"x\":true}"}`,
		`{"session":3,"action":"error","error":"ERR"}`,
		`{"session":3,"action":"close","code":1011,"reason":"filter failed"}`,
		`{"session":4,"action":"forward","dir":"client","type":"text","data":"after the error"}`,
		``,
	}, "\n")
	var out bytes.Buffer
	if err := RunOffline(context.Background(), h, buildC(t, srcHostcalls), []byte(`{"x":true}`), strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	// Error texts are not part of the contract: compare without them.
	got := out.String()
	lines := strings.Split(got, "\n")
	for i, l := range lines {
		if j := strings.Index(l, `"error":"`); j >= 0 {
			lines[i] = l[:j] + `"error":"ERR"}`
		}
	}
	if got = strings.Join(lines, "\n"); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestRunOfflineReject(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 1})
	// weir_init of init_fails refuses an empty config: the load fails.
	err := RunOffline(context.Background(), h, buildC(t, "testdata/init_fails.c"), nil, strings.NewReader(""), &bytes.Buffer{})
	if !errors.Is(err, ErrInitFailed) {
		t.Fatalf("got %v", err)
	}
}

func TestRunOfflineBadInput(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 1})
	wasm := buildC(t, srcPassthrough)
	for _, in := range []string{
		`{"dir":"sideways","data":"x"}`,
		`{"dir":"client","type":"ping"}`,
		`{"dir":"client","data":"!!","base64":true}`,
		`{"dir":"client","extra":1}`,
		`not json`,
	} {
		var out bytes.Buffer
		if err := RunOffline(context.Background(), h, wasm, nil, strings.NewReader(in), &out); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
}

// FuzzOfflineInput feeds arbitrary lines to the input decoder: it must
// refuse or decode, never panic, and keep plain text intact.
func FuzzOfflineInput(f *testing.F) {
	f.Add([]byte(`{"dir":"client","type":"text","data":"hello"}`))
	f.Add([]byte(`{"dir":"backend","type":"binary","data":"AAEC","base64":true}`))
	f.Add([]byte(`{"close":1000}`))
	f.Add([]byte(`{"dir":"client","data":"\u00e9\ud800"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var in OfflineInput
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if dec.Decode(&in) != nil || in.Close != nil {
			return
		}
		m, err := in.message()
		if err != nil {
			return
		}
		if !in.Base64 && string(m.Payload) != in.Data {
			t.Fatalf("payload %q, data %q", m.Payload, in.Data)
		}
	})
}
