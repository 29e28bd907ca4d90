package gmm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadProblem feeds arbitrary files to LoadProblem: it may not panic,
// its errors name the file, and a problem it returns has shapes that agree
// and a positive σ_y.
func FuzzLoadProblem(f *testing.F) {
	dir := f.TempDir()
	for _, dm := range [][2]int{{2, 1}, {3, 2}} {
		p, err := Standard(dm[0], dm[1], 1)
		if err != nil {
			f.Fatal(err)
		}
		path := filepath.Join(dir, "seed.safetensors")
		if err := p.Save(path); err != nil {
			f.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "p.safetensors")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := LoadProblem(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		d := p.Prior.Dim()
		if d <= 0 || len(p.A) == 0 || len(p.Y) != len(p.A) || !(p.SigmaY > 0) {
			t.Fatalf("problem of dimension %d with %d rows of A, %d measurements, σ_y %g", d, len(p.A), len(p.Y), p.SigmaY)
		}
		for i, row := range p.A {
			if len(row) != d {
				t.Fatalf("row %d of A has %d values, want %d", i, len(row), d)
			}
		}
	})
}
