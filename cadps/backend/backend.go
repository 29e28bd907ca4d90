// Package backend gives every program, notebook and test of the toolkit its
// GoMLX backend.
//
// The default is the toolkit's own CPU backend (package cpu, a fork of
// GoMLX's pure-Go backend with vectorised matrix products and the ops the
// samplers need), registered under the name [Name] and chosen when
// GOMLX_BACKEND is unset.
//
// GOMLX_BACKEND is honoured as GoMLX defines it ("<name>:<config>"):
//
//	GOMLX_BACKEND=cadps                 the toolkit's CPU backend (the default)
//	GOMLX_BACKEND=go:ops_sequential     GoMLX's own pure-Go backend, for comparison
//	GOMLX_BACKEND=xla:/abs/pjrt.so      XLA through a PJRT plugin (binaries built with -tags xla)
//
// GoMLX's own backend is for comparing kernels on forward passes (the UNet,
// the operators): in GoMLX v0.26.0 it lacks ops that gradients need
// (Reverse, for a convolution's gradient), so guided sampling steps fail on
// it, and without ops_sequential its executor can deadlock when one graph
// runs several matrix products at once.
//
// Asking for XLA never downloads anything: a missing plugin is an error at once.
package backend

import (
	"fmt"
	"os"
	"strings"

	"github.com/cadps/toolkit/cadps/backend/cpu"
	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego" // registers GoMLX's pure-Go backend as "go"
)

// Name is the name under which the toolkit's CPU backend is registered.
const Name = cpu.BackendName

// EnvVar is the environment variable that selects a backend (GoMLX's own).
const EnvVar = backends.ConfigEnvVar

// TrainingConfig is the CPU backend with independent ops run
// in parallel and no worker limit: the configuration `cadps train` uses
// when GOMLX_BACKEND is unset. A training step's graph is wide (the weight
// gradients of every layer are independent) and its tensors are small, so
// the extra peak memory is worth the speed.
const TrainingConfig = Name + ":ops_parallel,parallelism=-1"

// New returns the backend selected by $GOMLX_BACKEND, or the CPU backend
// when it is unset or empty.
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
// format "<name>[:<backend config>]". An empty config selects the CPU
// backend.
func NewWithConfig(config string) (b backends.Backend, err error) {
	name, rest, _ := strings.Cut(config, ":")
	switch name {
	case "", Name:
		return newCPU(rest)
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

// newCPU builds the toolkit's CPU backend; the config is passed to it (e.g.
// "parallelism=2").
//
// Ops run one at a time unless the config says "ops_parallel": the executor
// inherited from GoMLX v0.26 deadlocks when more matrix products are ready
// at once than it has workers (each holds a worker while waiting for
// another), which independent products in a UNet step trigger; each product
// still uses every core, and peak memory is lower.
// "ops_parallel,parallelism=-1" (no worker limit, so no deadlock) runs
// independent ops at once: faster for a training step of the small prior, at
// a higher peak memory; see [TrainingConfig].
func newCPU(config string) (backends.Backend, error) {
	b, err := cpu.New(config)
	if err != nil {
		return nil, fmt.Errorf("backend: creating the CPU backend: %w", err)
	}
	return b, nil
}

// Identity names backend b as a result that depends on its arithmetic
// records it: its name and, for the toolkit's CPU backend, the float32
// matrix-product kernel it picked on this machine ("cadps/avx512"; see
// [cpu.SGEMMKernel]). Two runs of one build agree bit for bit only when
// their identities (and backend configurations) agree: the kernels sum
// float32 products in different orders. A nil b (a bench of exact draws
// only, which runs no graph) is "".
func Identity(b backends.Backend) string {
	if b == nil {
		return ""
	}
	if b.Name() == Name {
		return Name + "/" + cpu.SGEMMKernel()
	}
	return b.Name()
}
