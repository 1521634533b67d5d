package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/gateway/config"
	"github.com/weirproxy/weir/gateway/internal/httphead"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue makes a leaf certificate with the serial number given, for client
// authentication or for the names given (DNS names or IP addresses).
func (ca *testCA) issue(t *testing.T, serial int64, client bool, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: fmt.Sprintf("leaf %d", serial)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// clientCert makes a client certificate for a crypto/tls client.
func (ca *testCA) clientCert(t *testing.T, serial int64) tls.Certificate {
	t.Helper()
	c, k := ca.issue(t, serial, true)
	cert, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func writePEMFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsFiles is a certificate directory for one gateway.
type tlsFiles struct {
	dir   string
	pairs [][2]string // cert, key paths
	ca    string      // client CA bundle path, "" for none
}

// addPair writes a server certificate for names and lists it on the
// listener, after those added before.
func (f *tlsFiles) addPair(t *testing.T, ca *testCA, serial int64, names ...string) {
	t.Helper()
	c, k := ca.issue(t, serial, false, names...)
	n := len(f.pairs)
	cp, kp := filepath.Join(f.dir, fmt.Sprintf("cert%d.pem", n)), filepath.Join(f.dir, fmt.Sprintf("key%d.pem", n))
	writePEMFile(t, cp, c)
	writePEMFile(t, kp, k)
	f.pairs = append(f.pairs, [2]string{cp, kp})
}

func (f *tlsFiles) setClientCA(t *testing.T, cas ...*testCA) {
	t.Helper()
	f.ca = filepath.Join(f.dir, "client-ca.pem")
	var b []byte
	for _, ca := range cas {
		b = append(b, ca.pem...)
	}
	writePEMFile(t, f.ca, b)
}

// yaml is a configuration with the TLS listener "public" and the rest.
func (f *tlsFiles) yaml(rest string) string {
	var b strings.Builder
	b.WriteString("listeners:\n  - name: public\n    address: 127.0.0.1:0\n    tls:\n      certs:\n")
	for _, p := range f.pairs {
		fmt.Fprintf(&b, "        - {cert: %q, key: %q}\n", p[0], p[1])
	}
	if f.ca != "" {
		fmt.Fprintf(&b, "      client_ca: %q\n", f.ca)
	}
	b.WriteString("admin: {address: \"\"}\n")
	b.WriteString(rest)
	return b.String()
}

func loadTestConfig(t *testing.T, yaml string) *config.Gateway {
	t.Helper()
	cfg, err := config.Load(config.LoadOptions{Data: []byte(yaml)})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// dialTLS connects with conf and runs the client's side of the handshake.
// With TLS 1.3 a client certificate the server refuses is only reported at
// the first read: use tlsRoundTrip to know whether the server accepted.
func dialTLS(t *testing.T, addr string, conf *tls.Config) (*tls.Conn, error) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	_ = raw.SetDeadline(time.Now().Add(15 * time.Second))
	c := tls.Client(raw, conf)
	if err := c.Handshake(); err != nil {
		return nil, err
	}
	return c, nil
}

func mustDialTLS(t *testing.T, addr string, conf *tls.Config) *tls.Conn {
	t.Helper()
	c, err := dialTLS(t, addr, conf)
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	return c
}

// clientConf is a client trusting ca that sends SNI name (none for an IP
// address) and offers HTTP/1.1 in ALPN.
func clientConf(ca *testCA, name string) *tls.Config {
	return &tls.Config{RootCAs: ca.pool(), ServerName: name, NextProtos: []string{"http/1.1"}}
}

func rawOver(t *testing.T, c net.Conn) *rawClient {
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

func upgradeFor(host, path string) string {
	return strings.Replace(upgradeRequest(path), "Host: weir.test", "Host: "+host, 1)
}

// tlsRoundTrip sends one request head and reads one response head; an error
// is a refused handshake (TLS 1.3 reports a refused client certificate on
// the first read, TLS 1.2 in the handshake itself).
func tlsRoundTrip(t *testing.T, addr string, conf *tls.Config, req string) (*httphead.Response, tls.ConnectionState, error) {
	t.Helper()
	c, err := dialTLS(t, addr, conf)
	if err != nil {
		return nil, tls.ConnectionState{}, err
	}
	defer c.Close()
	if _, err := c.Write([]byte(req)); err != nil {
		return nil, c.ConnectionState(), err
	}
	resp, err := httphead.ReadResponse(bufio.NewReader(c), httphead.Limits{MaxBytes: 64 << 10, MaxHeaders: 100})
	return resp, c.ConnectionState(), err
}

func serialOf(cs tls.ConnectionState) int64 {
	if len(cs.PeerCertificates) == 0 {
		return -1
	}
	return cs.PeerCertificates[0].SerialNumber.Int64()
}

// isRemoteAlert reports whether a client's handshake failed on an alert
// the server sent, rather than on the client's own checks.
func isRemoteAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

func tlsEcho(rc *rawClient, msg string) {
	rc.t.Helper()
	rc.frame(ws.OpText, true, []byte(msg))
	op, got := rc.readMessage()
	if op != ws.OpText || string(got) != msg {
		rc.t.Fatalf("echo: %v %q, want %q", op, got, msg)
	}
}

// T-01: TLS 1.0 and 1.1 and cipher lists without a strong suite fail the
// handshake; TLS 1.2 with a strong suite and TLS 1.3 work.
func TestTLSVersionsAndCiphers(t *testing.T) {
	ca := newTestCA(t, "server CA")
	f := &tlsFiles{dir: t.TempDir()}
	f.addPair(t, ca, 10, "127.0.0.1")
	h := startGateway(t, f.yaml(routeTo(startEcho(t), "")), false)

	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		conf := clientConf(ca, "127.0.0.1")
		conf.MinVersion, conf.MaxVersion = v, v
		c := mustDialTLS(t, h.addr, conf)
		cs := c.ConnectionState()
		if cs.Version != v {
			t.Fatalf("negotiated %s, want %s", tls.VersionName(cs.Version), tls.VersionName(v))
		}
		if v == tls.VersionTLS12 && !slices.Contains(tlsCipherSuites(), cs.CipherSuite) {
			t.Fatalf("TLS 1.2 suite %s is not one of weir's", tls.CipherSuiteName(cs.CipherSuite))
		}
		c.Close()
	}

	for _, v := range [][2]uint16{{tls.VersionTLS10, tls.VersionTLS10}, {tls.VersionTLS11, tls.VersionTLS11}, {tls.VersionTLS10, tls.VersionTLS11}} {
		conf := clientConf(ca, "127.0.0.1")
		conf.MinVersion, conf.MaxVersion = v[0], v[1]
		c, err := dialTLS(t, h.addr, conf)
		if err == nil {
			t.Fatalf("client limited to %s..%s completed a handshake with %s", tls.VersionName(v[0]), tls.VersionName(v[1]), tls.VersionName(c.ConnectionState().Version))
		}
		if !isRemoteAlert(err) {
			t.Fatalf("client limited to %s..%s: %v, want an alert from weir", tls.VersionName(v[0]), tls.VersionName(v[1]), err)
		}
	}

	// Every TLS 1.2 suite the standard library knows, weak or insecure,
	// except weir's: RSA key exchange, CBC, 3DES, RC4.
	var weak []uint16
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if slices.Contains(cs.SupportedVersions, tls.VersionTLS12) && !slices.Contains(tlsCipherSuites(), cs.ID) {
			weak = append(weak, cs.ID)
		}
	}
	if len(weak) < 10 {
		t.Fatalf("only %d weak suites to offer: the test lost its point", len(weak))
	}
	conf := clientConf(ca, "127.0.0.1")
	conf.MaxVersion, conf.CipherSuites = tls.VersionTLS12, weak
	c, err := dialTLS(t, h.addr, conf)
	if err == nil {
		t.Fatalf("weak-only client got suite %s", tls.CipherSuiteName(c.ConnectionState().CipherSuite))
	}
	if !isRemoteAlert(err) {
		t.Fatalf("weak-only client: %v, want an alert from weir", err)
	}
}

// T-01: plain HTTP to the TLS port gets a 400 in plain HTTP and a close,
// even when the request is larger than what the TLS record reader takes in
// one read; a client that sends nothing, or half a ClientHello, is cut at
// the handshake timeout.
func TestTLSPlaintextAndSilentClients(t *testing.T) {
	ca := newTestCA(t, "server CA")
	f := &tlsFiles{dir: t.TempDir()}
	f.addPair(t, ca, 10, "127.0.0.1")
	h := startGateway(t, f.yaml("server: {handshake_timeout: 1s}\n"+routeTo(startEcho(t), "")), false)

	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
		upgradeRequest("/ws", "Cookie: "+strings.Repeat("x", 8000)),
	} {
		rc := dialRaw(t, h.addr)
		rc.send(req)
		resp := rc.response()
		if resp.Status != 400 || !httphead.HasToken(resp.Values("Connection"), "close") {
			t.Fatalf("plaintext request: %d %+v, want 400 with Connection: close", resp.Status, resp.Headers)
		}
		rc.expectEOF()
	}
	if n := h.srv.Metrics().HandshakeRejected.With("400").Load(); n != 2 {
		t.Fatalf("weir_handshakes_rejected_total{status=400} = %d, want 2", n)
	}

	for _, first := range []string{"", "\x16\x03\x01\x02\x00\x01"} {
		rc := dialRaw(t, h.addr)
		if first != "" {
			rc.send(first)
		}
		rc.expectEOF()
	}
}

