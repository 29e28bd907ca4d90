//go:build xla

package backend

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/xla"
)

// XLAAvailable reports whether this binary was built with the XLA backend
// (build tag "xla").
const XLAAvailable = true

// newXLA creates the XLA backend for an explicit PJRT plugin file. It never
// downloads a plugin: the config must name an existing plugin file by its
// absolute path. Options may follow after commas: GoMLX's own (tf32,
// shared_buffers) and the PJRT client's key=value ones (see parseXLAConfig).
func newXLA(config string) (backends.Backend, error) {
	xla.EnableAutoInstall(false)
	cfg, err := parseXLAConfig(config)
	if err != nil {
		return nil, err
	}
	plugin, _, _ := strings.Cut(cfg.gomlx, ",")
	if plugin == "" {
		return nil, fmt.Errorf("backend: %s=xla needs the absolute path of a PJRT plugin, e.g. xla:/path/to/xla_cuda_plugin.so", EnvVar)
	}
	if !filepath.IsAbs(plugin) {
		return nil, fmt.Errorf("backend: XLA plugin %q must be an absolute path to a PJRT plugin .so file "+
			"(named plugins would need a download, which this toolkit never attempts)", plugin)
	}
	if st, err := os.Stat(plugin); err != nil {
		return nil, fmt.Errorf("backend: XLA plugin: %w", err)
	} else if st.IsDir() {
		return nil, fmt.Errorf("backend: XLA plugin %q is a directory, not a PJRT plugin file", plugin)
	}
	b, err := xla.NewWithOptions(cfg.gomlx, cfg.client)
	if err != nil {
		return nil, fmt.Errorf("backend: loading XLA plugin %q: %w", plugin, err)
	}
	return b, nil
}
