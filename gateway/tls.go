package gateway

// TLS termination on the client listeners (SECURITY-CASES T-01 to T-04).
//
// Each TLS listener has a tlsTerminator holding the tlsState in force: the
// parsed certificates, the client-CA pool and the *tls.Config built from
// them. The listener wraps each accepted connection with tls.Server and the
// config of the state in force at that moment; a reload loads the files
// aside (a failure leaves the state in force untouched) and swaps one
// pointer. A connection keeps the state it was accepted with, so a reload
// never touches a live connection.
//
// Session resumption policy: every state has its own *tls.Config, and a
// config is the "original" config of the connections it serves, so Go's
// automatic session-ticket keys (rotated daily, valid a week) belong to one
// state. A reload therefore rotates the ticket keys: a ticket issued before
// it cannot be decrypted afterwards and the client goes through a full
// handshake, in which its certificate is checked against the client CAs in
// force. Resumption cannot carry a session across a change of client CA,
// whatever the standard library checks on resumption itself (it re-verifies
// the client chain since the fix for CVE-2025-68121, which this does not
// depend on). Disabling tickets on mTLS listeners would be as safe but
// would make every reconnect a full handshake with a certificate
// verification, the most expensive thing a client can make weir do (T-05).
//
// The config is picked when the connection is accepted, not through
// GetConfigForClient at ClientHello time: a config returned by
// GetConfigForClient without explicit ticket keys encrypts tickets with the
// keys of the listener's original config, which would outlive every reload
// (the mistake behind CVE-2025-68121), and explicit keys would need a
// rotation schedule of their own.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/weirproxy/weir/gateway/config"
	"github.com/weirproxy/weir/gateway/internal/httphead"
	"github.com/weirproxy/weir/gateway/internal/wsproto"
)

// maxPEMFile bounds what is read from a certificate, key or CA file: a
// chain or a CA bundle is kilobytes, and a path pointing at something huge
// by mistake must not exhaust memory at a reload.
const maxPEMFile = 1 << 20

// tlsCipherSuites are the TLS 1.2 suites weir accepts: ECDHE key exchange
// (forward secrecy) with an AEAD cipher only, the "intermediate" profile of
// Mozilla's server-side TLS guidelines. Listing them explicitly keeps RSA key
// exchange, CBC, 3DES and RC4 off even when a GODEBUG setting re-enables
// them in the standard library's defaults. TLS 1.3 suites are all AEAD and
// not configurable.
func tlsCipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// tlsTerminator is one listener's TLS: the state in force, swapped whole by
// a reload.
type tlsTerminator struct {
	cur atomic.Pointer[tlsState]
}

// tlsState is what one load of a listener's TLS files built. It is never
// modified after it is built.
type tlsState struct {
	conf  *tls.Config
	certs []tls.Certificate
}

// listen wraps ln so that every accepted connection speaks TLS with the
// state in force when it was accepted.
func (t *tlsTerminator) listen(ln net.Listener) net.Listener {
	return &tlsNetListener{Listener: ln, term: t}
}

type tlsNetListener struct {
	net.Listener
	term *tlsTerminator
}

// Accept does no I/O beyond the TCP accept: the handshake runs in the
// connection's own goroutine, under its deadline (handshakeTLS).
func (l *tlsNetListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(c, l.term.cur.Load().conf), nil
}

// newTLSTerminator loads listener i's TLS files at Start.
func (s *Server) newTLSTerminator(i int, lc config.Listener) (*tlsTerminator, error) {
	var p []config.FieldError
	st := s.loadTLSState(&p, listenerTLSPath(i), lc.Name, lc.TLS)
	if len(p) > 0 {
		return nil, &config.ValidationError{Errors: p}
	}
	t := &tlsTerminator{}
	t.cur.Store(st)
	s.logTLSState(lc.Name, st, "tls certificates loaded")
	return t, nil
}

// tlsReload is the TLS state a reload installs once the rest of the reload
// succeeded.
type tlsReload []tlsSwap

type tlsSwap struct {
	listener string
	term     *tlsTerminator
	next     *tlsState
}