// T-02: weir speaks HTTP/1.1 only. A client offering only h2 gets no h2; an
// HTTP/2 connection preface is an HTTP/1.1 error; ALPN http/1.1 (alone or
// after h2, as browsers offer it) carries a WebSocket end to end.
func TestTLSALPN(t *testing.T) {
	ca := newTestCA(t, "server CA")
	f := &tlsFiles{dir: t.TempDir()}
	f.addPair(t, ca, 10, "127.0.0.1")
	h := startGateway(t, f.yaml(routeTo(startEcho(t), "")), false)

	conf := clientConf(ca, "127.0.0.1")
	conf.NextProtos = []string{"h2"}
	if c, err := dialTLS(t, h.addr, conf); err == nil {
		if p := c.ConnectionState().NegotiatedProtocol; p != "" {
			t.Fatalf("h2-only client negotiated %q", p)
		}
	}

	// Without ALPN, a client starting HTTP/2 (prior knowledge, then an
	// RFC 8441 Extended CONNECT) is talking to an HTTP/1.1 parser.
	conf = clientConf(ca, "127.0.0.1")
	conf.NextProtos = nil
	c := mustDialTLS(t, h.addr, conf)
	rc := rawOver(t, c)
	rc.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	resp := rc.response()
	if resp.Status != 400 && resp.Status != 505 {
		t.Fatalf("HTTP/2 preface: status %d, want 400 or 505", resp.Status)
	}
	rc.expectEOF()

	for _, protos := range [][]string{{"http/1.1"}, {"h2", "http/1.1"}} {
		conf := clientConf(ca, "127.0.0.1")
		conf.NextProtos = protos
		c := mustDialTLS(t, h.addr, conf)
		if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
			t.Fatalf("ALPN %v: negotiated %q, want http/1.1", protos, p)
		}
		rc := rawOver(t, c)
		rc.upgrade("/ws")
		tlsEcho(rc, "over TLS")
		rc.frame(ws.OpClose, true, closePayload(ws.StatusNormalClosure, ""))
		if code, _ := rc.expectClose(); code != ws.StatusNormalClosure {
			t.Fatalf("close %d", code)
		}
	}
}

