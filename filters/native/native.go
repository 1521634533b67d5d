package native

import (
	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/filters/native/jsononly"
	"github.com/weirproxy/weir/filters/native/redact"
	"github.com/weirproxy/weir/filters/native/sizelimit"
)

// All returns the built-in filters, for filters.NewRegistry. Each call
// returns a new slice.
func All() []filters.Info {
	return []filters.Info{
		jsononly.Info(),
		redact.Info(),
		sizelimit.Info(),
	}
}
