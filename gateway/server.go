package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/gateway/balance"
	"github.com/weirproxy/weir/gateway/config"
	"github.com/weirproxy/weir/gateway/internal/echo"
	"github.com/weirproxy/weir/gateway/internal/wsproto"
	"github.com/weirproxy/weir/gateway/telemetry"
)

// Deps are the values a Server is built with, beyond its configuration.
type Deps struct {
	Logger  *slog.Logger
	Metrics *telemetry.Metrics
	// Filters holds the native filters configuration may name.
	Filters *filters.Registry
	// LoadWasm builds a filter factory from a WASM module path and its
	// JSON configuration; nil means WASM filters are unavailable.
	LoadWasm func(ctx context.Context, path string, config []byte) (filters.Factory, error)
	// DisablePoller keeps a goroutine per relay direction instead of
	// parking idle sessions on epoll (for comparison and debugging).
	DisablePoller bool
}

// Server is a running weir gateway.
type Server struct {
	deps    Deps
	log     *slog.Logger
	metrics *telemetry.Metrics

	gen          atomic.Pointer[generation]
	genSeq       atomic.Uint64
	reloadMu     sync.Mutex
	reloadDrain  reloadDrain // reload.drain_timeout's timers (reload.go)
	backendState *balance.State

	listeners []*listener
	poller    *poller

	readers sync.Pool // *bufio.Reader, readerSize
	heads   sync.Pool // *bufio.Reader, headSize
	works   sync.Pool // *workBuf
	pipes   pipePool  // for spliced tunnels: only directions moving bytes hold one

	sessMu   sync.Mutex
	sessions map[uint64]*session
	sessSeq  atomic.Uint64
	conns    atomic.Int64 // client connections, handshaking or in a session: max_connections

	draining     atomic.Bool
	closing      chan struct{}
	workers      *workers // runs handshakes and pump bursts
	shutdownOnce sync.Once
	shutdownErr  error
	wg           sync.WaitGroup // every goroutine the server started

	echoMu sync.Mutex
	echo   *echo.Server
}

type listener struct {
	name  string
	ln    net.Listener
	tls   bool
	term  *tlsTerminator // the certificates in force, when tls (tls.go)
	proto string
}

// Buffer sizes. A head reader holds a whole request or response head (the
// default max_header_bytes) and is all a connection holds while its
// handshake is slow. A relay reader takes a good read from a busy socket:
// 32 KiB takes a window of 16 KiB messages with their headers in one read
// (16 KiB needed two reads and two writes for it, measured as a third more
// CPU per message). out holds a batch of small frames before one write;
// large ones are written from the reader (pump.emitDirect).
const (
	headSize   = 16 << 10
	readerSize = 32 << 10
	// A chunk of a full reader fits with its header, so that out never
	// grows where emitDirect cannot be used (TLS).
	outSize = readerSize + wsproto.MaxHeaderSize
)

// New builds a server from cfg (already validated) without opening any
// socket.
func New(ctx context.Context, cfg *config.Gateway, deps Deps) (*Server, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Metrics == nil {
		deps.Metrics = telemetry.NewMetrics()
	}
	if deps.Filters == nil {
		deps.Filters, _ = filters.NewRegistry()
	}
	s := &Server{
		// Idle pipes kept for reuse: enough for the tunnel directions busy
		// at once on a small machine; beyond it, pipes are made and closed.
		pipes:        pipePool{max: 16},
		deps:         deps,
		log:          deps.Logger,
		metrics:      deps.Metrics,
		backendState: balance.NewState(),
		sessions:     make(map[uint64]*session),
		closing:      make(chan struct{}),
	}
	// Idle workers kept: enough for the handshakes and bursts in flight at
	// once; beyond it, a finished task's goroutine ends.
	s.workers = newWorkers(max(64, 16*runtime.GOMAXPROCS(0)), &s.wg, s.closing)
	s.readers.New = func() any { return bufio.NewReaderSize(nil, readerSize) }
	s.heads.New = func() any { return bufio.NewReaderSize(nil, headSize) }
	s.works.New = func() any { return new(workBuf) }
	if !deps.DisablePoller && cfg.Server.IdleSessions != "goroutines" {
		if p, err := newPoller(); err == nil {
			s.poller = p
		} else {
			s.log.Info("idle sessions keep their goroutines", "reason", err)
		}
	}
	g, err := s.buildGeneration(ctx, cfg)
	if err != nil {
		s.stopInternal()
		return nil, err
	}
	s.gen.Store(g)
	return s, nil
}

// Start opens the listeners and starts accepting. It returns once every
// listener is open.
func (s *Server) Start(ctx context.Context) error {
	s.reloadMu.Lock() // a reload reads s.listeners to swap their certificates
	defer s.reloadMu.Unlock()
	cfg := s.gen.Load().cfg
	for i, lc := range cfg.Listeners {
		// TCP keepalive off: sessions have WebSocket pings (L-06), and the
		// four setsockopt calls it costs per connection are a tenth of a
		// short session's syscalls.
		lcfg := net.ListenConfig{KeepAlive: -1}
		ln, err := lcfg.Listen(ctx, "tcp", lc.Address)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("listeners[%d] %s: %w", i, lc.Name, err)
		}
		l := &listener{name: lc.Name, ln: ln, proto: "http"}
		if lc.TLS != nil {
			term, err := s.newTLSTerminator(i, lc)
			if err != nil {
				ln.Close()
				s.closeListeners()
				return err
			}
			l.ln, l.tls, l.term, l.proto = term.listen(ln), true, term, "https"
		}
		s.listeners = append(s.listeners, l)
	}
	for _, l := range s.listeners {
		s.wg.Add(1)
		go s.acceptLoop(l)
		s.log.Info("listening", "listener", l.name, "address", l.ln.Addr().String(), "tls", l.tls)
	}
	return nil
}

