package telemetry

import (
	"bytes"
	"strings"
	"testing"
)

func TestPrometheusText(t *testing.T) {
	m := NewMetrics()
	m.ConnectionsAccepted.Inc()
	m.SessionsActive.Add(2)
	m.HandshakeRejected.With("403").Add(3)
	m.CloseSent.With("client", "1001").Add(1)
	m.ReloadDrainClosed.Inc()
	var buf bytes.Buffer
	m.WritePrometheus(&buf)
	out := buf.String()
	for _, want := range []string{
		"weir_connections_accepted_total 1\n",
		"weir_sessions_active 2\n",
		`weir_handshakes_rejected_total{status="403"} 3` + "\n",
		`weir_close_frames_sent_total{leg="client",code="1001"} 1` + "\n",
		"# TYPE weir_sessions_total counter\n",
		"weir_reload_drain_closed_total 1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if got := m.HandshakeRejected.Value("403"); got != 3 {
		t.Fatalf("Value = %d", got)
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	l, err := NewLogger(&buf, "json", "warn")
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "k", 1)
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), `"msg":"shown"`) {
		t.Fatalf("log output %q", buf.String())
	}
	if _, err := NewLogger(&buf, "xml", "info"); err == nil {
		t.Fatal("xml format accepted")
	}
	if _, err := NewLogger(&buf, "text", "loud"); err == nil {
		t.Fatal("bad level accepted")
	}
}

func BenchmarkCounterVecWith(b *testing.B) {
	m := NewMetrics()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m.FramesRelayed.With("client_to_backend").Add(1)
	}
}
