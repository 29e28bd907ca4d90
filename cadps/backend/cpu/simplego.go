// Derived from GoMLX v0.26.0 backends/simplego (github.com/gomlx/gomlx), Apache-2.0;
// modified by the cadps toolkit, see NOTICE and FORK.md.

// Package cpu is the toolkit's CPU backend for GoMLX: a fork of GoMLX
// v0.26.0's pure-Go backend ("simplego") with vectorised float32 matrix
// products (AVX2/FMA and AVX-512 kernels chosen at run time, a portable Go
// kernel elsewhere), the ops the samplers need that upstream lacks (Reverse,
// Pad with interior and negative padding, convolutions lowered to matrix
// products with their gradients), and no registration under upstream's name
// "go". See FORK.md for the list of changes.
package cpu

import (
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/notimplemented"
	"github.com/pkg/errors"

	"sync"
)

// BackendName is the name under which this backend is registered, as used in
// GOMLX_BACKEND ("cadps[:config]").
const BackendName = "cadps"

func init() {
	backends.Register(BackendName, New)
}

// New constructs the backend from its configuration: options separated by
// commas, "parallelism=N", one of "dotgeneral_small", "dotgeneral_large"
// and "dotgeneral_check", and one of "ops_sequential" and "ops_parallel"
// (see the package documentation). An unknown option, an option given
// twice, two of one kind and a value for an option without one are
// errors naming them.
func New(config string) (backends.Backend, error) {
	b := newDefaultBackend()
	given := map[string]string{} // the option given of each kind
	for _, part := range strings.Split(config, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, value, hasValue := strings.Cut(part, "=")
		kind := key
		switch key {
		case "dotgeneral_small", "dotgeneral_large", "dotgeneral_check":
			kind = "dotgeneral"
		case "ops_sequential", "ops_parallel":
			kind = "ops"
		}
		if prev, ok := given[kind]; ok {
			return nil, errors.Errorf("%s backend configuration %q: %q and %q set the same thing: give one", BackendName, config, prev, part)
		}
		given[kind] = part
		if hasValue && kind != key {
			return nil, errors.Errorf("%s backend configuration %q: option %q takes no value", BackendName, config, key)
		}
		switch key {
		case "parallelism":
			vInt, err := strconv.Atoi(value)
			if err != nil {
				return nil, errors.Wrapf(err, "invalid value for %q in SimpleGo backend config: needs an int, got %q", key, value)
			}
			b.workers.SetMaxParallelism(vInt)
		case "dotgeneral_small":
			// This will force DotGeneral operation to use the version designed for smaller matrices.
			b.dotGeneralForceProblemSize = smallProblemSize
		case "dotgeneral_large":
			// This will force DotGeneral operation to use the version designed for large matrices.
			b.dotGeneralForceProblemSize = largeProblemSize
		case "dotgeneral_check":
			// This will force every DotGeneral operation to be executed with both versions and the outputs compared.
			// This is used exclusively for debugging purposes.
			b.dotGeneralForceProblemSize = checkProblemSize
		case "ops_sequential":
			// This will force the ops to be executed sequentially.
			// The default is running parallel if it's the only thing executing, otherwise sequentially.
			b.opsExecutionType = opsExecutionSequential
		case "ops_parallel":
			// This will force the ops to be executed in parallel where possible.
			// The default is running parallel if it's the only thing executing, otherwise sequentially.
			b.opsExecutionType = opsExecutionParallel
		default:
			return nil, errors.Errorf("unknown configuration option %q for the %s backend -- valid configuration options are: "+
				"parallelism=#workers, dotgeneral_small, dotgeneral_large, dotgeneral_check, ops_sequential, ops_parallel; see the package documentation", key, BackendName)
		}
	}
	return b, nil
}

func newDefaultBackend() *Backend {
	b := &Backend{}
	b.workers.Initialize()
	// cadps: ops run one at a time unless the config says "ops_parallel":
	// the executor deadlocks when more matrix products wait for workers than
	// it has (each holds one while waiting for another); each product still
	// uses every core. "ops_parallel,parallelism=-1" (no worker limit) is
	// safe.
	b.opsExecutionType = opsExecutionSequential
	return b
}

// Backend implements the backends.Backend interface.
type Backend struct {
	// bufferPools are a map to pools of buffers that can be reused.
	// The underlying type is map[bufferPoolKey]*sync.Pool.
	bufferPools sync.Map
	workers     workersPool

	numLiveExecutions atomic.Int32

	// dotGeneralForceProblemSize allows a DotGeneral algorithm to always be used.
	dotGeneralForceProblemSize dotGeneralProblemSizeType

	// opsExecutionType defines how to execute the ops of a computation.
	opsExecutionType opsExecutionType

	// isFinalized is true if the backend has been isFinalized.
	isFinalized bool
}

// Compile-time check that simplego.Backend implements backends.Backend.
var _ backends.Backend = &Backend{}

// Name returns the short name of the backend. E.g.: "xla" for the Xla/PJRT plugin.
func (b *Backend) Name() string {
	return BackendName
}

// String implement backends.Backend.
func (b *Backend) String() string { return BackendName }

// Description is a longer description of the Backend that can be used to pretty-print.
func (b *Backend) Description() string {
	return "cadps CPU backend (fork of GoMLX v0.26.0 simplego)"
}

// NumDevices return the number of devices available for this Backend.
func (b *Backend) NumDevices() int {
	return 1
}

// DeviceDescription returns a description of the device with the given deviceNum.
func (b *Backend) DeviceDescription(deviceNum backends.DeviceNum) string {
	return "device#0"
}

// Capabilities returns information about what is supported by this backend.
func (b *Backend) Capabilities() backends.Capabilities {
	return Capabilities
}

// Builder creates a new builder used to construct a named computation.
func (b *Backend) Builder(name string) backends.Builder {
	builder := &Builder{
		backend: b,
		name:    name,
	}
	// Set the "not implemented" custom message:
	builder.Builder.ErrFn = notImplementedError
	return builder
}

func notImplementedError(opType backends.OpType) error {
	return errors.Wrapf(notimplemented.NotImplementedError, "op %q is not implemented by the %s CPU backend", opType, BackendName)
}

// Finalize releases all the associated resources immediately, and makes the backend invalid.
func (b *Backend) Finalize() {
	b.isFinalized = true
	b.bufferPools.Clear()
}

// IsFinalized returns true if the backend has been isFinalized.
func (b *Backend) IsFinalized() bool {
	return b.isFinalized
}
