package guidance_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cadps/toolkit/internal/fixtures"
)

// TestReferenceExactEntry replays copies of the DDRM and DiffPIR fixtures
// whose "exact" entry lists a quantity the replay cannot reproduce, or an
// input it does not inject, through TestReference in a subprocess: each
// subtest must fail naming it, as the entry is checked rather than
// acknowledged.
func TestReferenceExactEntry(t *testing.T) {
	root := t.TempDir()
	want := map[string]string{}
	for _, c := range []struct {
		kind, add, says string
	}{
		{"ddrm-trajectory", "t_prev equal", `"t_prev" as equal, and the replay has no value of it`},
		{"diffpir-trajectory", "y_clean are inputs (inject them)", `"y_clean" as an input, and the replay did not inject it`},
	} {
		f := fixtures.OfKind(t, c.kind, nil)[0]
		model, err := f.Path("model")
		if err != nil {
			t.Fatal(err)
		}
		// The network's folder, copied first, also holds the config.json
		// Model reads.
		modelDir := filepath.Join(root, filepath.Base(f.Dir), filepath.Dir(f.Files["model"]))
		if _, err := os.Stat(modelDir); err != nil {
			if err := os.CopyFS(modelDir, os.DirFS(filepath.Dir(model))); err != nil {
				t.Fatal(err)
			}
		}
		dir := f.Copy(t, root)
		fixtures.EditJSON(t, filepath.Join(dir, "fixture.json"), func(obj map[string]any) {
			tol := obj["tolerance"].(map[string]any)
			tol["exact"] = tol["exact"].(string) + "; " + c.add
		})
		want[filepath.Base(dir)] = c.says
	}
	fixtures.ReplayMalformed(t, root, want)
}
