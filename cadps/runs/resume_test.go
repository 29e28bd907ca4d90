package runs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/restore"
)

// TestResumeEarlierLayout resumes testdata/reproduce-v2, a folder written
// by the toolkit before reproductions moved into this package (see its
// README): the settings are accepted as they are, the item whose record
// was removed is redone with the same result, the other three are kept
// untouched, and the rebuilt CSV equals the folder's own but for the
// redone item's wall time.
func TestResumeEarlierLayout(t *testing.T) {
	out := filepath.Join(t.TempDir(), "v2")
	if err := os.CopyFS(out, os.DirFS("testdata/reproduce-v2")); err != nil {
		t.Fatal(err)
	}
	redo := Item{Task: "inpaint_box_size=12", Method: "dps", Index: 1}
	kept := Item{Task: "inpaint_box_size=12", Method: "cadps", Index: 0}
	was, err := ReadRecord(redo.Path(out, RecordDir))
	if err != nil {
		t.Fatal(err)
	}
	keptBefore := readText(t, kept.Path(out, RecordDir))
	settingsBefore := readText(t, filepath.Join(out, SettingsFile))
	csvBefore := readText(t, filepath.Join(out, CSVFile))
	if err := os.Remove(redo.Path(out, RecordDir)); err != nil {
		t.Fatal(err)
	}

	b, prior := shippedPrior(t)
	images, err := filepath.Glob("../prior/small/testimages/*.png")
	if err != nil || len(images) < 2 {
		t.Fatalf("test images: %v, %v", images, err)
	}
	rep := &Reproduction{
		Out: out, Backend: b, Prior: prior, Options: restore.Options{Steps: 2, Draws: 2},
		Tasks:   []TaskSetup{{Task: restore.SpecTask("inpaint_box:size=12")}},
		Methods: []string{"dps", "cadps"}, Images: images[:2], Seed: 3, GridRows: 1,
	}
	sum, err := rep.Run()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 1 || sum.Skipped != 3 || sum.Failed != 0 {
		t.Errorf("resume ran %d (%d failed) and kept %d items, want 1, 0 and 3", sum.Done, sum.Failed, sum.Skipped)
	}
	if readText(t, kept.Path(out, RecordDir)) != keptBefore {
		t.Error("a finished item's record was rewritten")
	}
	if got := readText(t, filepath.Join(out, SettingsFile)); got != settingsBefore {
		t.Errorf("reproduce.json changed:\n%s\nwas\n%s", got, settingsBefore)
	}
	now, err := ReadRecord(redo.Path(out, RecordDir))
	if err != nil {
		t.Fatal(err)
	}
	if now.PSNR != was.PSNR || now.SSIM != was.SSIM || now.Residual != was.Residual || now.Draw != was.Draw || now.Seed != was.Seed {
		t.Errorf("redone item: PSNR %v, SSIM %v, residual %v, draw %d, seed %d; the folder had %v, %v, %v, %d, %d",
			now.PSNR, now.SSIM, now.Residual, now.Draw, now.Seed, was.PSNR, was.SSIM, was.Residual, was.Draw, was.Seed)
	}
	// The CSV is rebuilt from the records: only the redone item's wall
	// time (the 8th column) may differ.
	got := strings.Split(readText(t, filepath.Join(out, CSVFile)), "\n")
	want := strings.Split(csvBefore, "\n")
	if len(got) != len(want) {
		t.Fatalf("CSV has %d lines, the folder's %d", len(got), len(want))
	}
	for k := range want {
		g, w := strings.Split(got[k], ","), strings.Split(want[k], ",")
		if len(g) > 7 && len(g) == len(w) && strings.HasPrefix(want[k], "inpaint_box_size=12,dps,1,") {
			g[7], w[7] = "", ""
		}
		if strings.Join(g, ",") != strings.Join(w, ",") {
			t.Errorf("CSV line %d is\n%s\nwant\n%s", k+1, got[k], want[k])
		}
	}
}

// TestReadRecordDamaged reads records that no run writes (records are
// only renamed into place whole): each is refused, naming the file, what
// is wrong with it (not whole JSON, JSON of another shape, an unknown
// status) and that removing it has the item redone.
func TestReadRecordDamaged(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty", "", "is not whole JSON (unexpected end of JSON input)"},
		{"cut short", `{"task":"sr","method":"dps","index":0,"status":"ok","ps`, "is not whole JSON"},
		{"a list", `[]`, "is JSON but not an item's record (json: cannot unmarshal array"},
		{"index a string", `{"task":"sr","method":"dps","index":"0","status":"ok"}`, "is JSON but not an item's record (json: cannot unmarshal string"},
		{"no status", `{"task":"sr","method":"dps","index":0}`, `has status "", neither "ok" nor "failed"`},
		{"another status", `{"task":"sr","method":"dps","index":0,"status":"running"}`, `has status "running"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "00000.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadRecord(path)
			for _, want := range []string{"runs: record " + path + " " + tc.want, "remove it to have the item redone"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v, want one containing %q", err, want)
				}
			}
		})
	}
}