// T-03: a request whose Host is not the SNI name of its connection gets 421
// and a close; the hosts' own routes stay reachable through their own names.
func TestTLSMisdirectedRequest(t *testing.T) {
	ca := newTestCA(t, "server CA")
	f := &tlsFiles{dir: t.TempDir()}
	f.addPair(t, ca, 10, "a.example", "b.example", "127.0.0.1")
	echo := startEcho(t)
	h := startGateway(t, f.yaml(fmt.Sprintf(`routes:
  - name: a
    match: {host: a.example, path_prefix: /}
    backends: {members: [{address: %q}]}
  - name: b
    match: {host: b.example, path_prefix: /}
    backends: {members: [{address: %q}]}
`, echo, echo)), false)
	rejected := h.srv.Metrics().HandshakeRejected.With("421")

	cases := []struct {
		name, sni, req string
		status         int
	}{
		{"sni a host b", "a.example", upgradeFor("b.example", "/ws"), 421},
		{"sni b host a with port", "b.example", upgradeFor("a.example:443", "/ws"), 421},
		{"sni a host a", "a.example", upgradeFor("a.example", "/ws"), 101},
		{"case and port differ", "a.example", upgradeFor("A.Example:443", "/ws"), 101},
		{"sni b host b", "b.example", upgradeFor("b.example", "/ws"), 101},
		{"no sni", "127.0.0.1", upgradeFor("b.example", "/ws"), 101},
		{"two Host headers", "a.example", strings.Replace(upgradeFor("a.example", "/ws"), "\r\n\r\n", "\r\nHost: b.example\r\n\r\n", 1), 400},
		{"plain GET, sni a host b", "a.example", "GET / HTTP/1.1\r\nHost: b.example\r\n\r\n", 421},
	}
	want421 := int64(0)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustDialTLS(t, h.addr, clientConf(ca, tc.sni))
			rc := rawOver(t, c)
			rc.send(tc.req)
			resp := rc.response()
			if resp.Status != tc.status {
				t.Fatalf("status %d (%s), want %d", resp.Status, resp.Reason, tc.status)
			}
			if tc.status == 101 {
				tlsEcho(rc, "hi")
				return
			}
			if !httphead.HasToken(resp.Values("Connection"), "close") {
				t.Fatal("rejection without Connection: close")
			}
			rc.expectEOF()
		})
		if tc.status == 421 {
			want421++
		}
	}
	if n := rejected.Load(); n != want421 {
		t.Fatalf("weir_handshakes_rejected_total{status=421} = %d, want %d", n, want421)
	}
}

