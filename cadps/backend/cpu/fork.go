// Derived from GoMLX v0.26.0 (github.com/gomlx/gomlx), Apache-2.0; see NOTICE.

package cpu

import "github.com/pkg/errors"

// panicf panics with an error carrying a stack trace. It stands in for
// GoMLX's internal exceptions.Panicf, which a package outside the GoMLX
// module cannot import.
func panicf(format string, args ...any) {
	panic(errors.Errorf(format, args...))
}
