package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/weirproxy/weir/tests/bench/internal/load"
)

// Exit statuses; see doc.go.
const (
	exitOK      = 0
	exitErrors  = 1
	exitUsage   = 2
	exitTimeout = 3
)

// sessionsPerSource is how many sessions auto mode puts on one loopback
// source address: well under the ~28k ephemeral ports one address has.
const sessionsPerSource = 16000

func main() {
	release := make(chan struct{}, 1)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// SIGUSR1 ends an idle hold (sessions are then proven and closed
		// in order); SIGINT and SIGTERM cancel the run, which still prints
		// what it measured.
		for s := range sigs {
			if s == syscall.SIGUSR1 {
				select {
				case release <- struct{}{}:
				default:
				}
				continue
			}
			cancel()
		}
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, release))
}

type options struct {
	mode, url, label          string
	conns, window, size       int
	workers, sessions         int
	sources, rampWorkers      int
	rate                      float64
	duration, warmup, timeout time.Duration
	maxMessage                int64
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("wsload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mode, "mode", "throughput", "throughput | latency | connect | idle | probe")
	fs.StringVar(&o.url, "url", "", "ws:// URL of the target (required)")
	fs.StringVar(&o.label, "label", "", "target name copied into the JSON output")
	fs.IntVar(&o.conns, "conns", 8, "sessions (throughput, latency)")
	fs.IntVar(&o.window, "window", 16, "echoes in flight per session (throughput)")
	fs.IntVar(&o.size, "size", 1024, "payload bytes")
	fs.Float64Var(&o.rate, "rate", 10000, "aggregate messages/s (latency)")
	fs.DurationVar(&o.warmup, "warmup", 0, "leading part of the schedule left out of the samples (latency)")
	fs.IntVar(&o.workers, "workers", 8, "parallel dial→echo→close loops (connect)")
	fs.IntVar(&o.sessions, "sessions", 1000, "sessions to hold (idle)")
	fs.IntVar(&o.rampWorkers, "ramp-workers", load.DefaultIdleWorkers, "sessions opened in parallel (idle)")
	fs.IntVar(&o.sources, "sources", 0, "loopback source addresses from 127.0.0.2 (0: idle picks one per 16000 sessions above 16000, other modes none)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time; for idle the longest hold, for probe the longest wait")
	fs.DurationVar(&o.timeout, "timeout", 0, "hard limit on the whole run (0: duration + 60s, idle adds 10ms a session)")
	fs.Int64Var(&o.maxMessage, "max-message", load.DefaultMaxMessage, "largest message accepted from the target")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("wsload: unexpected arguments %q", fs.Args())
	}
	if o.url == "" {
		return o, errors.New("wsload: -url is required")
	}
	if o.duration <= 0 {
		return o, errors.New("wsload: -duration must be > 0")
	}
	if o.timeout <= 0 {
		o.timeout = o.duration + time.Minute
		if o.mode == "idle" {
			o.timeout += time.Duration(o.sessions) * 10 * time.Millisecond
		}
	}
	return o, nil
}

