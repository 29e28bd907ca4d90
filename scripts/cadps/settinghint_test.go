package main

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs"
)

// TestSettingFlagKeys checks that every setting a run folder records
// names the flags that set it, except those refused in words of their own
// (the lists that may only grow) and those never compared.
func TestSettingFlagKeys(t *testing.T) {
	own := map[string]bool{"tasks": true, "methods": true, "method_revisions": true, "count": true, "backend": true}
	for _, v := range []any{restore.Settings{}, runs.EvalSettings{}} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			key, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if key == "" || key == "-" || own[key] {
				continue
			}
			if _, ok := settingFlag(key); !ok {
				t.Errorf("%s.%s (%q) names no flag", typ.Name(), typ.Field(i).Name, key)
			}
		}
	}
}

// TestWithSettingFlag checks the flag named for a setting's path, and
// that a rerun of reproduce with another step count names -steps.
func TestWithSettingFlag(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{"seed", "(seed is set by -seed)"},
		{"runs[1].sigma_y", "(runs[1].sigma_y is set by -sigma-y)"},
		{"diffusion.steps", "(diffusion.steps is set by -diffusion-config)"},
		{"runs[0].task_config.noise", "(runs[0].task_config.noise is set by -task-config)"},
		{"runs[0].mystery", ""},
		{"", ""},
	} {
		err := withSettingFlag(&runs.DiffError{Diff: "d", Path: c.path})
		if got, _ := strings.CutPrefix(err.Error(), "d"); strings.TrimSpace(got) != c.want {
			t.Errorf("%q: %q, want %q", c.path, err, c.want)
		}
		if !errors.As(err, new(*runs.DiffError)) {
			t.Errorf("%q: the error no longer wraps the DiffError", c.path)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	rep := func(steps string) []string {
		return append([]string{"reproduce", imageFolder(t, 1), "-task", "sr:factor=2", "-methods", "dps", "-steps", steps, "-quiet", "-out", out}, fixtureModel(t, "fixed")...)
	}
	if code := run(rep("2"), new(strings.Builder), new(strings.Builder)); code != 0 {
		t.Fatalf("first run: exit %d", code)
	}
	var stderr strings.Builder
	if code := run(rep("3"), new(strings.Builder), &stderr); code != 1 || !strings.Contains(stderr.String(), "(runs[0].respacing is set by -steps or -respacing)") {
		t.Errorf("rerun with -steps 3: exit %d, %q; want the flags named", code, stderr.String())
	}
}