// A listener with several certificates picks by SNI; without SNI, or with
// a name none covers, it serves the first.
func TestTLSCertificateBySNI(t *testing.T) {
	ca := newTestCA(t, "server CA")
	f := &tlsFiles{dir: t.TempDir()}
	f.addPair(t, ca, 10, "a.example", "127.0.0.1")
	f.addPair(t, ca, 11, "b.example")
	f.addPair(t, ca, 12, "*.wild.example")
	h := startGateway(t, f.yaml(routeTo(startEcho(t), "")), false)
	for _, tc := range []struct {
		sni    string
		serial int64
	}{
		{"a.example", 10}, {"b.example", 11}, {"B.EXAMPLE", 11}, {"x.wild.example", 12}, {"127.0.0.1", 10},
	} {
		c := mustDialTLS(t, h.addr, clientConf(ca, tc.sni))
		if got := serialOf(c.ConnectionState()); got != tc.serial {
			t.Errorf("SNI %q: certificate %d, want %d", tc.sni, got, tc.serial)
		}
		c.Close()
	}
	conf := clientConf(ca, "unknown.example")
	conf.InsecureSkipVerify = true // to see which certificate comes back
	c := mustDialTLS(t, h.addr, conf)
	if got := serialOf(c.ConnectionState()); got != 10 {
		t.Errorf("unknown SNI: certificate %d, want the first (10)", got)
	}
	c.Close()
}

// mTLS: no certificate, or one from another CA, is refused; a certificate
// from the client CA carries a WebSocket.
func TestTLSClientCertificates(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			srvCA, cliCA, otherCA := newTestCA(t, "server CA"), newTestCA(t, "client CA"), newTestCA(t, "other CA")
			f := &tlsFiles{dir: t.TempDir()}
			f.addPair(t, srvCA, 10, "127.0.0.1")
			f.setClientCA(t, cliCA)
			h := startGateway(t, f.yaml(routeTo(startEcho(t), "")), false)
			conf := func(certs ...tls.Certificate) *tls.Config {
				c := clientConf(srvCA, "127.0.0.1")
				c.MaxVersion, c.Certificates = v, certs
				return c
			}
			for name, c := range map[string]*tls.Config{
				"no certificate":        conf(),
				"another CA's":          conf(otherCA.clientCert(t, 20)),
				"server CA's, not ours": conf(srvCA.clientCert(t, 21)),
			} {
				if resp, _, err := tlsRoundTrip(t, h.addr, c, upgradeRequest("/ws")); err == nil {
					t.Fatalf("%s: got status %d, want a refused handshake", name, resp.Status)
				}
			}
			c := mustDialTLS(t, h.addr, conf(cliCA.clientCert(t, 22)))
			rc := rawOver(t, c)
			rc.upgrade("/ws")
			tlsEcho(rc, "with a certificate")
		})
	}
}