// sourceAddrs returns the local addresses to bind: n addresses counting up
// from 127.0.0.2 (127.0.0.1 stays for the targets).
func sourceAddrs(n int) []net.IP {
	ips := make([]net.IP, 0, n)
	for i := range n {
		v := 2 + i
		ips = append(ips, net.IPv4(127, 0, byte(v>>8), byte(v)))
	}
	return ips
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, release <-chan struct{}) int {
	o, err := parse(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, err)
		}
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	// Last resort if something ignores the context: the run must end.
	watchdog := time.AfterFunc(o.timeout+15*time.Second, func() {
		fmt.Fprintf(stderr, "wsload: hard timeout %s exceeded, exiting\n", o.timeout)
		os.Exit(exitTimeout)
	})
	defer watchdog.Stop()

	sources := o.sources
	if sources == 0 && o.mode == "idle" && o.sessions > sessionsPerSource {
		sources = (o.sessions + sessionsPerSource - 1) / sessionsPerSource
	}
	d := &load.Dialer{URL: o.url, MaxMessage: o.maxMessage}
	if sources > 0 {
		d.Sources = sourceAddrs(sources)
	}
	out := printer{stdout: stdout, stderr: stderr, label: o.label}

	var (
		res    any
		errs   int64
		runErr error
		human  string
	)
	switch o.mode {
	case "throughput":
		r, err := load.Throughput(ctx, load.ThroughputConfig{
			Dialer: d, Conns: o.conns, Window: o.window, Size: o.size, Duration: o.duration,
		})
		res, errs, runErr = r, r.Errors, err
		human = fmt.Sprintf("throughput %dB ×%d conns ×%d window: %.0f msgs/s, %.1f MB/s, %d errors",
			o.size, o.conns, o.window, r.MsgsPerS, r.MBPerS, r.Errors)
	case "latency":
		r, err := load.Latency(ctx, load.LatencyConfig{
			Dialer: d, Rate: o.rate, Conns: o.conns, Size: o.size, Duration: o.duration, Warmup: o.warmup,
		})
		res, errs, runErr = r, r.Errors, err
		human = fmt.Sprintf("latency %.0f msgs/s %dB: p50 %.0fµs p90 %.0fµs p99 %.0fµs p99.9 %.0fµs max %.0fµs, %d errors",
			o.rate, o.size, r.P50US, r.P90US, r.P99US, r.P999US, r.MaxUS, r.Errors)
	case "connect":
		r, err := load.Connect(ctx, load.ConnectConfig{
			Dialer: d, Workers: o.workers, Size: o.size, Duration: o.duration,
		})
		res, errs, runErr = r, r.Errors, err
		human = fmt.Sprintf("connect ×%d workers: %.0f handshakes/s, %d errors", o.workers, r.HandshakesPerS, r.Errors)
	case "idle":
		r, err := load.Idle(ctx, load.IdleConfig{
			Dialer: d, Sessions: o.sessions, Workers: o.rampWorkers, Size: o.size,
			Hold: o.duration, Release: release,
			OnReady: func(r load.IdleReady) {
				out.print(r, fmt.Sprintf("idle: %d of %d sessions open in %.1fs, %d errors; holding",
					r.Open, r.Sessions, r.RampS, r.Errors))
			},
		})
		res, errs, runErr = r, r.Errors, err
		human = fmt.Sprintf("idle: %d of %d sessions survived %.1fs, %d errors", r.Survived, r.Sessions, r.HeldS, r.Errors)
	case "probe":
		pctx, pcancel := context.WithTimeout(ctx, o.duration)
		defer pcancel()
		if err := load.Probe(pctx, d); err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		fmt.Fprintf(stderr, "probe: %s echoes\n", o.url)
		return exitOK
	default:
		fmt.Fprintf(stderr, "wsload: unknown -mode %q\n", o.mode)
		return exitUsage
	}
	if errors.Is(runErr, load.ErrConfig) {
		fmt.Fprintln(stderr, runErr)
		return exitUsage
	}
	if runErr != nil && !errors.Is(runErr, context.DeadlineExceeded) && !errors.Is(runErr, context.Canceled) {
		// The sessions could not be opened: nothing was measured.
		fmt.Fprintln(stderr, runErr)
		return exitUsage
	}
	out.print(res, human)
	switch {
	case errors.Is(runErr, context.DeadlineExceeded):
		fmt.Fprintf(stderr, "wsload: hard timeout %s reached\n", o.timeout)
		return exitTimeout
	case errs > 0 || runErr != nil:
		return exitErrors
	}
	return exitOK
}

// printer writes a result as one JSON line on stdout and a sentence on
// stderr.
type printer struct {
	stdout, stderr io.Writer
	label          string
}

func (p printer) print(res any, human string) {
	line, err := json.Marshal(res)
	if err == nil && p.label != "" {
		var head []byte
		head, err = json.Marshal(map[string]string{"target": p.label})
		line = merge(head, line)
	}
	if err != nil {
		fmt.Fprintln(p.stderr, "wsload: encode result:", err)
		return
	}
	fmt.Fprintf(p.stdout, "%s\n", line)
	if p.label != "" {
		human = p.label + ": " + human
	}
	fmt.Fprintln(p.stderr, human)
}

// merge joins two JSON objects: {"a":1} + {"b":2} = {"a":1,"b":2}.
func merge(a, b []byte) []byte {
	switch {
	case len(a) <= 2:
		return b
	case len(b) <= 2:
		return a
	}
	out := append([]byte{}, a[:len(a)-1]...)
	out = append(out, ',')
	return append(out, b[1:]...)
}
