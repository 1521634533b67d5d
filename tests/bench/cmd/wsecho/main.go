package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/weirproxy/weir/tests/bench/internal/echo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run serves until ctx ends; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsecho", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
	maxFrame := fs.Int64("max-frame", echo.DefaultMaxFrameBytes, "largest frame payload accepted")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		fmt.Fprintf(stderr, "wsecho: -addr: %v\n", err)
		return 2
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		// The bench never serves anything beyond this machine.
		fmt.Fprintf(stderr, "wsecho: -addr %s is not a loopback address\n", *addr)
		return 2
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "wsecho: %v\n", err)
		return 1
	}
	srv := &echo.Server{MaxFrameBytes: *maxFrame}
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		_ = srv.Close()
		<-done
		return 0
	case err := <-done:
		_ = srv.Close()
		if errors.Is(err, echo.ErrServerClosed) {
			return 0
		}
		fmt.Fprintln(stderr, err)
		return 1
	}
}
