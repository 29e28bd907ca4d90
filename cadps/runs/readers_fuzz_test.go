package runs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFuzzFile writes data to dir/name for a fuzz run and returns the path.
func writeFuzzFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// FuzzCheckEvalSettings feeds arbitrary settings.json files to
// CheckEvalSettings against settings that extend the seed's: it may not
// panic, and its errors name the file.
func FuzzCheckEvalSettings(f *testing.F) {
	for _, s := range []string{
		`{"data":"d","count":4,"batch":2,"tasks":["sr:factor=4"],"methods":["dps"],"steps":10,"noise":"gaussian","seed":1,"model":"m","weights_sha256":"sha256:x","keep_images":0}`,
		`{"data":"d","count":4,"batch":0,"tasks":["sr:factor=4"],"methods":["dps"],"steps":10,"noise":"gaussian","seed":1,"model":"m","weights_sha256":"sha256:x","keep_images":0}`,
		`{"count":3,"batch":2,"weights_sha256":"sha256:x"}`, `null`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	st := EvalSettings{Data: "d", Count: 8, Batch: 2, Tasks: []string{"sr:factor=4"}, Methods: []string{"dps"},
		Steps: 10, Noise: "gaussian", Seed: 1, Model: "m", Digest: "sha256:x"}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := writeFuzzFile(t, dir, EvalSettingsFile, data)
		if _, err := CheckEvalSettings(path, st); err != nil && !strings.Contains(err.Error(), path) {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}

// FuzzReadEvalRows feeds arbitrary results.csv files to ReadEvalRows: it
// may not panic, and its errors name the file.
func FuzzReadEvalRows(f *testing.F) {
	head := strings.Join(evalHeader, ",")
	for _, s := range []string{
		head + "\nsr,dps,0,0,20.5,0.5,18,0.4,1.5,op,2026-01-01T00:00:00Z,0.1,0,0.2,cadps,\"cadps:ops_parallel,parallelism=-1\",0123abc\n",
		strings.Join(evalHeaderV3, ",") + "\nsr,dps,0,0,20.5,0.5,18,0.4,1.5,op,2026-01-01T00:00:00Z,0.1,0,0.2\n",
		strings.Join(evalHeaderV1, ",") + "\nsr,dps,0,0,20.5,0.5,18,0.4,1.5,op,t\n",
		strings.Join(evalHeaderV2, ",") + "\nsr,dps,0,1,NaN,0.5,18,0.4,1.5,op,t,0.1,0\n",
		head + "\nsr,dps,x\n", "", "\"",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := writeFuzzFile(t, dir, "results.csv", data)
		if _, err := ReadEvalRows(path); err != nil && !strings.Contains(err.Error(), path) {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}

// FuzzReadMixtureCSV feeds arbitrary bench CSV files to ReadMixtureCSV: it
// may not panic, and its errors name the file.
func FuzzReadMixtureCSV(f *testing.F) {
	for _, cols := range [][]string{mixtureColumns, revisionMixtureColumns, legacyMixtureColumns} {
		row := make([]string, len(cols))
		for i := range row {
			row[i] = "1"
		}
		f.Add([]byte(strings.Join(cols, ",") + "\n" + strings.Join(row, ",") + "\n"))
	}
	f.Add([]byte(""))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := writeFuzzFile(t, dir, "bench.csv", data)
		if _, err := ReadMixtureCSV(path); err != nil && !strings.Contains(err.Error(), path) {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}

// FuzzReadRunFiles feeds arbitrary shards.json, item records and
// reproduction settings files to their readers: none may panic, and their
// errors name the file.
func FuzzReadRunFiles(f *testing.F) {
	for _, s := range []string{`{"count": 4}`, `{"count": 0}`, `{"task":"sr","method":"dps","index":3,"status":"ok","psnr":20.5,"ssim":0.5,"final_residual":"NaN"}`,
		`{"model": "fmnist32.safetensors)", "weights": "fmnist32.safetensors"}`, `null`, ``} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range []struct {
			name string
			read func(path string) error
		}{
			{ShardFile, func(string) error { _, err := RecordedShards(dir); return err }},
			{"00000.json", func(p string) error { _, err := ReadRecord(p); return err }},
			{SettingsFile, func(string) error { _, _, _, err := readSettings(dir); return err }},
		} {
			path := writeFuzzFile(t, dir, c.name, data)
			if err := c.read(path); err != nil && !strings.Contains(err.Error(), path) {
				t.Fatalf("%s: error %q does not name the file", c.name, err)
			}
		}
	})
}
