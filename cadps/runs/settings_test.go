package runs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/restore"
)

func TestCompareSettings(t *testing.T) {
	mismatch := func(k int, old, now any) error { return fmt.Errorf("image %d was %v, now %v", k, old, now) }
	growing, prefix := GrowingList("images", mismatch), PrefixList("images", mismatch)
	doc := func(seed int, imgs ...string) map[string]any {
		m, err := Decode(struct {
			Seed   int      `json:"seed"`
			Images []string `json:"images"`
		}{seed, imgs})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		old, now map[string]any
		growth   Growth
		changed  bool
		err      string
	}{
		{"equal", doc(1, "a", "b"), doc(1, "a", "b"), growing, false, ""},
		{"grown", doc(1, "a"), doc(1, "a", "b"), growing, true, ""},
		{"shrunk", doc(1, "a", "b"), doc(1, "a"), growing, false, "image 1 was b, now <nil>"},
		{"prefix", doc(1, "a", "b"), doc(1, "a"), prefix, false, ""},
		{"prefix grown", doc(1, "a"), doc(1, "a", "b"), prefix, true, ""},
		{"changed element", doc(1, "a", "b"), doc(1, "a", "c"), prefix, false, "image 1 was b, now c"},
		{"other setting", doc(1, "a"), doc(2, "a"), prefix, false, "seed: was 1, now 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed, err := CompareSettings(tc.old, tc.now, tc.growth)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || changed != tc.changed {
				t.Fatalf("changed %v, %v; want %v", changed, err, tc.changed)
			}
		})
	}
}

// TestRepeatsRefused checks that a reproduction or an evaluation given the
// same method twice (in any spelling) or the same task twice is refused
// before any work, naming the repeat, and that nothing is written.
func TestRepeatsRefused(t *testing.T) {
	b, prior := shippedPrior(t)
	for _, tc := range []struct {
		name           string
		tasks, methods []string
		want           string
	}{
		{"method twice", []string{"inpaint_box:size=12"}, []string{"dps", "cadps", "dps"}, "method dps is given twice"},
		{"method in another spelling", []string{"inpaint_box:size=12"}, []string{"tmpd:diagonal=hutchinson,probes=2", "tmpd: probes=2,diagonal=hutchinson"},
			"method tmpd: probes=2,diagonal=hutchinson is tmpd:diagonal=hutchinson,probes=2 again"},
		{"task twice", []string{"sr:factor=2", "sr:factor=2"}, []string{"dps"}, "is given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var setups []TaskSetup
			for _, task := range tc.tasks {
				setups = append(setups, TaskSetup{Task: restore.SpecTask(task)})
			}
			repro := &Reproduction{Out: filepath.Join(dir, "repro"), Backend: b, Prior: prior, Options: restore.Options{Steps: 2},
				Tasks: setups, Methods: tc.methods, Images: []string{"../prior/small/testimages/9-boot.png"}, Seed: 1}
			_, err := repro.Run()
			checkRefused(t, "reproduction", err, tc.want, repro.Out)
			ev := &Evaluation{Out: filepath.Join(dir, "eval"), Prior: prior, Jobs: 1,
				Images:   testSetImages(t, "../prior/small/testimages", 1, prior.ImageShape()),
				Settings: EvalSettings{Count: 1, Batch: 1, Tasks: tc.tasks, Methods: tc.methods, Steps: 2}}
			_, err = ev.Run()
			checkRefused(t, "evaluation", err, tc.want, ev.Out)
		})
	}
}

// checkRefused reports an error of run that does not contain want, or an output
// folder out that was created.
func checkRefused(t *testing.T, run string, err error, want, out string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: error %v, want one containing %q", run, err, want)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s: %s was created (%v)", run, out, err)
	}
}
