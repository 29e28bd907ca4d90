package runs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cadps/toolkit/cadps/train"
	"github.com/cadps/toolkit/internal/atomicfile"
)

// TestCheckOutputFolder takes every pair of a folder one command made (as
// its files leave it) and a command writing into it: a command resumes
// its own folders, merge writes into a reproduction's too, and every other
// pair is refused, naming the command that made the folder and the file
// that says so. A folder holding no run is refused when it holds a file of
// a name the command writes, naming it (a user's record.json, metrics.csv
// or recon.png), and taken otherwise (files of other names stay): an empty
// folder, one holding only what a killed run leaves (temporary files,
// claims), one holding other files, and a missing one.
func TestCheckOutputFolder(t *testing.T) {
	restoreRecord := `{"image":"face.png","settings":{"method":"dps","task":"sr"},"files":["recon.png"]}`
	folders := []struct {
		name  string
		made  Command   // "" = no run
		mark  string    // the file that says so, or the one a command would replace
		by    []Command // with made "" and mark: the commands that would replace it
		files map[string]string
	}{
		{"restore", CommandRestore, RestoreRecordFile, nil, map[string]string{RestoreRecordFile: restoreRecord, "recon.png": "png", "measurement.png": "png"}},
		{"reproduce", CommandReproduce, SettingsFile, nil, map[string]string{SettingsFile: "{}", ShardFile: "{}", CSVFile: metricsCSVHeader + "psnr\n", TableFile: summaryHeader, "sr/dps/00000.json": "{}"}},
		{"reproduce, its first worker starting", CommandReproduce, ShardFile, nil, map[string]string{ShardFile: "{}", "summary.md.claim.1": ""}},
		{"evaluate", CommandEvaluate, EvalSettingsFile, nil, map[string]string{EvalSettingsFile: "{}", EvalResultsFile: "task\n", EvalTableFile: "|", "images/sr/x.png": ""}},
		{"merge", CommandMerge, CSVFile, nil, map[string]string{CSVFile: metricsCSVHeader + "psnr,ssim\n", TableFile: summaryHeader, "grid_sr.png": "png"}},
		{"merge stopped before metrics.csv", CommandMerge, TableFile, nil, map[string]string{TableFile: summaryHeader + " PSNR (dB) |\n"}},
		{"train", CommandTrain, "checkpoint.safetensors", nil, map[string]string{"checkpoint.safetensors": "", "ema.safetensors": "", "losses.csv": "step\n", "loss.png": ""}},
		{"train, before its first checkpoint", CommandTrain, "losses.csv", nil, map[string]string{"losses.csv": "step\n"}},
		{"a user's record.json", "", "record.json", []Command{CommandRestore}, map[string]string{"record.json": `{"notes":"mine"}`}},
		{"a user's record.json beside recon.png", "", "record.json", []Command{CommandRestore}, map[string]string{"record.json": `{"notes":"mine"}`, "recon.png": "png"}},
		{"an empty record.json beside a restoration's images", "", "record.json", []Command{CommandRestore},
			map[string]string{"record.json": "", "label.png": "png", "recon.png": "png"}},
		{"a record.json that is not whole JSON", "", "record.json", []Command{CommandRestore},
			map[string]string{"record.json": `{"image":"face.png","settings":{"meth`, "label.png": "png", "measurement.png": "png"}},
		{"a user's metrics.csv", "", "metrics.csv", []Command{CommandReproduce, CommandMerge}, map[string]string{"metrics.csv": "name,score\n"}},
		{"a user's summary.md", "", "summary.md", []Command{CommandReproduce, CommandMerge}, map[string]string{"summary.md": "# mine\n"}},
		{"a user's recon.png", "", "recon.png", []Command{CommandRestore}, map[string]string{"recon.png": "png"}},
		{"a user's images folder", "", "images", []Command{CommandEvaluate}, map[string]string{"images/a.png": "png"}},
		{"a user's loss.png", "", "loss.png", []Command{CommandTrain}, map[string]string{"loss.png": "png"}},
		{"other files", "", "", nil, map[string]string{"notes.txt": "", "config.json": "{}"}},
		{"empty", "", "", nil, nil},
		{"left by killed runs", "", "", nil, map[string]string{".recon.new.png": "", ".metrics.csv.tmp123": "", "results.csv.claim.2": "", ".restore.claim.1": ""}},
		{"missing", "", "", nil, nil},
	}
	// damage is how the record.json of these folders is damaged: restore
	// refuses them naming it so.
	damage := map[string]string{
		"an empty record.json beside a restoration's images": "is empty",
		"a record.json that is not whole JSON":               "is damaged (not whole JSON)",
	}
	commands := []Command{CommandRestore, CommandReproduce, CommandEvaluate, CommandMerge, CommandTrain}
	for _, f := range folders {
		dir := filepath.Join(t.TempDir(), "out")
		if f.name != "missing" {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for name, content := range f.files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, cmd := range commands {
			t.Run(f.name+" → "+string(cmd), func(t *testing.T) {
				err := CheckOutputFolder(dir, cmd)
				var want string
				switch {
				case f.made == cmd, f.made == CommandReproduce && cmd == CommandMerge:
				case f.made != "":
					want = "runs: output folder " + dir + " holds a run of cadps " + string(f.made) + " (" + f.mark + "): cadps " + string(cmd) +
						" does not write into another command's folder; use another output folder"
				case slices.Contains(f.by, cmd) && damage[f.name] != "":
					want = "runs: output folder " + dir + " holds a record.json that " + damage[f.name] + ", so which of its files a restoration made is unknown: remove record.json and a restoration's images beside it"
				case slices.Contains(f.by, cmd):
					want = "runs: output folder " + dir + " holds " + f.mark + ", which no run of cadps " + string(cmd) + " made and which it would replace: move it away or use another output folder"
				}
				switch {
				case want == "" && err != nil:
					t.Fatalf("refused: %v", err)
				case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
					t.Fatalf("error %v, want one containing %q", err, want)
				}
			})
		}
	}
}

// TestCheckOutputFolderWhileARunStarts checks a folder while another run
// of the same command creates its mark there, as workers of reproduce
// started at once into one new folder do: however the check and the
// creation interleave, the folder is taken, never refused as holding a
// file of the command's names that no run of it made.
func TestCheckOutputFolderWhileARunStarts(t *testing.T) {
	cases := []struct {
		cmd        Command
		mark, data string
	}{
		{CommandReproduce, SettingsFile, "{}"},
		{CommandReproduce, ShardFile, "{}"},
		{CommandEvaluate, EvalSettingsFile, "{}"},
		{CommandTrain, train.LossFile, "step\n"},
		{CommandRestore, RestoreRecordFile, `{"image":"a.png","settings":{"method":"dps"}}`},
	}
	for _, c := range cases {
		t.Run(string(c.cmd)+" "+c.mark, func(t *testing.T) {
			root := t.TempDir()
			for round := range 40 { // unfixed, a refusal came within the first 6
				dir := filepath.Join(root, fmt.Sprint("out", round))
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				var stop atomic.Bool
				refused := make(chan error, 1)
				go func() {
					defer close(refused)
					for !stop.Load() {
						if err := CheckOutputFolder(dir, c.cmd); err != nil {
							refused <- err
							return
						}
					}
				}()
				if err := atomicfile.WriteBytes(filepath.Join(dir, c.mark), []byte(c.data)); err != nil {
					t.Fatal(err)
				}
				stop.Store(true)
				if err := <-refused; err != nil {
					t.Fatalf("round %d: refused while its own run started there: %v", round, err)
				}
			}
		})
	}
}

// TestCheckOutputFolderWhileARunFailsToStart checks a folder while a
// worker of reproduce that recorded the shard count there (shards.json,
// the folder's mark) fails and removes it, as a refused worker does when
// the file is all the folder holds: however the check and the removal
// interleave, the folder is taken, never refused as holding a shards.json
// that no reproduction made.
func TestCheckOutputFolderWhileARunFailsToStart(t *testing.T) {
	root := t.TempDir()
	for round := range 400 { // unfixed, a refusal came within the first 3
		dir := filepath.Join(root, fmt.Sprint("out", round))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		mark := filepath.Join(dir, ShardFile)
		if err := os.WriteFile(mark, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
		var stop atomic.Bool
		refused, checking := make(chan error, 1), make(chan struct{})
		go func() {
			defer close(refused)
			for k := 0; !stop.Load(); k++ {
				if k == 1 {
					close(checking)
				}
				if err := CheckOutputFolder(dir, CommandReproduce); err != nil {
					refused <- err
					return
				}
			}
		}()
		<-checking
		if err := os.Remove(mark); err != nil {
			t.Fatal(err)
		}
		stop.Store(true)
		if err := <-refused; err != nil {
			t.Fatalf("round %d: refused while a failed worker removed its shards.json: %v", round, err)
		}
	}
}

// TestStagedRecordName checks that the staged record restore leaves when
// stopped while moving its files marks the folder as restore's.
func TestStagedRecordName(t *testing.T) {
	dir := t.TempDir()
	rec := `{"image": "a.png", "settings": {"method": "dps"}}`
	if err := os.WriteFile(filepath.Join(dir, RestoreStagedRecordFile), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "recon.png"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if run, file := FolderRun(dir); run != CommandRestore || file != RestoreStagedRecordFile {
		t.Errorf("FolderRun: %q, %q; want restore and %s", run, file, RestoreStagedRecordFile)
	}
	if err := CheckOutputFolder(dir, CommandRestore); err != nil {
		t.Error(err)
	}
	if err := CheckOutputFolder(dir, CommandEvaluate); err == nil {
		t.Error("evaluate takes a folder restore was writing")
	}
}

// TestRestoreOutputNames checks that the names restore's output folder is
// checked for are those of the files it writes, each once.
func TestRestoreOutputNames(t *testing.T) {
	want := []string{RestoreReconFile, RestoreMeasurementFile, RestoreLabelFile, RestoreProgressFile, RestoreGIFFile, RestoreRecordFile}
	got := OutputNames(CommandRestore)
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
		t.Errorf("OutputNames(restore) = %v, want %v", got, want)
	}
}

// TestCheckOutputFolderWhileARestorationEnds checks a folder of a
// restoration while a rerun there moves its record into place: it writes
// its staged record, removes the earlier record.json and renames the
// staged record to record.json, so that the folder holds one record or
// the other at every moment. However the check and the moves interleave,
// the folder is restore's, never one whose recon.png no restoration made.
func TestCheckOutputFolderWhileARestorationEnds(t *testing.T) {
	dir := t.TempDir()
	rec := []byte(`{"image":"a.png","settings":{"method":"dps"},"files":["recon.png"]}`)
	for name, data := range map[string][]byte{RestoreReconFile: []byte("png"), RestoreRecordFile: rec} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stop atomic.Bool
	refused := make(chan error, 1)
	go func() {
		defer close(refused)
		for !stop.Load() {
			if err := CheckOutputFolder(dir, CommandRestore); err != nil {
				refused <- err
				return
			}
		}
	}()
	staged, record := filepath.Join(dir, RestoreStagedRecordFile), filepath.Join(dir, RestoreRecordFile)
	round := 0
	for ; round < 5000 && len(refused) == 0; round++ { // unfixed, a refusal came within the first 800
		if err := os.WriteFile(staged, rec, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(record); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(staged, record); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	if err := <-refused; err != nil {
		t.Fatalf("round %d: refused while a rerun moved its record into place: %v", round, err)
	}
}
