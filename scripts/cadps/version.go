package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/internal/buildinfo"
)

// versionCommand is `cadps version`: what a bug report or a record of a
// run needs to name the program.
func versionCommand() command {
	return command{
		name:    "version",
		summary: "print the build (commit), the Go and GoMLX versions and GOMLX_BACKEND",
		run:     runVersion,
	}
}

// versionInfo is what `cadps version` prints.
type versionInfo struct {
	// Toolkit is the build, as records name it (buildinfo.Toolkit); empty
	// when the binary records none (go build -buildvcs=false).
	Toolkit string `json:"toolkit"`
	Go      string `json:"go"`
	GoMLX   string `json:"gomlx"`
	// BackendConfig is GOMLX_BACKEND; empty when unset (the toolkit's CPU
	// backend).
	BackendConfig string `json:"backend_config"`
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object (toolkit, go, gomlx, backend_config)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("version takes no arguments, got %s", arguments(pos))
	}
	v := versionInfo{Toolkit: buildinfo.Toolkit(), Go: runtime.Version(), BackendConfig: os.Getenv(backend.EnvVar)}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/gomlx/gomlx" {
				v.GoMLX = m.Version
			}
		}
	}
	if *asJSON {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", data)
		return err
	}
	backendLine := "GOMLX_BACKEND unset: the toolkit's CPU backend"
	if v.BackendConfig != "" {
		backendLine = "GOMLX_BACKEND=" + v.BackendConfig
	}
	_, err = fmt.Fprintf(stdout, "cadps %s\n%s, GoMLX %s\n%s\n", cmp.Or(v.Toolkit, "(the build records no commit)"),
		v.Go, cmp.Or(v.GoMLX, "(unknown)"), backendLine)
	return err
}
