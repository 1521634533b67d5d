package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/gateway/config"
)

// pluginLoader builds WASM filter factories. Until the WASM host lands it
// refuses every module with a clear error.
type pluginLoader struct{}

func newPluginLoader(ctx context.Context, cfg *config.Gateway, log *slog.Logger) (*pluginLoader, error) {
	return &pluginLoader{}, nil
}

func (p *pluginLoader) Load(ctx context.Context, path string, cfg []byte) (filters.Factory, error) {
	return nil, fmt.Errorf("wasm %s: WASM filters are not available in this build yet", path)
}

func (p *pluginLoader) Close(ctx context.Context) error { return nil }

func cmdFilter(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "weir filter: WASM filters are not available in this build yet")
	return 1
}
