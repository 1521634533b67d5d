package config

import "strings"

// FieldError is one problem with one configuration key. Path names the key
// the way a reader finds it in gateway.yaml ("routes[1].limits.burst"); for
// an environment variable that names no key, Path is the variable's name.
type FieldError struct {
	Path string
	Msg  string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Msg }

// ValidationError holds every problem found in one configuration, so that a
// user fixes them in one pass instead of one per run. Load and Validate
// return it as *ValidationError; check with errors.As.
type ValidationError struct {
	Errors []FieldError
}

// Error prints one "path: msg" per line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, fe := range e.Errors {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(fe.Error())
	}
	return b.String()
}

// Unwrap exposes each FieldError to errors.As and errors.Is.
func (e *ValidationError) Unwrap() []error {
	out := make([]error, len(e.Errors))
	for i, fe := range e.Errors {
		out[i] = fe
	}
	return out
}

// Has reports whether some error names exactly path. Tests and callers use it
// instead of matching message text.
func (e *ValidationError) Has(path string) bool {
	for _, fe := range e.Errors {
		if fe.Path == path {
			return true
		}
	}
	return false
}

// problems collects FieldErrors while a configuration is decoded or checked.
type problems struct {
	errs []FieldError
}

func (p *problems) add(path, msg string) {
	p.errs = append(p.errs, FieldError{Path: path, Msg: msg})
}

// err returns nil when nothing was collected, and a *ValidationError otherwise.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	return &ValidationError{Errors: p.errs}
}
