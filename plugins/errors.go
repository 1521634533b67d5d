package plugins

import (
	"errors"
	"fmt"
)

// Load errors. (*Host).Load wraps one of them; match with errors.Is.
var (
	// ErrInvalidModule: the bytes are not a valid WebAssembly module, or it
	// uses a feature beyond WebAssembly 2.0.
	ErrInvalidModule = errors.New("plugins: invalid module")
	// ErrModuleTooLarge: the module exceeds HostOptions.MaxModuleBytes or
	// MaxFunctions.
	ErrModuleTooLarge = errors.New("plugins: module too large")
	// ErrMissingExport: a required export is absent (see *ExportError).
	ErrMissingExport = errors.New("plugins: missing export")
	// ErrExportType: an export named by the ABI has another type (see
	// *ExportError).
	ErrExportType = errors.New("plugins: export has the wrong type")
	// ErrForbiddenImport: the module imports from a module other than weir_v1
	// and wasi_snapshot_preview1, or imports a memory, table or global (see
	// *ImportError).
	ErrForbiddenImport = errors.New("plugins: forbidden import")
	// ErrUnknownImport: the module imports a weir_v1 function the host does
	// not provide, or one with another type (see *ImportError).
	ErrUnknownImport = errors.New("plugins: unknown import")
	// ErrMemoryTooLarge: the module declares more initial memory than the
	// host's cap.
	ErrMemoryTooLarge = errors.New("plugins: declared memory over the cap")
	// ErrInitFailed: weir_init returned non-zero (see *InitError).
	ErrInitFailed = errors.New("plugins: weir_init failed")
	// ErrHostClosed: the Host was closed.
	ErrHostClosed = errors.New("plugins: host closed")
)

// Call errors, returned by the filter hooks (wrapped; match with errors.Is).
var (
	// ErrTrap: the guest trapped (unreachable, division by zero,
	// out-of-bounds access, stack overflow, ...). The instance was discarded.
	ErrTrap = errors.New("plugins: guest trapped")
	// ErrCallTimeout: a guest call ran past its CPU deadline and was
	// aborted. The instance was discarded.
	ErrCallTimeout = errors.New("plugins: guest call exceeded its deadline")
	// ErrInstanceLost: the instance this session was pinned to failed
	// earlier; the guest no longer knows the session.
	ErrInstanceLost = errors.New("plugins: the session's instance failed")
	// ErrUnavailable: no instance of the plugin is healthy (all are backing
	// off after failures).
	ErrUnavailable = errors.New("plugins: no healthy instance")
	// ErrReleased: the plugin version was released.
	ErrReleased = errors.New("plugins: plugin released")
	// ErrBadResult: a hook returned a value the ABI does not allow (an
	// unknown action or handshake result, a buffer outside memory).
	ErrBadResult = errors.New("plugins: guest returned an invalid result")
	// ErrHookFailed: a hook reported failure (weir_on_open returned
	// non-zero).
	ErrHookFailed = errors.New("plugins: hook reported failure")
	// ErrNoBuffer: weir_buffer returned 0.
	ErrNoBuffer = errors.New("plugins: guest could not provide a buffer")
	// ErrOutputTooLarge: weir_on_message returned a length over the buffer's
	// capacity or the message limit.
	ErrOutputTooLarge = errors.New("plugins: filter output too large")
	// ErrMessageTooLarge: a message over HostOptions.MaxMessageBytes was
	// offered to the filter.
	ErrMessageTooLarge = errors.New("plugins: message too large")
)

// ExportError says which export is missing or has the wrong type.
type ExportError struct {
	Export string
	// Want and Got are the expected and actual types ("" when missing).
	Want, Got string
	Err       error // ErrMissingExport or ErrExportType
}

func (e *ExportError) Error() string {
	if e.Got == "" {
		return fmt.Sprintf("%v: %s (want %s)", e.Err, e.Export, e.Want)
	}
	return fmt.Sprintf("%v: %s is %s, want %s", e.Err, e.Export, e.Got, e.Want)
}

func (e *ExportError) Unwrap() error { return e.Err }

// ImportError says which import is refused.
type ImportError struct {
	Module, Name string
	Reason       string
	Err          error // ErrForbiddenImport or ErrUnknownImport
}

func (e *ImportError) Error() string {
	return fmt.Sprintf("%v: %s.%s: %s", e.Err, e.Module, e.Name, e.Reason)
}

func (e *ImportError) Unwrap() error { return e.Err }

// InitError carries the non-zero result of weir_init.
type InitError struct {
	Code int32
}

func (e *InitError) Error() string {
	return fmt.Sprintf("%v with code %d", ErrInitFailed, e.Code)
}

func (e *InitError) Unwrap() error { return ErrInitFailed }

// CallError describes a failed guest call: which hook, on which shard, and
// the runtime's own error. It unwraps to both ErrTrap or ErrCallTimeout and
// the underlying cause.
type CallError struct {
	Plugin string
	Hook   string
	Shard  int
	Kind   error // ErrTrap or ErrCallTimeout
	Cause  error
}

func (e *CallError) Error() string {
	return fmt.Sprintf("%v: plugin %s, %s on shard %d: %v", e.Kind, e.Plugin, e.Hook, e.Shard, e.Cause)
}

func (e *CallError) Unwrap() []error { return []error{e.Kind, e.Cause} }
