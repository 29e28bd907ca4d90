// Package backend gives every program, notebook and test of the toolkit its
// GoMLX backend.
//
// The default is the pure-Go ("simplego") backend wrapped by this package so
// that everything the samplers need works on it: the gradient of a
// convolution (Reverse and Pad composed from existing ops), default strides
// and dilations, and fast convolutions. It is registered under the name
// [Name] and chosen when GOMLX_BACKEND is unset.
//
// GOMLX_BACKEND is honoured as GoMLX defines it ("<name>:<config>"):
//
//	GOMLX_BACKEND=cadps            the wrapped pure-Go backend (the default)
//	GOMLX_BACKEND=go               the plain pure-Go backend, unwrapped
//	GOMLX_BACKEND=xla:/abs/pjrt.so XLA through a PJRT plugin (binaries built with -tags xla)
//
// Asking for XLA never downloads anything: a missing plugin is an error at once.
package backend

import (
	"fmt"
	"os"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
)

// Name is the name under which the wrapped pure-Go backend is registered.
const Name = "cadps"

// EnvVar is the environment variable that selects a backend (GoMLX's own).
const EnvVar = backends.ConfigEnvVar

func init() {
	backends.Register(Name, newWrapped)
}

// TrainingConfig is the wrapped pure-Go backend with independent ops run
// in parallel and no worker limit: the configuration `cadps train` uses
// when GOMLX_BACKEND is unset. A training step's graph is wide (the weight
// gradients of every layer are independent) and its tensors are small, so
// the extra peak memory is worth the speed.
const TrainingConfig = Name + ":ops_parallel,parallelism=-1"

// New returns the backend selected by $GOMLX_BACKEND, or the wrapped pure-Go
// backend when it is unset or empty.
func New() (backends.Backend, error) {
	return NewWithConfig(os.Getenv(EnvVar))
}

// NewOr is [New] with fallback as the configuration used when
// $GOMLX_BACKEND is unset or empty.
func NewOr(fallback string) (backends.Backend, error) {
	if c := os.Getenv(EnvVar); c != "" {
		return NewWithConfig(c)
	}
	return NewWithConfig(fallback)
}

// MustNew is [New] for notebooks and examples: it panics on error.
func MustNew() backends.Backend {
	b, err := New()
	if err != nil {
		panic(err)
	}
	return b
}

// NewWithConfig returns the backend named by config, in GOMLX_BACKEND's
// format "<name>[:<backend config>]". An empty config selects the wrapped
// pure-Go backend.
func NewWithConfig(config string) (b backends.Backend, err error) {
	name, rest, _ := strings.Cut(config, ":")
	switch name {
	case "", Name:
		return newWrapped(rest)
	case "xla", "stablehlo", "hlo", "shlo":
		return newXLA(rest)
	}
	if !registered(name) {
		return nil, fmt.Errorf("backend: unknown backend %q in %s=%q (known: %s)",
			name, EnvVar, config, strings.Join(backends.List(), ", "))
	}
	// GoMLX panics on some configuration errors; turn them into errors.
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("backend: creating %q: %v", config, r)
		}
	}()
	b, err = backends.NewWithConfig(config)
	if err != nil {
		return nil, fmt.Errorf("backend: creating %q: %w", config, err)
	}
	return b, nil
}

func registered(name string) bool {
	for _, n := range backends.List() {
		if n == name {
			return true
		}
	}
	return false
}

// newWrapped builds the project's wrapper around a fresh pure-Go backend; the
// config is passed to the pure-Go backend (e.g. "parallelism=2").
//
// Ops run one at a time ("ops_sequential") unless the config says
// "ops_parallel": GoMLX v0.26's pure-Go executor deadlocks when more
// matrix products are ready at once than it has workers (each holds a worker
// while waiting for another), which independent products in a UNet step
// trigger; each product still uses every core, and peak memory is lower.
// "ops_parallel,parallelism=-1" (no worker limit, so no deadlock) runs
// independent ops at once: 1.33× faster for a training step of the small
// prior, at a higher peak memory; see [TrainingConfig].
//
// Matrix products take the pure-Go backend's blocked path
// ("dotgeneral_large") unless the config names another: its default sends
// products with small outputs (a convolution's kernel gradient: 288×32
// outputs summed over 16,384 positions) to an unblocked loop that is
// several times slower. Measured here: a training step of the small prior
// 5.85 → 4.39 s with parallel ops, → 3.66 s with the blocked path too; a
// forward + input gradient of the unet-a fixture config 634 → 517 ms.
func newWrapped(config string) (backends.Backend, error) {
	if !strings.Contains(config, "ops_parallel") && !strings.Contains(config, "ops_sequential") {
		config = strings.TrimPrefix(config+",ops_sequential", ",")
	}
	if !strings.Contains(config, "dotgeneral_") {
		config += ",dotgeneral_large"
	}
	inner, err := simplego.New(config)
	if err != nil {
		return nil, fmt.Errorf("backend: creating the pure-Go backend: %w", err)
	}
	return Wrap(inner), nil
}

// IsPureGo reports whether b runs on the CPU in Go (wrapped or not), as
// opposed to an accelerator through XLA.
func IsPureGo(b backends.Backend) bool {
	switch b.(type) {
	case *Wrapped, *simplego.Backend:
		return true
	}
	return false
}
