// Command cadps restores images with diffusion posterior sampling (DPS,
// CA-DPS and related methods), reproduces the papers' tables, converts
// checkpoints and computes image metrics.
//
// Usage:
//
//	cadps <command> [flags]
//
// Run `cadps help` for the list of commands and `cadps <command> -h` for
// each command's flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
)

// command is one subcommand: its name, a one-line summary, and its entry
// point, which parses args and writes its normal output to stdout.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

// commands lists every subcommand; each lives in its own file.
func commands() []command {
	return []command{
		convertCommand(),
		denoiseCommand(),
		evaluateCommand(),
		fidCommand(),
		gmmCommand(),
		mergeCommand(),
		metricsCommand(),
		pairedCommand(),
		reproduceCommand(),
		restoreCommand(),
		sampleCommand(),
		trainCommand(),
		traceCommand(),
		versionCommand(),
	}
}

func main() {
	os.Exit(profiled(os.Getenv("CADPS_CPUPROFILE"), func() int { return run(os.Args[1:], os.Stdout, os.Stderr) }))
}

// profiled runs f, writing a CPU profile of it to path (for go tool pprof)
// when path is not empty.
func profiled(path string, f func() int) int {
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cadps: CADPS_CPUPROFILE: %v\n", err)
		return 1
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		fmt.Fprintf(os.Stderr, "cadps: CADPS_CPUPROFILE: %v\n", err)
		out.Close()
		return 1
	}
	code := f()
	pprof.StopCPUProfile()
	if err := out.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "cadps: CADPS_CPUPROFILE: %v\n", err)
		return 1
	}
	return code
}

// run executes the command line and returns the process exit code: 0 on
// success, 2 for usage errors, 128 plus the signal's number for a run a
// signal stopped (signalExit), 1 for everything else. Errors are printed as
// one clear line, never as a stack trace.
func run(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range cmds {
		if c.name == args[0] {
			err := withSettingFlag(c.run(args[1:], stdout, stderr))
			name := c.name
			if sub := (subcommandError{}); errors.As(err, &sub) {
				name = sub.name
			}
			var stopped signalExit
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.As(err, new(usageError)):
				fmt.Fprintf(stderr, "cadps %s: %v\n", name, err)
				return 2
			case errors.As(err, &stopped):
				fmt.Fprintf(stderr, "cadps %s: %v\n", name, err)
				return stopped.status()
			default:
				fmt.Fprintf(stderr, "cadps %s: %v\n", name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "cadps: unknown command %q\n\n", args[0])
	usage(stderr, cmds)
	return 2
}

func usage(w io.Writer, cmds []command) {
	fmt.Fprintln(w, "Usage: cadps <command> [flags]\n\nCommands:")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun `cadps <command> -h` for a command's flags.")
}

// usageError marks an error in the command line itself (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// usagef returns a usageError.
func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// intFlag is an integer flag's name (without its dash) and value.
type intFlag struct {
	name  string
	value int
}

// positive refuses the first of flags whose value is not positive, naming
// it and its value.
func positive(flags ...intFlag) error {
	for _, f := range flags {
		if f.value <= 0 {
			return usagef("-%s must be positive, got %d", f.name, f.value)
		}
	}
	return nil
}

// arguments spells the command-line arguments pos by their count and
// names them, so that a word taken for an argument (the second method of
// "-methods dps cadps") shows: "0 arguments", `1 argument ("a.png")`,
// `2 arguments ("images", "cadps")`; past five (a shell pattern matching
// a folder of images), the first five and how many more (listed).
func arguments(pos []string) string {
	if len(pos) == 0 {
		return "0 arguments"
	}
	quoted := make([]string, len(pos))
	for k, a := range pos {
		quoted[k] = strconv.Quote(a)
	}
	noun := "arguments"
	if len(pos) == 1 {
		noun = "argument"
	}
	return fmt.Sprintf("%d %s (%s)", len(pos), noun, listed(quoted))
}

// subcommandError is the error of a command's own subcommand, such as
// `cadps gmm bench`, whose full name (name) starts the message run prints.
type subcommandError struct {
	name string
	err  error
}

func (e subcommandError) Error() string { return e.err.Error() }
func (e subcommandError) Unwrap() error { return e.err }

// inSubcommand marks err (if any) as the error of subcommand name.
func inSubcommand(name string, err error) error {
	if err == nil {
		return nil
	}
	return subcommandError{name, err}
}

// newFlagSet returns a flag set for a subcommand that reports errors
// instead of exiting, with its usage line. Parse it with parseFlags, which
// prints the usage for -h and -help only.
func newFlagSet(name, argsUsage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("cadps "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nFlags:\n", strings.TrimSpace("Usage: cadps "+name+" [flags] "+argsUsage))
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args with fs. For -h and -help it prints fs's usage and
// returns flag.ErrHelp; any other failure becomes a usageError of one line
// with a hint to run -h, and nothing is printed (run prints the error once).
func parseFlags(fs *flag.FlagSet, args []string) error {
	// The flag package prints the error and the whole usage on any failure:
	// silence it while parsing.
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	fs.SetOutput(out)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return err
	}
	return usagef("%v (run `%s -h` for the flags)", err, fs.Name())
}
