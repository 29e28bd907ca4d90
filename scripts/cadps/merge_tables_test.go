package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/metrics/fid"
)

// TestMergeTables merges the folders of two shards with -fid and
// -paper-table: the FID and papers' tables it prints are the ones the same
// reproduction run whole prints, and a bad -fid-dims is refused.
func TestMergeTables(t *testing.T) {
	dir := t.TempDir()
	stem := writeWeights(t, filepath.Join(dir, "stem.safetensors"), 1.3, fid.Params(0))
	tables := []string{"-fid", stem, "-fid-dims", "64", "-paper-table"}
	reproduce := func(out string, extra ...string) string {
		args := append([]string{smallImages, "-limit", "3", "-task", "inpaint_box:size=12", "-methods", "cadps,dps",
			"-steps", "2", "-seed", "1", "-grid-rows", "0", "-quiet", "-out", filepath.Join(dir, out)}, extra...)
		stdout, stderr, err := runCmd(runReproduce, args...)
		if err != nil {
			t.Fatalf("reproduce %v: %v\n%s", extra, err, stderr)
		}
		return stdout
	}
	whole := reproduce("whole", tables...)
	reproduce("a", "-shard", "0/2")
	reproduce("b", "-shard", "1/2")
	merged, stderr, err := runCmd(runMerge, append([]string{"-quiet", filepath.Join(dir, "a"), filepath.Join(dir, "b")}, tables...)...)
	if err != nil {
		t.Fatalf("merge: %v\n%s", err, stderr)
	}
	for _, want := range []string{"FID (64-d)", "| inpaint_box_size=12 | dps | 3 |", "cadps LPIPS ↓", "| inpaint_box_size=12 | 3 | – |"} {
		if !strings.Contains(merged, want) {
			t.Errorf("merge printed no %q:\n%s", want, merged)
		}
	}
	if merged != whole {
		t.Errorf("merge printed\n%s\nthe whole run\n%s", merged, whole)
	}
	_, _, err = runCmd(runMerge, "-fid", stem, "-fid-dims", "100", filepath.Join(dir, "a"))
	if err == nil || !strings.Contains(err.Error(), "-fid-dims 100") {
		t.Errorf("-fid-dims 100: error %v", err)
	}
}
