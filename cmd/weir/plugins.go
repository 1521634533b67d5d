package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/gateway/config"
	"github.com/weirproxy/weir/plugins"
)

// pluginLoader builds WASM filter factories on one shared host. Every
// configuration generation loads its modules anew, so a reload (SIGHUP, or
// POST /reload) picks up a changed .wasm file: new sessions get the new
// version, live sessions finish on the old one, which is released when its
// generation's last session ends.
type pluginLoader struct {
	host *plugins.Host
}

func newPluginLoader(ctx context.Context, cfg *config.Gateway, log *slog.Logger) (*pluginLoader, error) {
	h, err := plugins.NewHost(ctx, hostOptions(cfg, log))
	if err != nil {
		return nil, err
	}
	return &pluginLoader{host: h}, nil
}

// hostOptions maps the plugins section of the configuration to the host.
// The host's message limit is the largest route limit at start: a route
// raised past it by a later reload gets 1011 for larger messages through
// its WASM filters.
func hostOptions(cfg *config.Gateway, log *slog.Logger) plugins.HostOptions {
	maxMsg := 1 << 20
	for _, r := range cfg.Routes {
		maxMsg = max(maxMsg, int(r.Limits.MaxMessageBytes))
	}
	return plugins.HostOptions{
		CacheDir:         cfg.Plugins.CacheDir,
		CallTimeout:      cfg.Plugins.CallTimeout,
		MemoryLimitBytes: uint64(cfg.Plugins.MemoryLimit),
		Shards:           cfg.Plugins.Shards,
		MaxMessageBytes:  maxMsg,
		Logger:           log,
	}
}

// Load reads and loads the module at path with its JSON configuration.
func (p *pluginLoader) Load(ctx context.Context, path string, cfg []byte) (filters.Factory, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wasm: %w", err)
	}
	pl, err := p.host.Load(ctx, path, wasm, cfg)
	if err != nil {
		return nil, fmt.Errorf("wasm %s: %w", path, err)
	}
	return pl, nil
}

// Close releases the host after the gateway stopped.
func (p *pluginLoader) Close(ctx context.Context) error { return p.host.Close(ctx) }

// cmdFilter runs `weir filter test FILTER.wasm [--config JSON] < in.jsonl`:
// one session of the filter over a message stream, printing what weir
// would forward, drop, inject or close.
func cmdFilter(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprintln(stderr, "usage: weir filter test FILTER.wasm [--config JSON] < messages.jsonl")
		return 2
	}
	fs := flag.NewFlagSet("filter test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgJSON := fs.String("config", "", "the filter's configuration, as JSON")
	timeout := fs.Duration("call-timeout", 0, "CPU bound per call (default: the host's)")
	// Accept the module path before or after the flags.
	rest := args[1:]
	var path string
	if len(rest) > 0 && rest[0] != "" && rest[0][0] != '-' {
		path, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if path == "" && fs.NArg() == 1 {
		path = fs.Arg(0)
	}
	if path == "" {
		fmt.Fprintln(stderr, "weir filter test: a .wasm file is required")
		return 2
	}
	if *cfgJSON != "" && !json.Valid([]byte(*cfgJSON)) {
		fmt.Fprintln(stderr, "weir filter test: --config is not valid JSON")
		return 2
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, "weir filter test:", err)
		return 1
	}
	h, err := plugins.NewHost(ctx, plugins.HostOptions{CallTimeout: *timeout, Shards: 1,
		Logger: slog.New(slog.NewTextHandler(stderr, nil))})
	if err != nil {
		fmt.Fprintln(stderr, "weir filter test:", err)
		return 1
	}
	defer h.Close(context.Background())
	var cfg []byte
	if *cfgJSON != "" {
		cfg = []byte(*cfgJSON)
	}
	if err := plugins.RunOffline(ctx, h, wasm, cfg, stdin, stdout); err != nil {
		fmt.Fprintln(stderr, "weir filter test:", err)
		return 1
	}
	return 0
}
