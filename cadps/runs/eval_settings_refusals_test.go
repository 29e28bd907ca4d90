package runs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// cliFlag matches a command-line flag (-name or --name) in a message: the
// package's messages name the inputs of its Go API instead.
var cliFlag = regexp.MustCompile(`(^|[\s(,;])--?[a-z]`)

// TestEvalSettingsRefusals checks the refusals of a folder made with other
// settings, in words that name no command-line flag (a Go caller has
// none).
func TestEvalSettingsRefusals(t *testing.T) {
	old := EvalSettings{Data: "d", Count: 3, Batch: 2, Tasks: []string{"sr:factor=4", "inpaint_box"}, Methods: []string{"dps", "cadps"},
		Steps: 10, Noise: "gaussian", Seed: 1, Model: "m", Digest: "sha256:x"}
	for _, c := range []struct {
		name string
		edit func(*EvalSettings)
		want string // the message after the path
	}{
		{"fewer images", func(s *EvalSettings) { s.Count = 2 },
			" was made with other settings (the image count 2 is fewer than the 3 the folder was set up for, and may only grow); use another output folder"},
		{"more images after a partial batch", func(s *EvalSettings) { s.Count = 4 },
			" was made with other settings (the image count can grow only from a whole number of batches; 3 is not a multiple of the batch size 2); use another output folder"},
		{"tasks reordered", func(s *EvalSettings) { s.Tasks = []string{"inpaint_box", "sr:factor=4"} },
			` was made with other settings (the tasks must keep "sr:factor=4;inpaint_box" and may only add tasks after them); use another output folder`},
		{"method dropped", func(s *EvalSettings) { s.Methods = []string{"dps"} },
			` was made with other settings (the methods must keep "dps,cadps" and may only add methods after them); use another output folder`},
		{"other seed", func(s *EvalSettings) { s.Seed = 7 },
			" was made with other settings (seed: was 1, now 7); use another output folder"},
		{"other weights", func(s *EvalSettings) { s.Digest = "sha256:y" },
			" was made with other weights (sha256:x; these are sha256:y); use another output folder"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), EvalSettingsFile)
			data, err := json.Marshal(old)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			st := old
			c.edit(&st)
			_, err = CheckEvalSettings(path, st)
			if got := err.Error(); got != path+c.want {
				t.Errorf("error %q, want %q", got, path+c.want)
			}
			if f := cliFlag.FindString(err.Error()); f != "" {
				t.Errorf("error %q names a command-line flag (%q)", err, f)
			}
		})
	}
}