// loadTLSReload loads again the TLS files of every open TLS listener, as
// cfg names them. It fails, naming each key whose file cannot be used, when
// any of them fails, and when cfg turns TLS on or off on an open listener:
// a reload cannot rewrap a listening socket, and silently serving the old
// way is worse than refusing. Listeners cfg adds or removes are not this
// function's business: they take effect at a restart. Called with reloadMu
// held, which Start also holds while it fills s.listeners.
func (s *Server) loadTLSReload(cfg *config.Gateway) (tlsReload, error) {
	var p []config.FieldError
	var out tlsReload
	for _, l := range s.listeners {
		for i, lc := range cfg.Listeners {
			if lc.Name != l.name {
				continue
			}
			switch {
			case l.term == nil && lc.TLS != nil:
				p = append(p, config.FieldError{Path: listenerTLSPath(i),
					Msg: "listener " + l.name + " was opened without TLS; turning TLS on needs a restart"})
			case l.term != nil && lc.TLS == nil:
				p = append(p, config.FieldError{Path: listenerTLSPath(i),
					Msg: "listener " + l.name + " was opened with TLS; turning TLS off needs a restart"})
			case l.term != nil:
				if st := s.loadTLSState(&p, listenerTLSPath(i), lc.Name, lc.TLS); st != nil {
					out = append(out, tlsSwap{listener: l.name, term: l.term, next: st})
				}
			}
			break
		}
	}
	if len(p) > 0 {
		return nil, &config.ValidationError{Errors: p}
	}
	return out, nil
}

// installTLS makes the states of a successful reload current: connections
// accepted from now on handshake with them.
func (s *Server) installTLS(r tlsReload) {
	for _, sw := range r {
		sw.term.cur.Store(sw.next)
		s.logTLSState(sw.listener, sw.next, "tls certificates reloaded")
	}
}

func listenerTLSPath(i int) string { return fmt.Sprintf("listeners[%d].tls", i) }

// loadTLSState reads and checks every file c names, adding one FieldError
// per unusable file to p; it returns nil when it added any.
func (s *Server) loadTLSState(p *[]config.FieldError, path, listener string, c *config.TLS) *tlsState {
	before := len(*p)
	add := func(key string, err error) {
		*p = append(*p, config.FieldError{Path: key, Msg: err.Error()})
	}
	st := &tlsState{}
	if len(c.Certs) == 0 {
		add(path+".certs", errors.New("at least one certificate (cert and key) is required when tls is set"))
	}
	now := time.Now()
	for i, pair := range c.Certs {
		cp := fmt.Sprintf("%s.certs[%d]", path, i)
		cert, key, err := loadCertPair(pair)
		if err != nil {
			add(cp+"."+key, err)
			continue
		}
		if leaf := cert.Leaf; now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
			// Served anyway: refusing would take the listener down at a
			// restart, and the operator may be replacing it right now.
			s.log.Warn("tls certificate outside its validity period", "listener", listener, "key", cp+".cert",
				"not_before", leaf.NotBefore, "not_after", leaf.NotAfter)
		}
		st.certs = append(st.certs, cert)
	}
	var pool *x509.CertPool
	if c.ClientCA != "" {
		var err error
		if pool, err = loadCertPool(c.ClientCA); err != nil {
			add(path+".client_ca", err)
		}
	}
	if len(*p) > before {
		return nil
	}
	st.conf = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: tlsCipherSuites(),
		// HTTP/1.1 only: weir has no HTTP/2, so no RFC 8441 Extended
		// CONNECT (T-02). A client offering only h2 fails the handshake
		// with no_application_protocol instead of speaking h2 to an
		// HTTP/1.1 parser.
		NextProtos:     []string{"http/1.1"},
		GetCertificate: st.certificate,
	}
	if pool != nil {
		st.conf.ClientCAs, st.conf.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return st
}

// certificate picks the certificate for a ClientHello: the first whose
// names cover the SNI name and whose key the client can use; without SNI,
// or when no name matches, the first the client can use; the first of all
// when the client can use none (the handshake then fails on the client's
// side, with a certificate it can at least report).
func (st *tlsState) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName != "" {
		for i := range st.certs {
			// SupportsCertificate checks the SNI name against the leaf as
			// well as the key and signature algorithms.
			if hello.SupportsCertificate(&st.certs[i]) == nil {
				return &st.certs[i], nil
			}
		}
	}
	if len(st.certs) > 1 {
		noSNI := *hello
		noSNI.ServerName = ""
		for i := range st.certs {
			if noSNI.SupportsCertificate(&st.certs[i]) == nil {
				return &st.certs[i], nil
			}
		}
	}
	return &st.certs[0], nil
}

// loadCertPair reads one chain and its key. On failure it names which of
// the two ("cert" or "key") is at fault.
func loadCertPair(pair config.CertPair) (tls.Certificate, string, error) {
	certPEM, err := readPEMFile(pair.Cert)
	if err != nil {
		return tls.Certificate{}, "cert", err
	}
	if err := checkCertificates(pair.Cert, certPEM); err != nil {
		return tls.Certificate{}, "cert", err
	}
	keyPEM, err := readPEMFile(pair.Key)
	if err != nil {
		return tls.Certificate{}, "key", err
	}
	// The chain parsed above, so what X509KeyPair finds wrong is the key:
	// unreadable, or not the one of the leaf.
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, "key", fmt.Errorf("%s: %w", pair.Key, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, "cert", fmt.Errorf("%s: %w", pair.Cert, err)
		}
	}
	return cert, "", nil
}

