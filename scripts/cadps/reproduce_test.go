package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/runs"
)

// imageFolder writes n test images into a new folder.
func imageFolder(t *testing.T, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "images")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		writeTestImage(t, filepath.Join(dir, fmt.Sprintf("img%02d.png", i)), 16, float64(i))
	}
	return dir
}

// readCSV returns the rows of the CSV file at path, header first.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// reproduceArgs are the arguments of a small reproduction: images × one
// super-resolution task × methods, 2 steps on the 16×16 fixture model.
func reproduceArgs(t *testing.T, images, out string, methods string, extra ...string) []string {
	args := append([]string{images, "-task", "super_resolution:factor=2", "-methods", methods, "-steps", "2", "-seed", "3", "-out", out},
		fixtureModel(t, "fixed")...)
	return append(args, extra...)
}

func TestReproduceShardsAndResume(t *testing.T) {
	images := imageFolder(t, 3)
	root := t.TempDir()
	whole := filepath.Join(root, "whole")
	stdout, stderr, err := runCmd(runReproduce, reproduceArgs(t, images, whole, "dps,cadps")...)
	if err != nil {
		t.Fatalf("reproduce: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "6 run now (0 failed), 0 finished before") {
		t.Errorf("stdout:\n%s", stdout)
	}
	// The reference layout, one file per item and folder.
	for _, m := range []string{"dps", "cadps"} {
		for _, folder := range []string{runs.InputDir, runs.ReconDir, runs.ProgressDir, runs.LabelDir, runs.RecordDir} {
			entries, err := os.ReadDir(filepath.Join(whole, "super_resolution_factor=2", m, folder))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			ext := ".png"
			if folder == runs.RecordDir {
				ext = ".json"
			}
			if want := []string{"00000" + ext, "00001" + ext, "00002" + ext}; !slices.Equal(names, want) {
				t.Errorf("%s/%s holds %v, want %v", m, folder, names, want)
			}
		}
	}
	rows := readCSV(t, filepath.Join(whole, runs.CSVFile))
	if len(rows) != 7 || rows[0][0] != "task" {
		t.Fatalf("metrics.csv has %d rows, want a header and 6", len(rows))
	}
	table := readFile(t, filepath.Join(whole, runs.TableFile))
	for _, m := range []string{"| super_resolution_factor=2 | cadps | 3 |", "| super_resolution_factor=2 | dps | 3 |"} {
		if !strings.Contains(table, m) {
			t.Errorf("table lacks %q:\n%s", m, table)
		}
	}
	grid, err := imageio.Load(filepath.Join(whole, runs.GridFile("super_resolution_factor=2")))
	if err != nil {
		t.Fatal(err)
	}
	// Rows: 3 images; columns: measurement, cadps, dps, truth; 16-pixel
	// cells with 2-pixel padding.
	if grid.H != 3*16+4*2 || grid.W != 4*16+5*2 {
		t.Errorf("grid is %s, want 74×56", grid.Size())
	}
	// The same seed gives every method the same measurement.
	a := readFile(t, filepath.Join(whole, "super_resolution_factor=2", "dps", runs.InputDir, "00001.png"))
	b := readFile(t, filepath.Join(whole, "super_resolution_factor=2", "cadps", runs.InputDir, "00001.png"))
	if a != b {
		t.Error("dps and cadps saw different measurements of image 1")
	}

	t.Run("rerun skips finished items", func(t *testing.T) {
		rec := filepath.Join(whole, "super_resolution_factor=2", "dps", runs.RecordDir, "00000.json")
		before := readFile(t, rec)
		stdout, _, err := runCmd(runReproduce, reproduceArgs(t, images, whole, "dps,cadps")...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stdout, "0 run now (0 failed), 6 finished before") {
			t.Errorf("stdout:\n%s", stdout)
		}
		if readFile(t, rec) != before {
			t.Error("a finished item's record was rewritten")
		}
		// Fewer images (a prefix of the list) are the same reproduction.
		stdout, _, err = runCmd(runReproduce, reproduceArgs(t, images, whole, "dps,cadps", "-limit", "2")...)
		if err != nil || !strings.Contains(stdout, "0 run now (0 failed), 4 finished before") {
			t.Errorf("-limit 2: %v\n%s", err, stdout)
		}
	})

	t.Run("other settings are refused", func(t *testing.T) {
		_, _, err := runCmd(runReproduce, reproduceArgs(t, images, whole, "dps,cadps", "-steps", "3")...)
		if err == nil || !strings.Contains(err.Error(), "other settings (runs[0].respacing: was ") {
			t.Errorf("error %v, want a refusal naming the runs", err)
		}
	})

	t.Run("other weights under the same name are refused", func(t *testing.T) {
		args := reproduceArgs(t, images, whole, "dps,cadps")
		src := args[len(args)-1]
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)-1] ^= 1 // the last byte of the last tensor
		changed := filepath.Join(t.TempDir(), filepath.Base(src))
		if err := os.WriteFile(changed, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err = runCmd(runReproduce, append(args, "-weights", changed)...)
		if err == nil || !strings.Contains(err.Error(), "other settings (weights_sha256: was ") {
			t.Errorf("error %v, want a refusal naming the weights' digest", err)
		}
	})

	t.Run("other images are refused", func(t *testing.T) {
		other := imageFolder(t, 3)
		if err := os.Rename(filepath.Join(other, "img00.png"), filepath.Join(other, "img00b.png")); err != nil {
			t.Fatal(err)
		}
		_, _, err := runCmd(runReproduce, reproduceArgs(t, other, whole, "dps,cadps")...)
		if err == nil || !strings.Contains(err.Error(), "other images (image 0 was img00.png, now img00b.png)") {
			t.Errorf("error %v, want a refusal naming image 0", err)
		}
	})

	t.Run("shards merged equal the whole run", func(t *testing.T) {
		var dirs []string
		owned := 0
		for i := range 3 {
			dir := filepath.Join(root, fmt.Sprintf("shard%d", i))
			stdout, stderr, err := runCmd(runReproduce, reproduceArgs(t, images, dir, "dps,cadps", "-shard", fmt.Sprintf("%d/3", i))...)
			if err != nil {
				t.Fatalf("shard %d: %v\n%s", i, err, stderr)
			}
			var n int
			if _, err := fmt.Sscanf(stdout[strings.Index(stdout, "shard "):], "shard %d/3: %d of 6 items", new(int), &n); err != nil {
				t.Fatalf("shard %d stdout %q: %v", i, stdout, err)
			}
			owned += n
			dirs = append(dirs, dir)
		}
		if owned != 6 {
			t.Errorf("the shards own %d items, want 6", owned)
		}
		merged := filepath.Join(root, "merged")
		if _, stderr, err := runCmd(runMerge, append([]string{"-out", merged}, dirs...)...); err != nil {
			t.Fatalf("merge: %v\n%s", err, stderr)
		}
		if got, want := readFile(t, filepath.Join(merged, runs.TableFile)), table; got != want {
			t.Errorf("merged table:\n%s\nwhole run's:\n%s", got, want)
		}
		got, want := readCSV(t, filepath.Join(merged, runs.CSVFile)), readCSV(t, filepath.Join(whole, runs.CSVFile))
		if len(got) != len(want) {
			t.Fatalf("merged CSV has %d rows, whole run's %d", len(got), len(want))
		}
		for i := range got {
			// Every column but the seconds (column 7) is the same.
			g, w := slices.Delete(slices.Clone(got[i]), 7, 8), slices.Delete(slices.Clone(want[i]), 7, 8)
			if !slices.Equal(g, w) {
				t.Errorf("CSV row %d: merged %v, whole %v", i, g, w)
			}
		}
		if _, err := imageio.Load(filepath.Join(merged, runs.GridFile("super_resolution_factor=2"))); err != nil {
			t.Error(err)
		}
	})
}