// T-04: rotated certificate files are served to new connections after a
// reload while an open WebSocket goes on; a broken file fails the reload
// with the key named and the certificate in force keeps serving.
func TestTLSReloadRotatesCertificates(t *testing.T) {
	ca := newTestCA(t, "server CA")
	f := &tlsFiles{dir: t.TempDir()}
	f.addPair(t, ca, 100, "127.0.0.1")
	yaml := f.yaml(routeTo(startEcho(t), ""))
	h := startGateway(t, yaml, false)
	serial := func() int64 {
		t.Helper()
		c := mustDialTLS(t, h.addr, clientConf(ca, "127.0.0.1"))
		defer c.Close()
		return serialOf(c.ConnectionState())
	}
	reload := func(yaml string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return h.srv.Reload(ctx, loadTestConfig(t, yaml))
	}
	live := rawOver(t, mustDialTLS(t, h.addr, clientConf(ca, "127.0.0.1")))
	live.upgrade("/ws")
	tlsEcho(live, "before")
	if got := serial(); got != 100 {
		t.Fatalf("certificate %d, want 100", got)
	}

	certPath, keyPath := f.pairs[0][0], f.pairs[0][1]
	c200, k200 := ca.issue(t, 200, false, "127.0.0.1")
	writePEMFile(t, certPath, c200)
	writePEMFile(t, keyPath, k200)
	if got := serial(); got != 100 {
		t.Fatalf("certificate %d before the reload, want 100 still", got)
	}
	if err := reload(yaml); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := serial(); got != 200 {
		t.Fatalf("certificate %d after the reload, want 200", got)
	}
	tlsEcho(live, "after a rotation")

	c300, _ := ca.issue(t, 300, false, "127.0.0.1")
	for _, tc := range []struct {
		name, key  string
		cert, priv []byte
	}{
		{"garbage certificate", "listeners[0].tls.certs[0].cert", []byte("not a certificate"), k200},
		{"truncated certificate", "listeners[0].tls.certs[0].cert", c200[:len(c200)/2], k200},
		{"key of another certificate", "listeners[0].tls.certs[0].key", c300, k200},
		{"garbage key", "listeners[0].tls.certs[0].key", c200, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")},
	} {
		writePEMFile(t, certPath, tc.cert)
		writePEMFile(t, keyPath, tc.priv)
		err := reload(yaml)
		var ve *config.ValidationError
		if !errors.As(err, &ve) || !ve.Has(tc.key) {
			t.Fatalf("%s: reload error %v, want one naming %s", tc.name, err, tc.key)
		}
		if got := serial(); got != 200 {
			t.Fatalf("%s: certificate %d after a failed reload, want 200 still", tc.name, got)
		}
	}
	// A reload cannot unwrap a listening socket: turning TLS off is refused.
	err := reload("listeners: [{name: public, address: 127.0.0.1:0}]\nadmin: {address: \"\"}\n" + routeTo(startEcho(t), ""))
	var ve *config.ValidationError
	if !errors.As(err, &ve) || !ve.Has("listeners[0].tls") {
		t.Fatalf("reload turning TLS off: %v, want an error naming listeners[0].tls", err)
	}
	tlsEcho(live, "after failed reloads")
}

// T-04: a TLS session resumes within one configuration, never across a
// reload (the ticket keys are rotated with every reload), so a session
// created under a client CA that a reload removed cannot skip the client
// certificate check.
func TestTLSResumptionAcrossClientCAChange(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			srvCA, oldCA, newCA := newTestCA(t, "server CA"), newTestCA(t, "old client CA"), newTestCA(t, "new client CA")
			f := &tlsFiles{dir: t.TempDir()}
			f.addPair(t, srvCA, 10, "127.0.0.1")
			f.setClientCA(t, oldCA)
			yaml := f.yaml(routeTo(startEcho(t), ""))
			h := startGateway(t, yaml, false)
			reload := func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return h.srv.Reload(ctx, loadTestConfig(t, yaml))
			}
			oldCert := oldCA.clientCert(t, 20)
			conf := func(cache tls.ClientSessionCache, certs ...tls.Certificate) *tls.Config {
				c := clientConf(srvCA, "127.0.0.1")
				c.MinVersion, c.MaxVersion = v, v
				c.ClientSessionCache, c.Certificates = cache, certs
				return c
			}
			// A plain GET on a WebSocket route is answered 426: an answer
			// means the server accepted the connection, and reading it
			// takes in the TLS 1.3 session ticket sent before it.
			get := "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
			try := func(c *tls.Config) (resumed bool, err error) {
				t.Helper()
				resp, cs, err := tlsRoundTrip(t, h.addr, c, get)
				if err == nil && resp.Status != 426 {
					t.Fatalf("status %d, want 426", resp.Status)
				}
				return cs.DidResume, err
			}
			mustTry := func(step string, c *tls.Config, wantResumed bool) {
				t.Helper()
				resumed, err := try(c)
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				if resumed != wantResumed {
					t.Fatalf("%s: resumed %v, want %v", step, resumed, wantResumed)
				}
			}

			cacheA, cacheB := tls.NewLRUClientSessionCache(4), tls.NewLRUClientSessionCache(4)
			mustTry("first connection", conf(cacheA, oldCert), false)
			mustTry("second connection", conf(cacheA, oldCert), true) // resumption works at all

			if err := reload(); err != nil {
				t.Fatal(err)
			}
			mustTry("after a reload", conf(cacheA, oldCert), false) // the policy: keys rotated
			mustTry("after a reload, second", conf(cacheA, oldCert), true)
			mustTry("session for the CA change", conf(cacheB, oldCert), false)

			f.setClientCA(t, newCA)
			if err := reload(); err != nil {
				t.Fatal(err)
			}
			// Both hold a ticket issued while the old CA was trusted.
			if resumed, err := try(conf(cacheA)); err == nil || resumed {
				t.Fatalf("ticket from the old CA, no certificate: resumed %v, err %v; want refused", resumed, err)
			}
			if resumed, err := try(conf(cacheB, oldCert)); err == nil || resumed {
				t.Fatalf("ticket and certificate from the old CA: resumed %v, err %v; want refused", resumed, err)
			}
			mustTry("certificate from the new CA", conf(tls.NewLRUClientSessionCache(4), newCA.clientCert(t, 21)), false)

			// A broken CA bundle fails the reload and the new CA stays.
			writePEMFile(t, f.ca, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
			var ve *config.ValidationError
			if err := reload(); !errors.As(err, &ve) || !ve.Has("listeners[0].tls.client_ca") {
				t.Fatalf("broken client CA: %v, want an error naming listeners[0].tls.client_ca", err)
			}
			mustTry("new CA after a failed reload", conf(nil, newCA.clientCert(t, 22)), false)
		})
	}
}

