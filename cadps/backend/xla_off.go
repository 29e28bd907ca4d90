//go:build !xla

package backend

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
)

// XLAAvailable reports whether this binary was built with the XLA backend
// (build tag "xla").
const XLAAvailable = false

func newXLA(config string) (backends.Backend, error) {
	return nil, fmt.Errorf("backend: %s asks for XLA (plugin %q), but this binary was built without it: "+
		"rebuild with `go build -tags xla` (needs cgo) or unset %s to use the pure-Go backend",
		EnvVar, config, EnvVar)
}