// checkCertificates requires at least one PEM CERTIFICATE block and that
// every one of them parses, so that a truncated or corrupt chain is refused
// when it is loaded rather than at some client's handshake. Other blocks (a
// key in the same file, say) are ignored, as X509KeyPair ignores them.
func checkCertificates(name string, data []byte) error {
	_, err := parseCertificates(name, data, false)
	return err
}

// loadCertPool reads a CA bundle. Unlike x509.CertPool.AppendCertsFromPEM,
// which skips what it cannot parse, it refuses a bundle with any bad
// certificate or any other block: a CA silently missing from a trust store
// is a surprise to find in production.
func loadCertPool(name string) (*x509.CertPool, error) {
	data, err := readPEMFile(name)
	if err != nil {
		return nil, err
	}
	certs, err := parseCertificates(name, data, true)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// parseCertificates parses every PEM CERTIFICATE block of data and wants at
// least one; with strict, a block of another type is an error, else it is
// skipped.
func parseCertificates(name string, data []byte, strict bool) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for len(data) > 0 {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			if strict {
				return nil, fmt.Errorf("%s: unexpected PEM block %q; a CA bundle holds CERTIFICATE blocks only", name, b.Type)
			}
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", name, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate found", name)
	}
	return certs, nil
}

func readPEMFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxPEMFile {
		return nil, fmt.Errorf("%s: larger than %d bytes; not a PEM certificate or key", name, maxPEMFile)
	}
	return data, nil
}

func (s *Server) logTLSState(listener string, st *tlsState, msg string) {
	names := make([]string, 0, len(st.certs))
	for _, c := range st.certs {
		names = append(names, fmt.Sprintf("%s (serial %s, until %s)", c.Leaf.Subject.CommonName, c.Leaf.SerialNumber, c.Leaf.NotAfter.UTC().Format(time.RFC3339)))
	}
	s.log.Info(msg, "listener", listener, "certificates", names, "client_ca", st.conf.ClientCAs != nil)
}

// handshakeTLS runs the TLS handshake under the connection's handshake
// deadline and reports whether it succeeded; on failure the caller closes
// the connection.
func (s *Server) handshakeTLS(tc *tls.Conn, deadline time.Time) bool {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err == nil {
		return true
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) && rh.Conn != nil {
		// Plain HTTP sent to the TLS port (T-01): say so in plain HTTP,
		// then linger so the answer is not lost to a reset caused by the
		// request bytes the TLS record reader left unread.
		s.metrics.HandshakeRejected.With("400").Add(1)
		_, _ = rh.Conn.Write(wsproto.AppendError(nil, 400, "this port speaks TLS", nil))
		lingerClose(rh.Conn, answerLinger, answerLingerBytes)
	}
	s.log.Debug("tls handshake failed", "remote", tc.RemoteAddr().String(), "err", err)
	return false
}

// misdirected answers 421 Misdirected Request when a TLS client named one
// host in SNI and asks for another in Host (T-03), and reports whether it
// did; the caller then stops. The certificate, and whatever policy goes
// with the name, were chosen for the SNI name: letting the request pick
// another host on the same connection would let a client reach a host's
// routes through a name that does not carry that host's requirements (RFC
// 9110 §7.4 and §15.5.20). A client that sent no SNI (one that connected
// by IP address) is not checked: it was given the listener's default
// certificate and policy. Connections without TLS are not checked.
func (s *Server) misdirected(c net.Conn, req *httphead.Request) bool {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return false
	}
	sni := tc.ConnectionState().ServerName
	if sni == "" {
		return false
	}
	if req.Count("Host") != 1 {
		s.reject(c, &wsproto.HandshakeError{Status: 400, Reason: "missing or repeated Host"})
		return true
	}
	host := req.Get("Host")
	if sameHostName(hostOnly(host), sni) {
		return false
	}
	s.log.Debug("misdirected request: Host does not match SNI", "remote", c.RemoteAddr().String(), "sni", sni, "host", host)
	s.reject(c, &wsproto.HandshakeError{Status: 421, Reason: "Host does not match the TLS server name (SNI) of this connection"})
	return true
}

// sameHostName compares DNS names case-insensitively, ignoring one trailing
// dot (the absolute form of a name).
func sameHostName(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}