// A tunnel behind a TLS listener cannot splice (the client's bytes are
// encrypted): it relays through its reader. 256 KiB of random bytes go out
// and come back unchanged, then the client's half-close ends the session.
func TestTLSTunnel(t *testing.T) {
	be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
		acceptUpgrade(c, req)
		got, err := io.ReadAll(br)
		if err != nil {
			return
		}
		c.Write(got)
		c.(*net.TCPConn).CloseWrite()
	})
	ca := newTestCA(t, "server CA")
	f := &tlsFiles{dir: t.TempDir()}
	f.addPair(t, ca, 10, "127.0.0.1")
	h := startGateway(t, f.yaml(routeTo(be.addr(), "    relay: tunnel\n")), false)
	c := mustDialTLS(t, h.addr, clientConf(ca, "127.0.0.1"))
	rc := rawOver(t, c)
	rc.upgrade("/ws")
	payload := make([]byte, 256<<10)
	rand.Read(payload)
	go func() {
		c.Write(payload)
		c.CloseWrite()
	}()
	back, err := io.ReadAll(rc.br)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, payload) {
		t.Fatalf("got %d bytes back through the TLS tunnel, want the %d sent", len(back), len(payload))
	}
}

// D-01 behind a TLS listener: the frame engine's path for legs it cannot
// write to with writev (large chunks are copied into the output buffer).
func TestTLSDataIntegrity(t *testing.T) {
	be := startScripted(t, fragmentingEcho)
	ca := newTestCA(t, "server CA")
	f := &tlsFiles{dir: t.TempDir()}
	f.addPair(t, ca, 10, "127.0.0.1")
	h := startGateway(t, f.yaml(routeTo(be.addr(), "    limits: {max_message_bytes: 17MiB, max_frame_bytes: 17MiB}\n")), false)
	c := mustDialTLS(t, h.addr, clientConf(ca, "127.0.0.1"))
	checkIntegrity(t, rawOver(t, c))
}
