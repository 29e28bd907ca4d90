package runs

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs/claim"
	"github.com/cadps/toolkit/internal/randunet"
	"github.com/gomlx/gomlx/backends"
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
		return &Reproduction{Out: out, Backend: b, Prior: prior, Options: restore.Options{Steps: 4},
			Tasks: []TaskSetup{{Task: restore.SpecTask("inpaint_box:size=12")}}, Methods: []string{method},
			Images: []string{"a.png"}, Seed: 1}
	}
	check := func(method string) error {
		r := repro(method)
		rs, err := r.restorers()
		if err != nil {
			t.Fatal(err)
		}
		return r.checkSettings(rs, r.claimer())
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

// TestReproductionSettingsClass checks that reproduce.json records the
// class label of a class-conditional prior, and that resuming its folder
// with another label is refused, naming both, rather than mixing the
// labels' reconstructions in one folder.
func TestReproductionSettingsClass(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	config, weights, err := randunet.Write(t.TempDir(), "tiny", randunet.Tiny(4), 3)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	check := func(label int) error {
		t.Helper()
		prior, err := restore.LoadPrior(restore.ModelSpec{ConfigPath: config, Weights: weights})
		if err != nil {
			t.Fatal(err)
		}
		prior.Class = &label
		r := &Reproduction{Out: out, Backend: b, Prior: prior, Options: restore.Options{Steps: 2},
			Tasks: []TaskSetup{{Task: restore.SpecTask("super_resolution:factor=2")}}, Methods: []string{"dps"},
			Images: []string{"a.png"}, Seed: 1}
		rs, err := r.restorers()
		if err != nil {
			t.Fatal(err)
		}
		return r.checkSettings(rs, r.claimer())
	}
	if err := check(1); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Runs []restore.Settings `json:"runs"`
	}
	if err := json.Unmarshal([]byte(readText(t, filepath.Join(out, SettingsFile))), &doc); err != nil {
		t.Fatal(err)
	}
	if c := doc.Runs[0].Class; c == nil || *c != 1 {
		t.Errorf("%s records class %v, want 1", SettingsFile, c)
	}
	if err := check(1); err != nil {
		t.Errorf("the same label: %v", err)
	}
	if err := check(2); err == nil || !strings.Contains(err.Error(), "runs[0].class: was 1, now 2") {
		t.Errorf("another label: error %v, want one naming runs[0].class, 1 and 2", err)
	}
}

// TestReproductionSettingsRace starts workers with two different settings
// into one fresh folder at once, many times: the workers of exactly one
// setting go on, the others are refused, and reproduce.json holds the
// winners' settings.
func TestReproductionSettingsRace(t *testing.T) {
	b, prior := shippedPrior(t)
	const workers, rounds = 8, 20
	for round := range rounds {
		out := t.TempDir()
		checks := make([]func() error, workers)
		for w := range workers {
			r := &Reproduction{Out: out, Backend: b, Prior: prior, Options: restore.Options{Steps: 4 + w%2},
				Tasks: []TaskSetup{{Task: restore.SpecTask("sr:factor=2")}}, Methods: []string{"dps"}, Images: []string{"a.png"}, Seed: 1}
			rs, err := r.restorers()
			if err != nil {
				t.Fatal(err)
			}
			checks[w] = func() error { return r.checkSettings(rs, r.claimer()) }
		}
		start := make(chan struct{})
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				<-start
				errs[w] = checks[w]()
			})
		}
		close(start)
		wg.Wait()
		var doc map[string]any
		if err := json.Unmarshal([]byte(readText(t, filepath.Join(out, SettingsFile))), &doc); err != nil {
			t.Fatal(err)
		}
		steps := int(doc["runs"].([]any)[0].(map[string]any)["steps"].(float64))
		for w, err := range errs {
			switch won := 4+w%2 == steps; {
			case won && err != nil:
				t.Fatalf("round %d: worker %d with the recorded settings was refused: %v", round, w, err)
			case !won && err == nil:
				t.Fatalf("round %d: worker %d with %d steps went on, reproduce.json says %d", round, w, 4+w%2, steps)
			case !won && !strings.Contains(err.Error(), "other settings"):
				t.Fatalf("round %d: worker %d: error %v", round, w, err)
			}
		}
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

