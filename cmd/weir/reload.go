package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/weirproxy/weir/gateway"
	"github.com/weirproxy/weir/gateway/config"
	"github.com/weirproxy/weir/gateway/watch"
)

// reloader re-reads the configuration and reloads the server, whatever
// asked for it: SIGHUP, POST /reload, or a watched file that changed. It
// serialises reloads and keeps the file watcher in step with the
// configuration in force: after every reload the watched set is the
// configuration file plus every .wasm a route names, so a module added by a
// reload is watched from then on.
type reloader struct {
	lf  *loadFlags
	srv *gateway.Server
	log *slog.Logger

	// reloadMu serialises reloads; mu guards the fields below and is
	// never held across one, so that waiting for a signal is never stuck
	// behind a slow module compile.
	reloadMu sync.Mutex
	mu       sync.Mutex
	cur      *config.Gateway
	watcher  *watch.Watcher
}

func newReloader(lf *loadFlags, srv *gateway.Server, cfg *config.Gateway, log *slog.Logger) *reloader {
	r := &reloader{lf: lf, srv: srv, log: log, cur: cfg}
	r.mu.Lock()
	r.rewatch(nil)
	r.mu.Unlock()
	return r
}

// reload loads the configuration again (file, environment and --set flags
// as at start) and swaps it in. A configuration or module that fails leaves
// the running one serving; the error says why and is logged here, once, for
// every trigger.
func (r *reloader) reload(ctx context.Context, trigger string, files []string) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	attrs := []any{"trigger", trigger}
	if len(files) > 0 {
		attrs = append(attrs, "files", files)
	}
	next, err := r.lf.load()
	if err == nil {
		err = r.srv.Reload(ctx, next)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.log.Error("reload rejected; the running configuration stays in force", append(attrs, "err", err)...)
		if next != nil {
			// The rejected configuration may name a module that is not
			// there yet: watch it too, so that providing it reloads.
			r.rewatch(watchedFiles("", next))
		}
		return err
	}
	changed := config.Diff(r.cur, next)
	r.cur = next
	r.log.Info("reloaded: new sessions get the new configuration, live ones keep theirs",
		append(attrs, "sections", changed)...)
	r.rewatch(nil)
	return nil
}

// current returns the configuration in force.
func (r *reloader) current() *config.Gateway {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// changes returns the channel of the watcher in force, or nil (which blocks
// forever) when nothing is watched. A channel replaced by a reload is closed,
// which wakes whoever was waiting on it to ask again.
func (r *reloader) changes() <-chan watch.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watcher == nil {
		return nil
	}
	return r.watcher.Changes()
}

// rewatch makes the watcher match r.cur, plus extra files. Called with r.mu
// held.
func (r *reloader) rewatch(extra []string) {
	paths := watchedFiles(r.lf.file, r.cur, extra...)
	rc := r.cur.Reload
	if !rc.Watch || len(paths) == 0 {
		if r.watcher != nil {
			r.watcher.Close()
			r.watcher = nil
			r.log.Info("not watching files for changes")
		}
		return
	}
	if r.watcher != nil && r.watcher.Interval() == rc.Interval {
		r.watcher.Set(paths)
		return
	}
	if r.watcher != nil {
		r.watcher.Close()
	}
	r.watcher = watch.New(paths, rc.Interval)
	r.log.Info("watching files for changes", "files", paths, "interval", rc.Interval)
}

// close stops the watcher.
func (r *reloader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watcher != nil {
		r.watcher.Close()
		r.watcher = nil
	}
}

// watchedFiles lists what a reload would read again: the configuration
// file (none for the embedded default), every WASM module, as the
// configuration names them (relative paths are relative to the working
// directory, as the plugin loader reads them), then extra.
func watchedFiles(file string, cfg *config.Gateway, extra ...string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	add(file)
	// Certificates and client CAs: rotating them on disk reloads them
	// (SECURITY-CASES T-04), as a new module does.
	for _, l := range cfg.Listeners {
		if l.TLS == nil {
			continue
		}
		for _, c := range l.TLS.Certs {
			add(c.Cert)
			add(c.Key)
		}
		add(l.TLS.ClientCA)
	}
	for _, rt := range cfg.Routes {
		for _, f := range rt.Filters {
			add(f.Wasm)
		}
	}
	for _, p := range extra {
		add(p)
	}
	return out
}
