package admin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/weirproxy/weir/gateway/telemetry"
)

func TestAdminEndpoints(t *testing.T) {
	ready := true
	m := telemetry.NewMetrics()
	m.ConnectionsAccepted.Inc()
	reloadErr := errors.New("routes[0].name: must not be empty")
	s, err := Listen("127.0.0.1:0", Handlers{
		Ready:    func() bool { return ready },
		Metrics:  m,
		Sessions: func() int { return 7 },
		Reload:   func(context.Context) error { return reloadErr },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	base := "http://" + s.Addr().String()
	get := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("GET", "/healthz"); code != 200 {
		t.Fatalf("healthz = %d", code)
	}
	if code, _ := get("GET", "/readyz"); code != 200 {
		t.Fatalf("readyz = %d", code)
	}
	ready = false
	if code, _ := get("GET", "/readyz"); code != 503 {
		t.Fatalf("readyz while draining = %d, want 503", code)
	}
	if code, body := get("GET", "/metrics"); code != 200 || !strings.Contains(body, "weir_connections_accepted_total 1") {
		t.Fatalf("metrics = %d %q", code, body)
	}
	if code, body := get("GET", "/sessions"); code != 200 || !strings.Contains(body, `"live":7`) {
		t.Fatalf("sessions = %d %q", code, body)
	}
	if code, body := get("POST", "/reload"); code != 422 || !strings.Contains(body, "routes[0].name") {
		t.Fatalf("reload = %d %q", code, body)
	}
	if code, _ := get("GET", "/debug/pprof/"); code != 200 {
		t.Fatalf("pprof = %d", code)
	}
}