func TestItemsAndShards(t *testing.T) {
	r := &Reproduction{
		Tasks:   []TaskSetup{{Task: restore.SpecTask("sr:factor=4")}, {Task: restore.SpecTask("gaussian_blur")}},
		Methods: []string{"dps", "cadps"},
		Images:  []string{"d.png", "a.png", "c.png", "b.png"},
	}
	items := r.Items()
	if len(items) != 16 {
		t.Fatalf("%d items, want 16", len(items))
	}
	if first := items[0]; first.Image != "a.png" || first.Task != "gaussian_blur" || first.Method != "cadps" || first.Unit != 0 {
		t.Errorf("first item %+v", first)
	}
	for _, n := range []int{2, 3, 4} {
		perShard := make([]map[string]int, n)
		unitShard := map[int]int{}
		for i := range n {
			perShard[i] = map[string]int{}
			for _, it := range items {
				if !(Shard{Index: i, Count: n}).Owns(it.Unit) {
					continue
				}
				perShard[i][it.Method]++
				if s, ok := unitShard[it.Unit]; ok && s != i {
					t.Errorf("%d shards: unit %d is in shards %d and %d", n, it.Unit, s, i)
				}
				unitShard[it.Unit] = i
			}
		}
		total := 0
		for i, m := range perShard {
			// Every shard runs both methods of its units.
			if m["dps"] != m["cadps"] {
				t.Errorf("%d shards: shard %d runs %v", n, i, m)
			}
			total += m["dps"] + m["cadps"]
		}
		if total != 16 || len(unitShard) != 8 {
			t.Errorf("%d shards own %d items of %d units, want 16 of 8", n, total, len(unitShard))
		}
	}
}

// shippedPrior returns the pure-Go backend and the shipped small prior.
func shippedPrior(t *testing.T) (backends.Backend, *restore.Prior) {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	prior, err := restore.LoadPrior(restore.ModelSpec{Name: restore.SmallPriorName})
	if err != nil {
		t.Fatal(err)
	}
	return b, prior
}

// testImage returns a smooth c-channel size×size image.
func testImage(c, size int, phase float64) *imageio.Image {
	im, _ := imageio.New(c, size, size)
	for ch := range c {
		for y := range size {
			for x := range size {
				v := 0.5 + 0.4*math.Sin(float64(x)/3+phase+float64(ch))*math.Cos(float64(y)/4-phase)
				im.Set(ch, y, x, float32(v))
			}
		}
	}
	return im
}

// TestReproductionSettingsExtendRace extends a folder of one image with
// workers at once, half to two images and half to three (as -limit 2 and
// -limit 3 do): every worker goes on, and reproduce.json ends with the
// longest list, whichever worker wrote last.
func TestReproductionSettingsExtendRace(t *testing.T) {
	b, prior := shippedPrior(t)
	const workers, rounds = 8, 20
	repro := func(out string, images ...string) *Reproduction {
		return &Reproduction{Out: out, Backend: b, Prior: prior, Options: restore.Options{Steps: 4},
			Tasks: []TaskSetup{{Task: restore.SpecTask("sr:factor=2")}}, Methods: []string{"dps"}, Images: images, Seed: 1}
	}
	check := func(r *Reproduction) error {
		rs, err := r.restorers()
		if err != nil {
			t.Fatal(err)
		}
		return r.checkSettings(rs, r.claimer())
	}
	for round := range rounds {
		out := t.TempDir()
		if err := check(repro(out, "a.png")); err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			r := repro(out, []string{"a.png", "b.png", "c.png"}[:2+w%2]...)
			wg.Go(func() {
				<-start
				errs[w] = check(r)
			})
		}
		close(start)
		wg.Wait()
		for w, err := range errs {
			if err != nil {
				t.Fatalf("round %d: worker %d: %v", round, w, err)
			}
		}
		var doc struct{ Images []string }
		if err := json.Unmarshal([]byte(readText(t, filepath.Join(out, SettingsFile))), &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Images) != 3 {
			t.Fatalf("round %d: reproduce.json lists %v, want the three images", round, doc.Images)
		}
	}
}

// TestReproductionSettingsStuckHolder: a worker that holds reproduce.json
// and never lets go (alive, refreshing its claim) makes another worker say
// whom it waits for and give up after two leases, naming the holder.
func TestReproductionSettingsStuckHolder(t *testing.T) {
	b, prior := shippedPrior(t)
	out := t.TempDir()
	stuck, err := (&claim.Claimer{Lease: time.Second, Worker: "the stuck worker"}).Claim(filepath.Join(out, SettingsFile+".claim"))
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Release()
	var log strings.Builder
	r := &Reproduction{Out: out, Backend: b, Prior: prior, Options: restore.Options{Steps: 4}, Log: &log,
		Tasks: []TaskSetup{{Task: restore.SpecTask("sr:factor=2")}}, Methods: []string{"dps"}, Images: []string{"a.png"}, Seed: 1,
		Claims: &claim.Claimer{Lease: 2 * time.Second}} // eight of the holder's heartbeats: it stays live under load
	rs, err := r.restorers()
	if err != nil {
		t.Fatal(err)
	}
	err = r.checkSettings(rs, r.claimer())
	if err == nil || !strings.Contains(err.Error(), "(two leases)") || !strings.Contains(err.Error(), "the stuck worker") {
		t.Errorf("error %v, want one giving up after two leases and naming the stuck worker", err)
	}
	if !strings.Contains(log.String(), "waiting for "+filepath.Join(out, SettingsFile)) || !strings.Contains(log.String(), "the stuck worker") {
		t.Errorf("log %q, want a line naming what it waits for and the holder", log.String())
	}
	if _, err := os.Stat(filepath.Join(out, SettingsFile)); err == nil {
		t.Error("reproduce.json was written without the claim")
	}
}
