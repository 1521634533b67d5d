package config

import (
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"
)

// ErrSyntax reports a configuration document that is not valid YAML, or
// whose top level is not a mapping.
var ErrSyntax = errors.New("config: not a valid YAML mapping")

// LoadOptions says where a configuration comes from. Sources are applied in
// this order, each overriding the one before: defaults, the YAML document,
// Env, then Sets.
type LoadOptions struct {
	// File is the path of a YAML document. It wins over Data.
	File string
	// Data is a YAML document, used when File is empty (DefaultYAML, a
	// test's inline config). With neither, only Env, Sets and defaults
	// apply.
	Data []byte
	// Env is the process environment in os.Environ form. Only WEIR_
	// variables are read, and each must name a key: WEIR_SERVER_MAX_CONNECTIONS,
	// WEIR_ROUTES_0_LIMITS_MAX_MESSAGE_BYTES (a number selects a list
	// element, which must exist).
	Env []string
	// Sets are key=value overrides from repeated --set flags, applied in
	// order: "routes.0.limits.max_message_bytes=2MiB" (routes[0] works
	// too). A list of scalars takes a comma-separated value.
	Sets []string
}

// Load builds a Gateway from opts, fills defaults and validates it. Every
// problem with keys and values is reported at once as a *ValidationError;
// a file that cannot be read or parsed is reported alone (wrapping the
// fs error or ErrSyntax). The returned Gateway is the caller's to keep;
// Load holds nothing.
func Load(opts LoadOptions) (*Gateway, error) {
	k := koanf.New(".")
	switch {
	case opts.File != "":
		if err := k.Load(file.Provider(opts.File), yaml.Parser()); err != nil {
			return nil, loadError(opts.File, err)
		}
	case len(opts.Data) > 0:
		if err := k.Load(rawbytes.Provider(opts.Data), yaml.Parser()); err != nil {
			return nil, loadError("inline config", err)
		}
	}

	// Overrides are applied to the merged tree by our own code rather than
	// merged by koanf: koanf replaces lists wholesale, so
	// WEIR_ROUTES_0_LIMITS_MAX_MESSAGE_BYTES would replace every route
	// with one holding a single key. Raw returns a deep copy we may edit.
	tree := k.Raw()
	var overrides problems
	applyEnv(tree, opts.Env, &overrides)
	applySets(tree, opts.Sets, &overrides)

	g := new(Gateway)
	d := newDecoder()
	d.value("", tree, reflect.ValueOf(g).Elem())
	applyDefaults(g, d.isSet)

	// Report every problem in one go: what the overrides and the decoder
	// found, then Validate's findings, minus those about a key that
	// already has an error (a value that did not decode is also "missing").
	found := append(overrides.errs, d.errs...)
	var checks problems
	g.check(&checks)
	for _, fe := range checks.errs {
		if !relatedToAny(fe.Path, found) {
			found = append(found, fe)
		}
	}
	if len(found) > 0 {
		return nil, &ValidationError{Errors: found}
	}
	return g, nil
}

func loadError(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("config: read %s: %w", name, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrSyntax, name, err)
}

// relatedToAny reports whether path is, contains or lies inside the path of
// one of errs.
func relatedToAny(path string, errs []FieldError) bool {
	for _, e := range errs {
		if within(path, e.Path) || within(e.Path, path) {
			return true
		}
	}
	return false
}

// within reports whether path is base or lies under it.
func within(path, base string) bool {
	if !strings.HasPrefix(path, base) {
		return false
	}
	rest := path[len(base):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}