func TestReproduceDivergedItemsAreRecorded(t *testing.T) {
	images := imageFolder(t, 2)
	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, err := runCmd(runReproduce, reproduceArgs(t, images, out, "dps", "-scale", "1e38")...)
	if err != nil {
		t.Fatalf("reproduce: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "2 run now (2 failed)") || !strings.Contains(stdout, "sampling diverged") {
		t.Errorf("stdout:\n%s", stdout)
	}
	rows := readCSV(t, filepath.Join(out, runs.CSVFile))
	if len(rows) != 3 || rows[1][4] != runs.StatusFailed || !strings.Contains(rows[1][13], "sampling diverged") {
		t.Errorf("CSV %v", rows)
	}
	if table := readFile(t, filepath.Join(out, runs.TableFile)); !strings.Contains(table, "| dps | 0 | – | – | 2 |") {
		t.Errorf("table:\n%s", table)
	}
}

// killEnv names the environment variable that makes
// TestReproduceHelperProcess run a reproduction into its value.
const killEnv = "CADPS_TEST_REPRODUCE_OUT"

// TestReproduceHelperProcess is the reproduction that
// TestReproduceSurvivesKill runs as a subprocess and kills.
func TestReproduceHelperProcess(t *testing.T) {
	out := os.Getenv(killEnv)
	if out == "" {
		t.Skip("helper process for TestReproduceSurvivesKill")
	}
	if _, stderr, err := runCmd(runReproduce, reproduceArgs(t, os.Getenv(killEnv+"_IMAGES"), out, "dps", "-steps", "6", "-lease", "2s")...); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
}

func TestReproduceSurvivesKill(t *testing.T) {
	images := imageFolder(t, 3)
	out := filepath.Join(t.TempDir(), "out")
	p := startHelper(t, "^TestReproduceHelperProcess$", killEnv+"="+out, killEnv+"_IMAGES="+images)
	records := filepath.Join(out, "super_resolution_factor=2", "dps", runs.RecordDir)
	p.waitUntil(t, "recording", func() bool {
		m, _ := filepath.Glob(filepath.Join(records, "*.json"))
		return len(m) > 0
	})
	p.cmd.Process.Kill() // SIGKILL; an error means it has ended already
	<-p.exited
	first := readFile(t, filepath.Join(records, "00000.json"))
	done, _ := filepath.Glob(filepath.Join(records, "*.json"))
	if len(done) == 3 {
		t.Log("the subprocess finished before it was killed; the rerun only checks resumption")
	}
	// Whatever the kill interrupted, every output present is whole.
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") || !strings.HasSuffix(p, ".png") {
			return err
		}
		if _, err := imageio.Load(p); err != nil {
			t.Errorf("after the kill: %v", err)
		}
		return nil
	})

	// The killed worker's claim on the item it was computing goes stale
	// after the lease, and the rerun takes the item over.
	stdout, stderr, err := runCmd(runReproduce, reproduceArgs(t, images, out, "dps", "-steps", "6", "-lease", "2s")...)
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, stderr)
	}
	want := fmt.Sprintf("%d run now (0 failed), %d finished before", 3-len(done), len(done))
	if !strings.Contains(stdout, want) {
		t.Errorf("rerun stdout %q, want %q", stdout, want)
	}
	if readFile(t, filepath.Join(records, "00000.json")) != first {
		t.Error("the rerun redid an item finished before the kill")
	}
	rows := readCSV(t, filepath.Join(out, runs.CSVFile))
	var keys []string
	for _, r := range rows[1:] {
		keys = append(keys, r[1]+"/"+r[2])
		if r[4] != runs.StatusOK {
			t.Errorf("row %v", r)
		}
	}
	if !slices.Equal(keys, []string{"dps/0", "dps/1", "dps/2"}) {
		t.Errorf("CSV items %v, want each of the 3 once", keys)
	}
	if tmp := tempFiles(t, out); len(tmp) > 0 {
		t.Errorf("temporary files left after the rerun: %v", tmp)
	}
	if claims, _ := filepath.Glob(filepath.Join(out, "*", "*", runs.ClaimDir, "*")); len(claims) > 0 {
		t.Errorf("claims left after the rerun: %v", claims)
	}
}

