package restore

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReproductionSettings checks reproduce.json: it records each run's
// method in canonical form with its revision, a rerun with the same
// settings (in another spelling) is accepted, and a folder made by an
// earlier revision of a method, or with other options, is refused with a
// message naming the setting and both values.
func TestReproductionSettings(t *testing.T) {
	b, prior := shippedPrior(t)
	out := t.TempDir()
	repro := func(method string) *Reproduction {
		return &Reproduction{Out: out, Backend: b, Prior: prior, Options: Options{Steps: 4},
			Tasks: []TaskSetup{{Task: SpecTask("inpaint_box:size=12")}}, Methods: []string{method},
			Images: []string{"a.png"}, Seed: 1}
	}
	check := func(method string) error {
		r := repro(method)
		rs, err := r.restorers()
		if err != nil {
			t.Fatal(err)
		}
		return r.checkSettings(rs)
	}
	if err := check("tmpd:probes=4, diagonal=hutchinson"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(out, SettingsFile)
	var doc map[string]any
	if err := json.Unmarshal([]byte(readText(t, path)), &doc); err != nil {
		t.Fatal(err)
	}
	run := doc["runs"].([]any)[0].(map[string]any)
	if run["method"] != "tmpd:diagonal=hutchinson,probes=4" || run["method_revision"] != 2.0 {
		t.Fatalf("recorded method %v, revision %v; want the canonical spec and revision 2", run["method"], run["method_revision"])
	}
	if err := check("tmpd:diagonal=hutchinson,probes=4"); err != nil {
		t.Errorf("the same method in canonical spelling: %v", err)
	}
	err := check("tmpd:diagonal=hutchinson,probes=8")
	if err == nil || !strings.Contains(err.Error(), `runs[0].method: was "tmpd:diagonal=hutchinson,probes=4", now "tmpd:diagonal=hutchinson,probes=8"`) {
		t.Errorf("other options: error %v", err)
	}

	// A folder started before tmpd's revision 2 recorded no revision.
	delete(run, "method_revision")
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	err = check("tmpd:diagonal=hutchinson,probes=4")
	if err == nil || !strings.Contains(err.Error(), "runs[0].method_revision: was absent, now 2") {
		t.Errorf("an earlier revision: error %v", err)
	}
}

func readText(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
