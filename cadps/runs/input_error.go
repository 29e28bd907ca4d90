package runs

import "fmt"

// InputError is an error whose message names inputs of the package's API,
// the fields and arguments a caller sets (EvalSettings.Count,
// MixtureBench.Resume, ChooseShard's count): Inputs names them as Go code
// does, and Message writes the message with the names it is given in
// their places. A command that sets the inputs from flags can write it
// with the flags' names instead (errors.As). The package returns it
// unwrapped, so that such a message is the whole error.
type InputError struct {
	// Inputs are the inputs the message names.
	Inputs []string
	// Message returns the message with names[k] for Inputs[k].
	Message func(names ...string) string
	// Err, if not nil, is the error this one reports (Unwrap).
	Err error
}

// Error returns the message with the inputs' Go names.
func (e *InputError) Error() string { return e.Message(e.Inputs...) }

// Unwrap returns Err.
func (e *InputError) Unwrap() error { return e.Err }

// inputError returns an InputError naming inputs, whose message is format
// with the inputs' names as its first arguments, then args.
func inputError(err error, inputs []string, format string, args ...any) *InputError {
	return &InputError{Inputs: inputs, Err: err, Message: func(names ...string) string {
		a := make([]any, 0, len(names)+len(args))
		for _, n := range names {
			a = append(a, n)
		}
		return fmt.Sprintf(format, append(a, args...)...)
	}}
}