// Addr returns the address of the named listener (useful with port 0).
func (s *Server) Addr(name string) net.Addr {
	for _, l := range s.listeners {
		if l.name == name {
			return l.ln.Addr()
		}
	}
	return nil
}

// Ready reports whether the server takes new sessions.
func (s *Server) Ready() bool { return !s.draining.Load() }

// Metrics returns the server's metrics.
func (s *Server) Metrics() *telemetry.Metrics { return s.metrics }

// Sessions returns the number of live sessions.
func (s *Server) Sessions() int {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	return len(s.sessions)
}

func (s *Server) acceptLoop(l *listener) {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			select {
			case <-s.closing:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors, say: back off instead of spinning.
			backoff = min(max(backoff*2, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "listener", l.name, "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-s.closing:
				return
			}
			continue
		}
		backoff = 0
		s.metrics.ConnectionsAccepted.Inc()
		s.wg.Add(1)
		s.workers.Go(func() { s.handleConn(l, c) })
	}
}

// Reload builds a new generation from cfg and makes it current. Live
// sessions keep the generation they started with; a failed build leaves
// the current one in force.
func (s *Server) Reload(ctx context.Context, cfg *config.Gateway) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	nextTLS, err := s.loadTLSReload(cfg) // certificate files, read aside
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	g, err := s.buildGeneration(ctx, cfg)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	old := s.gen.Swap(g)
	s.installTLS(nextTLS)
	s.drainFilters(old, cfg.Reload.DrainTimeout)
	old.drop(ctx)
	s.scheduleReloadDrain(g)
	s.log.Info("configuration reloaded", "generation", g.id)
	return nil
}

// current returns the current generation with a reference taken.
func (s *Server) current() *generation {
	for {
		g := s.gen.Load()
		if g.acquire() {
			return g
		}
	}
}

// addSessionUnlessDraining registers a session, or reports false once a
// drain started. Shutdown sets draining before it takes its snapshot under
// the same mutex, so every registered session is in the snapshot.
func (s *Server) addSessionUnlessDraining(ss *session) bool {
	s.sessMu.Lock()
	if s.draining.Load() {
		s.sessMu.Unlock()
		return false
	}
	s.sessions[ss.id] = ss
	s.sessMu.Unlock()
	s.metrics.SessionsActive.Add(1)
	s.metrics.SessionsTotal.With(ss.route.name).Add(1)
	return true
}

func (s *Server) endSession(ss *session) {
	s.sessMu.Lock()
	delete(s.sessions, ss.id)
	s.sessMu.Unlock()
	s.metrics.SessionsActive.Add(-1)
	s.conns.Add(-1)
	s.metrics.ConnectionsActive.Add(-1)
	ss.gen.drop(context.Background())
}

// Shutdown drains the server (SECURITY-CASES G-01): readiness flips, the
// listeners close, handshakes in flight get 503, every live session gets
// 1001 on both legs, and what has not closed by ctx's deadline is cut.
// Shutdown returns once every goroutine the server started has ended.
// Later calls wait for the first one and return its result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.reloadDrain.stop()
	s.draining.Store(true)
	s.closeListeners()
	s.sessMu.Lock()
	live := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		live = append(live, ss)
	}
	s.sessMu.Unlock()
	for _, ss := range live {
		ss.drain()
	}
	waitDone := make(chan struct{})
	go func() {
		for _, ss := range live {
			<-ss.done
		}
		close(waitDone)
	}()
	var err error
	select {
	case <-waitDone:
	case <-ctx.Done():
		err = fmt.Errorf("gateway: drain deadline: %w", ctx.Err())
		s.sessMu.Lock()
		for _, ss := range s.sessions {
			go ss.finish()
		}
		s.sessMu.Unlock()
		<-waitDone
	}
	close(s.closing)
	s.wg.Wait()
	s.stopInternal()
	g := s.gen.Load()
	g.drop(context.Background())
	return err
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		_ = l.ln.Close()
	}
}

func (s *Server) stopInternal() {
	if s.poller != nil {
		s.poller.close()
	}
	s.pipes.close()
	s.echoMu.Lock()
	if s.echo != nil {
		_ = s.echo.Close()
		s.echo = nil
	}
	s.echoMu.Unlock()
}

// builtinEcho returns the address of the built-in echo backend, starting it
// on first use.
func (s *Server) builtinEcho() (string, error) {
	s.echoMu.Lock()
	defer s.echoMu.Unlock()
	if s.echo == nil {
		e, err := echo.Listen("127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("builtin:echo: %w", err)
		}
		s.echo = e
	}
	return s.echo.Addr().String(), nil
}

func (s *Server) closeTimeout() time.Duration {
	if d := s.gen.Load().cfg.Server.CloseTimeout; d > 0 {
		return d
	}
	return 5 * time.Second
}

func (s *Server) getReader(c net.Conn) *bufio.Reader {
	br := s.readers.Get().(*bufio.Reader)
	br.Reset(c)
	return br
}

// getHead returns a reader for a handshake's head.
func (s *Server) getHead(c net.Conn) *bufio.Reader {
	br := s.heads.Get().(*bufio.Reader)
	br.Reset(c)
	return br
}

// putReader returns a relay or head reader to its pool; a reader of another
// size (a head larger than the default) is left to the collector.
func (s *Server) putReader(br *bufio.Reader) {
	switch br.Size() {
	case readerSize:
		br.Reset(nil)
		s.readers.Put(br)
	case headSize:
		br.Reset(nil)
		s.heads.Put(br)
	}
}

func (s *Server) getWork() *workBuf { return s.works.Get().(*workBuf) }

func (s *Server) putWork(w *workBuf) { s.works.Put(w) }
