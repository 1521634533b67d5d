package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/filters/native"
	"github.com/weirproxy/weir/gateway"
	"github.com/weirproxy/weir/gateway/admin"
	"github.com/weirproxy/weir/gateway/config"
	"github.com/weirproxy/weir/gateway/telemetry"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return cmdRun(ctx, args, stderr)
	case "validate":
		return cmdValidate(args, stdout, stderr)
	case "filter":
		return cmdFilter(ctx, args, stdin, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "weir", version)
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "weir: unknown command %q\n", cmd)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  weir [run] [-c gateway.yaml] [--set key=value]...
  weir validate -c gateway.yaml [--set key=value]...
  weir filter test FILTER.wasm [--config JSON] < messages.jsonl
  weir version
`)
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

type loadFlags struct {
	file string
	sets multi
}

func (lf *loadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&lf.file, "c", "", "configuration file (default: the embedded demo configuration)")
	fs.Var(&lf.sets, "set", "override one key, e.g. --set routes.0.limits.max_message_bytes=2MiB (repeatable)")
}

// positional takes a configuration file given without -c
// (`weir validate gateway.yaml`).
func (lf *loadFlags) positional(fs *flag.FlagSet) error {
	switch {
	case fs.NArg() == 0:
		return nil
	case fs.NArg() == 1 && lf.file == "":
		lf.file = fs.Arg(0)
		return nil
	}
	return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
}

func (lf *loadFlags) load() (*config.Gateway, error) {
	opts := config.LoadOptions{File: lf.file, Env: os.Environ(), Sets: lf.sets}
	if lf.file == "" {
		opts.Data = config.DefaultYAML
	}
	return config.Load(opts)
}

// parseLoadFlags parses the flags shared by run and validate; a non-zero
// code means the arguments were wrong and usage was printed.
func parseLoadFlags(cmd string, args []string, stderr io.Writer) (*loadFlags, int) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	lf := &loadFlags{}
	lf.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, 2
	}
	if err := lf.positional(fs); err != nil {
		fmt.Fprintf(stderr, "weir %s: %v\n", cmd, err)
		return nil, 2
	}
	return lf, 0
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	lf, code := parseLoadFlags("validate", args, stderr)
	if lf == nil {
		return code
	}
	if _, err := lf.load(); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	name := lf.file
	if name == "" {
		name = "embedded default configuration"
	}
	fmt.Fprintf(stdout, "%s: valid\n", name)
	return 0
}

func nativeRegistry() (*filters.Registry, error) {
	return filters.NewRegistry(native.All()...)
}

// serve reloads on SIGHUP and on watched changes until a signal to stop
// (SIGTERM, SIGINT) or the end of ctx.
func serve(ctx context.Context, rl *reloader, sigs <-chan os.Signal, log *slog.Logger) {
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				_ = rl.reload(ctx, "SIGHUP", nil)
				continue
			}
			log.Info("draining", "signal", sig.String(), "deadline", rl.current().Server.DrainTimeout)
			return
		case ch, ok := <-rl.changes():
			// Closed means a reload replaced the watcher: the next round
			// waits on the new one.
			if ok {
				_ = rl.reload(ctx, "file changed", ch.Paths)
			}
		case <-ctx.Done():
			log.Info("draining", "reason", context.Cause(ctx).Error(), "deadline", rl.current().Server.DrainTimeout)
			return
		}
	}
}

func cmdRun(ctx context.Context, args []string, stderr io.Writer) int {
	lf, code := parseLoadFlags("run", args, stderr)
	if lf == nil {
		return code
	}
	cfg, err := lf.load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	log, err := telemetry.NewLogger(stderr, cfg.Telemetry.Logs.Format, cfg.Telemetry.Logs.Level)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	reg, err := nativeRegistry()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	deps := gateway.Deps{Logger: log, Metrics: telemetry.NewMetrics(), Filters: reg}
	plugins, err := newPluginLoader(ctx, cfg, log)
	if err != nil {
		log.Error("WASM host failed to start", "err", err)
		return 1
	}
	defer plugins.Close(context.Background())
	deps.LoadWasm = plugins.Load

	// Signals are caught before anything listens: a SIGHUP right after
	// start must reload, not kill the process.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	srv, err := gateway.New(ctx, cfg, deps)
	if err != nil {
		log.Error("configuration rejected", "err", err)
		return 1
	}
	if err := srv.Start(ctx); err != nil {
		log.Error("cannot listen", "err", err)
		return 1
	}
	rl := newReloader(lf, srv, cfg, log)
	defer rl.close()
	reload := func(ctx context.Context) error { return rl.reload(ctx, "admin API", nil) }
	var adm *admin.Server
	if cfg.Admin.Address != "" {
		adm, err = admin.Listen(cfg.Admin.Address, admin.Handlers{
			Ready: srv.Ready, Metrics: srv.Metrics(), Sessions: srv.Sessions, Reload: reload,
		})
		if err != nil {
			log.Error("admin listener failed", "err", err)
			_ = srv.Shutdown(context.Background())
			return 1
		}
		log.Info("admin API", "address", adm.Addr().String())
	}
	if lf.file == "" {
		log.Info("running the embedded demo configuration: open http://" + srv.Addr(cfg.Listeners[0].Name).String() + "/")
	}

	serve(ctx, rl, sigs, log)
	cfg = rl.current()
	dctx, cancel := context.WithTimeout(context.Background(), cfg.Server.DrainTimeout)
	defer cancel()
	err = srv.Shutdown(dctx)
	if adm != nil {
		actx, acancel := context.WithTimeout(context.Background(), time.Second)
		_ = adm.Close(actx)
		acancel()
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Error("shutdown", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