// TestReproduceReferenceConfigs runs the DPS repository's config files as
// they are written (PyYAML tags, conditioning method "ps", model_path).
func TestReproduceReferenceConfigs(t *testing.T) {
	images := imageFolder(t, 1)
	dir := t.TempDir()
	model := fixtureModel(t, "fixed")
	cfg := readFile(t, model[1])
	var kw struct {
		Kwargs map[string]any `json:"create_model_kwargs"`
	}
	if err := json.Unmarshal([]byte(cfg), &kw); err != nil {
		t.Fatal(err)
	}
	var modelYAML strings.Builder
	for k, v := range kw.Kwargs {
		if s, ok := v.(string); ok {
			v = fmt.Sprintf("%q", s)
		}
		fmt.Fprintf(&modelYAML, "%s: %v\n", k, v)
	}
	fmt.Fprintf(&modelYAML, "\nmodel_path: %s\n", model[3])
	files := map[string]string{
		"model_config.yaml": modelYAML.String(),
		"diffusion_config.yaml": `sampler: ddpm
steps: 1000
noise_schedule: linear
model_mean_type: epsilon 
model_var_type: fixed_large
dynamic_threshold: False
clip_denoised: True
rescale_timesteps: False
timestep_respacing: 2
`,
		"super_resolution_config.yaml": `conditioning:
  method: ps
  params:
    scale: 0.25

data:
  name: ffhq
  root: ` + images + `

measurement:
  operator:
    name: super_resolution
    in_shape: !!python/tuple [1, 3, 16, 16]
    scale_factor: 2
  
  noise: 
    name: gaussian
    sigma: 0.02
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	// No image folder: the config's data.root is used.
	stdout, stderr, err := runCmd(runReproduce, "-task-config", filepath.Join(dir, "super_resolution_config.yaml"),
		"-model-config", filepath.Join(dir, "model_config.yaml"), "-diffusion-config", filepath.Join(dir, "diffusion_config.yaml"), "-out", out)
	if err != nil {
		t.Fatalf("reproduce: %v\n%s%s", err, stdout, stderr)
	}
	rec, err := runs.ReadRecord(filepath.Join(out, "super_resolution", "dps", runs.RecordDir, "00000.json"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != runs.StatusOK || rec.Steps != 2 || rec.Scale != 0.25 || rec.SigmaY != 0.02 {
		t.Errorf("record %+v, want dps with 2 steps, ζ = 0.25 and σ_y = 0.02 from the configs", rec)
	}
}

// TestReproduceMissingImageFolder: an image folder that cannot be listed
// is named, and when it came from a task config's data.root the error
// names the config and says how to give another folder.
func TestReproduceMissingImageFolder(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "sr_config.yaml")
	gone := filepath.Join(dir, "data", "samples")
	text := "conditioning:\n  method: ps\ndata:\n  root: " + gone + "\nmeasurement:\n  operator:\n    name: super_resolution\n    scale_factor: 2\n"
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other")
	for _, c := range []struct {
		name     string
		args     []string
		want     string
		dataRoot bool // the error names the config's data.root
	}{
		{"data.root", []string{"-task-config", config}, "the image folder " + gone + " is the data.root of " + config + " (give the image folder as the argument to use another)", true},
		{"the folder given", []string{other, "-task-config", config}, other, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, "out")
			_, _, err := runCmd(runReproduce, append(c.args, "-out", out)...)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "data.root") != c.dataRoot {
				t.Errorf("error %v, want one containing %q (naming data.root: %v)", err, c.want, c.dataRoot)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("the refused run made %s", out)
			}
		})
	}
}

// TestReproduceRecordsDiffusionConfig reruns a reproduction into its
// folder with a -diffusion-config: one whose process is the model's own
// but for the respacing and sampler resumes the folder, one with another
// noise schedule is refused, naming it, instead of adding its items to
// those of the model's own process.
func TestReproduceRecordsDiffusionConfig(t *testing.T) {
	images := imageFolder(t, 1)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if _, stderr, err := runCmd(runReproduce, reproduceArgs(t, images, out, "dps")...); err != nil {
		t.Fatalf("reproduce: %v\n%s", err, stderr)
	}
	config := func(schedule string) string { return diffusionConfigFile(t, dir, schedule, "fixed_large") }
	for _, c := range []struct {
		schedule, wantErr string
	}{
		{"linear", ""},
		{"cosine", "diffusion"},
	} {
		_, _, err := runCmd(runReproduce, reproduceArgs(t, images, out, "dps", "-diffusion-config", config(c.schedule))...)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s schedule: %v, want the folder resumed", c.schedule, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s schedule: error %v, want one naming %q", c.schedule, err, c.wantErr)
		}
	}
}

// diffusionConfigFile writes a reference diffusion_config.yaml into dir:
// 1000 DDPM steps of the noise schedule, ε prediction, the variance type,
// clipped x̂0 and a respacing of 250, which -steps overrides.
func diffusionConfigFile(t *testing.T, dir, schedule, varType string) string {
	t.Helper()
	path := filepath.Join(dir, schedule+"-"+varType+".yaml")
	text := "sampler: ddpm\nsteps: 1000\nnoise_schedule: " + schedule + "\nmodel_mean_type: epsilon\n" +
		"model_var_type: " + varType + "\nclip_denoised: True\nrescale_timesteps: False\ntimestep_respacing: 250\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReproduceRecordsBackendConfig checks that each item's record names
// GOMLX_BACKEND as its run saw it, and that a rerun with another backend
// configuration resumes the folder, its new item naming its own.
func TestReproduceRecordsBackendConfig(t *testing.T) {
	images := imageFolder(t, 2)
	out := filepath.Join(t.TempDir(), "out")
	for _, c := range []struct {
		config string
		extra  []string
	}{
		{backend.Name + ":parallelism=2", []string{"-limit", "1"}},
		{backend.Name + ":parallelism=1", nil},
	} {
		t.Setenv(backend.EnvVar, c.config)
		if _, stderr, err := runCmd(runReproduce, reproduceArgs(t, images, out, "dps", c.extra...)...); err != nil {
			t.Fatalf("reproduce with %s=%s: %v\n%s", backend.EnvVar, c.config, err, stderr)
		}
	}
	for i, want := range []string{backend.Name + ":parallelism=2", backend.Name + ":parallelism=1"} {
		rec, err := runs.ReadRecord(filepath.Join(out, "super_resolution_factor=2", "dps", runs.RecordDir, fmt.Sprintf("%05d.json", i)))
		if err != nil {
			t.Fatal(err)
		}
		if rec.BackendConfig != want {
			t.Errorf("item %d: backend_config %q, want %q", i, rec.BackendConfig, want)
		}
	}
}
