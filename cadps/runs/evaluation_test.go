package runs

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs/claim"
	"github.com/cadps/toolkit/cadps/train"
	"github.com/cadps/toolkit/ops"
)

// TestEvaluationResumesEarlierLayout resumes testdata/evaluate-v1, written
// by cadps evaluate before evaluations moved into this package and before
// rows recorded the backend and the build (see its README), with one
// batch's row removed: only that batch runs, its row comes back with the
// same numbers and names the backend, its configuration and the build,
// the other rows are rewritten with these empty, table.md counts the rows
// of each, and settings.json is kept as it was.
func TestEvaluationResumesEarlierLayout(t *testing.T) {
	out := filepath.Join(t.TempDir(), "v1")
	if err := os.CopyFS(out, os.DirFS("testdata/evaluate-v1")); err != nil {
		t.Fatal(err)
	}
	results := filepath.Join(out, EvalResultsFile)
	want := strings.Split(strings.TrimSpace(readText(t, results)), "\n")
	settings := readText(t, filepath.Join(out, EvalSettingsFile))
	var kept []string
	for _, line := range want {
		if !strings.HasPrefix(line, "inpaint_box:size=12,cadps,1,") {
			kept = append(kept, line)
		}
	}
	if len(kept) != len(want)-1 {
		t.Fatalf("the fixture has no row of cadps's batch 1:\n%s", strings.Join(want, "\n"))
	}
	if err := os.WriteFile(results, []byte(strings.Join(kept, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	_, prior := shippedPrior(t)
	digest, noise := evalSetup(t, prior)
	var log bytes.Buffer
	ev := &Evaluation{
		Out: out, Noise: noise, Prior: prior, PriorSpec: restore.ModelSpec{Name: restore.SmallPriorName}, Jobs: 1, Log: &log,
		// The CPU backend's default, named: the redone row's numbers are
		// those of the fixture's.
		BackendConfig: "cadps:ops_sequential", Toolkit: "0123abc",
		Images: testSetImages(t, "../prior/small/testimages", 2, prior.ImageShape()),
		Settings: EvalSettings{Data: "cadps/prior/small/testimages", Count: 2, Batch: 1, Tasks: []string{"inpaint_box:size=12"},
			Methods: []string{"dps", "cadps"}, Steps: 2, Noise: "gaussian:sigma=0.05", Model: "small", Digest: digest, Keep: 1},
	}
	if _, err := ev.Run(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), "\n"); n != 1 || !strings.Contains(log.String(), "cadps  batch 2/2") {
		t.Errorf("the resumed run did\n%s\nwant cadps's batch 2 alone", log.String())
	}
	if got := readText(t, filepath.Join(out, EvalSettingsFile)); got != settings {
		t.Errorf("settings.json changed:\n%s\nwas\n%s", got, settings)
	}
	got, err := csv.NewReader(strings.NewReader(readText(t, results))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("results.csv has %d lines, the folder had %d:\n%v", len(got), len(want), got)
	}
	if !slices.Equal(got[0], evalHeader) {
		t.Errorf("results.csv's header is %q, want %q", got[0], evalHeader)
	}
	for k, line := range want[1:] {
		w, err := csv.NewReader(strings.NewReader(line)).Read()
		if err != nil {
			t.Fatal(err)
		}
		// The redone row's time per image (column 9) and finishing time
		// (11) are its own; every other value is the same. It names the
		// backend and the build, and describes its operator by its spec
		// (the fixture's rows by their mask's size and missing fraction);
		// the rows kept name none.
		g := got[k+1]
		w = append(w, "", "", "")
		if strings.HasPrefix(line, "inpaint_box:size=12,cadps,1,") && len(g) == len(w) {
			g[8], w[8], g[10], w[10] = "", "", "", ""
			w[9] = "inpainting:mask_type=box,size=12,margin=2,seed=1"
			w[14], w[15], w[16] = "cadps", "cadps:ops_sequential", "0123abc"
		}
		if !slices.Equal(g, w) {
			t.Errorf("results.csv line %d is\n%q\nwant\n%q", k+2, g, w)
		}
	}
	const sources = "\nRows from 2 backends or builds (results.csv's backend, backend_config and toolkit): " +
		"not recorded: 3 rows; `cadps`, GOMLX_BACKEND=`cadps:ops_sequential`, build `0123abc`: 1 row.\n"
	if table := readText(t, filepath.Join(out, EvalTableFile)); !strings.Contains(table, sources) {
		t.Errorf("table.md\n%s\nlacks the line%s", table, sources)
	}
}

// TestEvaluationClaim runs an evaluation into a folder that another
// evaluation holds (refused before anything is written, naming the
// holder), that a killed one held (taken over), and that none holds; a
// finished evaluation leaves no claim behind.
func TestEvaluationClaim(t *testing.T) {
	_, prior := shippedPrior(t)
	digest, noise := evalSetup(t, prior)
	images := testSetImages(t, "../prior/small/testimages", 1, prior.ImageShape())
	host, _ := os.Hostname()
	dead := deadPID(t)
	for _, tc := range []struct {
		name string
		hold func(t *testing.T, stem string) // claims the folder before the run
		want string                          // the error, "" for none
	}{
		{"held", func(t *testing.T, stem string) {
			cl, err := (&claim.Claimer{Worker: "the other evaluation"}).Claim(stem)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cl.Release() })
		}, "another evaluation is writing"},
		{"held by a killed process", func(t *testing.T, stem string) {
			data, err := json.Marshal(claim.Holder{Host: host, PID: dead})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(stem+".0", data, 0o644); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"free", func(*testing.T, string) {}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			tc.hold(t, filepath.Join(out, EvalClaimFile))
			ev := &Evaluation{
				Out: out, Noise: noise, Prior: prior, PriorSpec: restore.ModelSpec{Name: restore.SmallPriorName}, Jobs: 1, Images: images,
				Settings: EvalSettings{Data: "cadps/prior/small/testimages", Count: 1, Batch: 1, Tasks: []string{"sr:factor=2"},
					Methods: []string{"dps"}, Steps: 2, Noise: "gaussian:sigma=0.05", Model: "small", Digest: digest},
			}
			_, err := ev.Run()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if m, _ := filepath.Glob(filepath.Join(out, "*.claim*")); len(m) != 0 {
					t.Errorf("claims left after the run: %v", m)
				}
				if rows, err := ReadEvalRows(filepath.Join(out, EvalResultsFile)); err != nil || len(rows) != 1 {
					t.Errorf("%d rows (%v), want 1", len(rows), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want+" "+out) || !strings.Contains(err.Error(), "the other evaluation") {
				t.Fatalf("error %v, want %q naming the folder and the holder", err, tc.want)
			}
			for _, name := range []string{EvalSettingsFile, EvalResultsFile, EvalTableFile, EvalImagesDir} {
				if _, err := os.Stat(filepath.Join(out, name)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the refused evaluation wrote %s (%v)", name, err)
				}
			}
		})
	}
}

// testSetImages loads the first n images of a test set as cadps evaluate
// does: padded to the prior's size, with pixels in [0, 1].
func testSetImages(t *testing.T, data string, n int, shape []int) []*imageio.Image {
	t.Helper()
	set, err := train.LoadDataset(data, shape[2], shape[1])
	if err != nil {
		t.Fatal(err)
	}
	per := set.C * set.H * set.W
	images := make([]*imageio.Image, n)
	for k := range images {
		im, err := imageio.New(set.C, set.H, set.W)
		if err != nil {
			t.Fatal(err)
		}
		for j, v := range set.Pix[k*per : (k+1)*per] {
			im.Pix[j] = (v + 1) / 2
		}
		images[k] = im
	}
	return images
}

// evalSetup returns the digest of prior's weights and the measurement
// noise of the evaluations of these tests (σ = 0.05).
func evalSetup(t *testing.T, prior *restore.Prior) (string, ops.Noise) {
	t.Helper()
	digest, err := prior.WeightsDigest()
	if err != nil {
		t.Fatal(err)
	}
	noise, err := ops.ParseNoise("gaussian:sigma=0.05")
	if err != nil {
		t.Fatal(err)
	}
	return digest, noise
}

// TestRunsRefuseEachOthersFolders runs an evaluation into a reproduction's
// folder (testdata/reproduce-v2) and a reproduction into an evaluation's
// (testdata/evaluate-v1): each is refused, naming the other's settings
// file, and writes nothing there.
func TestRunsRefuseEachOthersFolders(t *testing.T) {
	b, prior := shippedPrior(t)
	digest, noise := evalSetup(t, prior)
	images, err := filepath.Glob("../prior/small/testimages/*.png")
	if err != nil || len(images) < 1 {
		t.Fatalf("test images: %v, %v", images, err)
	}
	for _, tc := range []struct {
		name, fixture, theirs string
		run                   func(out string) error
	}{
		{"evaluation into a reproduction's folder", "testdata/reproduce-v2", SettingsFile, func(out string) error {
			ev := &Evaluation{
				Out: out, Noise: noise, Prior: prior, PriorSpec: restore.ModelSpec{Name: restore.SmallPriorName}, Jobs: 1,
				Images: testSetImages(t, "../prior/small/testimages", 1, prior.ImageShape()),
				Settings: EvalSettings{Data: "cadps/prior/small/testimages", Count: 1, Batch: 1, Tasks: []string{"inpaint_box:size=12"},
					Methods: []string{"dps"}, Steps: 2, Noise: "gaussian:sigma=0.05", Model: "small", Digest: digest, Keep: 1},
			}
			_, err := ev.Run()
			return err
		}},
		{"reproduction into an evaluation's folder", "testdata/evaluate-v1", EvalSettingsFile, func(out string) error {
			rep := &Reproduction{
				Out: out, Backend: b, Prior: prior, Options: restore.Options{Steps: 2},
				Tasks:   []TaskSetup{{Task: restore.SpecTask("inpaint_box:size=12")}},
				Methods: []string{"dps"}, Images: images[:1], GridRows: -1,
			}
			_, err := rep.Run()
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if err := os.CopyFS(out, os.DirFS(tc.fixture)); err != nil {
				t.Fatal(err)
			}
			before := folderFiles(t, out)
			err := tc.run(out)
			if err == nil || !strings.Contains(err.Error(), tc.theirs) || !strings.Contains(err.Error(), "use another output folder") {
				t.Fatalf("error %v, want a refusal naming %s", err, tc.theirs)
			}
			if after := folderFiles(t, out); !slices.Equal(after, before) {
				t.Errorf("the refused run changed the folder's files:\n%q\nwas\n%q", after, before)
			}
		})
	}
}

// folderFiles lists the files under dir with their sizes.
func folderFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files = append(files, fmt.Sprintf("%s %d", rel, info.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestEvaluationRefusesCorruptResults resumes testdata/evaluate-v1 with a
// results.csv that the evaluation cannot have written: a row of a task or
// method that settings.json does not name, a second row of one image, a
// row whose batch is not its image's, an image outside the test images,
// or a batch with rows for only some of its images; rows of a task,
// method or image that the rerun adds to the folder's settings are
// checked against the folder's settings, not taken as done. Each is refused,
// naming the file (and the line of a row), before anything is written;
// kept, such rows were counted in the table's means (twice for a second
// row), or a batch's missing images were never done. The folder as it is
// resumes with nothing to do.
func TestEvaluationRefusesCorruptResults(t *testing.T) {
	_, prior := shippedPrior(t)
	digest, noise := evalSetup(t, prior)
	images := testSetImages(t, "../prior/small/testimages", 2, prior.ImageShape())
	const row = `,0.5,17.1,0.6,1.3,op,2026-12-06T11:25:53Z,25.3,0,`
	for _, tc := range []struct {
		name  string
		edit  func(lines []string) []string // edits results.csv's lines
		batch int                           // the batch size, 0 for the folder's
		want  string                        // the error, "" for none
		// extend, when not nil, extends the rerun's settings beyond the
		// folder's, which its rows are still checked against.
		extend func(*EvalSettings)
	}{
		{"as it is", func(l []string) []string { return l }, 0, "", nil},
		{"other task", func(l []string) []string { return append(l, "sr:factor=2,dps,0,0,7.2"+row) }, 0,
			`line 6 is corrupt: task "sr:factor=2" is not one of settings.json's tasks`, nil},
		{"other method", func(l []string) []string { return append(l, "inpaint_box:size=12,mmps,0,0,7.2"+row) }, 0,
			`line 6 is corrupt: method "mmps" is not one of settings.json's methods`, nil},
		{"second row of an image", func(l []string) []string { return append(l, "inpaint_box:size=12,dps,0,0,9.9"+row) }, 0,
			`line 6 is corrupt: a second row of task "inpaint_box:size=12", method "dps", image 0 (the first is line 2)`, nil},
		{"other batch", func(l []string) []string {
			l[2] = strings.Replace(l[2], "inpaint_box:size=12,dps,1,1,", "inpaint_box:size=12,dps,0,1,", 1)
			return l
		}, 0, "line 3 is corrupt: image 1 is in batch 1 (batches of 1 from image 0), not 0", nil},
		{"image outside", func(l []string) []string {
			l[2] = strings.Replace(l[2], "inpaint_box:size=12,dps,1,1,", "inpaint_box:size=12,dps,2,2,", 1)
			return l
		}, 0, "line 3 is corrupt: image 2 is outside the test images 0…1", nil},
		{"part of a batch", func(l []string) []string {
			l[4] = strings.Replace(l[4], "inpaint_box:size=12,cadps,1,1,", "inpaint_box:size=12,cadps,0,1,", 1)
			return slices.Delete(l, 2, 3) // dps's image 1
		}, 2, `is corrupt: batch 0 of task "inpaint_box:size=12", method "dps" has rows for 1 of its 2 images`, nil},
		{"method the rerun adds", func(l []string) []string {
			return append(l, "inpaint_box:size=12,mmps,0,0,7.2"+row, "inpaint_box:size=12,mmps,1,1,7.2"+row)
		}, 0, `line 6 is corrupt: method "mmps" is not one of settings.json's methods`,
			func(st *EvalSettings) { st.Methods = append(st.Methods, "mmps") }},
		{"task the rerun adds", func(l []string) []string {
			return append(l, "sr:factor=2,dps,0,0,7.2"+row, "sr:factor=2,dps,1,1,7.2"+row)
		}, 0, `line 6 is corrupt: task "sr:factor=2" is not one of settings.json's tasks`,
			func(st *EvalSettings) { st.Tasks = append(st.Tasks, "sr:factor=2") }},
		{"image the rerun adds", func(l []string) []string { return append(l, "inpaint_box:size=12,dps,2,2,7.2"+row) }, 0,
			"line 6 is corrupt: image 2 is outside the test images 0…1", func(st *EvalSettings) { st.Count = 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "v1")
			if err := os.CopyFS(out, os.DirFS("testdata/evaluate-v1")); err != nil {
				t.Fatal(err)
			}
			results, settings := filepath.Join(out, EvalResultsFile), filepath.Join(out, EvalSettingsFile)
			lines := tc.edit(strings.Split(strings.TrimSpace(readText(t, results)), "\n"))
			if err := os.WriteFile(results, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			st := EvalSettings{Data: "cadps/prior/small/testimages", Count: 2, Batch: 1, Tasks: []string{"inpaint_box:size=12"},
				Methods: []string{"dps", "cadps"}, Steps: 2, Noise: "gaussian:sigma=0.05", Model: "small", Digest: digest, Keep: 1}
			if tc.batch > 0 {
				st.Batch = tc.batch
				text := strings.Replace(readText(t, settings), `"batch": 1,`, fmt.Sprintf(`"batch": %d,`, tc.batch), 1)
				if err := os.WriteFile(settings, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := folderFiles(t, out)
			resultsBefore := readText(t, results)
			images := images
			if tc.extend != nil {
				tc.extend(&st)
				images = testSetImages(t, "../prior/small/testimages", st.Count, prior.ImageShape())
			}
			var log bytes.Buffer
			ev := &Evaluation{Out: out, Noise: noise, Prior: prior, PriorSpec: restore.ModelSpec{Name: restore.SmallPriorName},
				Jobs: 1, Log: &log, Images: images, Settings: st}
			_, err := ev.Run()
			if tc.want == "" {
				if err != nil || log.Len() > 0 {
					t.Fatalf("error %v, ran\n%s\nwant nothing to do", err, log.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), results+" ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s and saying %q", err, results, tc.want)
			}
			if got := folderFiles(t, out); !slices.Equal(got, before) || readText(t, results) != resultsBefore {
				t.Errorf("the refused evaluation changed the folder: %v, was %v", got, before)
			}
		})
	}
}

// TestEvaluationBatchSize: a library caller's batch size below 1 is
// refused, naming it, before the folder is touched.
func TestEvaluationBatchSize(t *testing.T) {
	for _, batch := range []int{0, -2} {
		out := filepath.Join(t.TempDir(), "eval")
		ev := &Evaluation{Out: out, Jobs: 1, Images: nil,
			Settings: EvalSettings{Count: 0, Batch: batch, Tasks: []string{"sr:factor=2"}, Methods: []string{"dps"}, Steps: 2}}
		_, err := ev.Run()
		if want := fmt.Sprintf("batches of %d images", batch); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("batch %d: error %v, want one containing %q", batch, err, want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("batch %d: the refused run made %s (%v)", batch, out, err)
		}
	}
}

// TestEvaluationBackendConfig: BackendConfig makes the backends the
// evaluation runs on (not only what its rows record): an unknown backend
// is refused, naming it, before the folder is made.
func TestEvaluationBackendConfig(t *testing.T) {
	out := filepath.Join(t.TempDir(), "eval")
	ev := &Evaluation{Out: out, Jobs: 1, BackendConfig: "nosuchbackend:x",
		Settings: EvalSettings{Count: 0, Batch: 1, Tasks: []string{"sr:factor=2"}, Methods: []string{"dps"}, Steps: 2}}
	if _, err := ev.Run(); err == nil || !strings.Contains(err.Error(), `"nosuchbackend:x"`) {
		t.Errorf("error %v, want one naming the backend configuration", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the refused run made %s (%v)", out, err)
	}
}
