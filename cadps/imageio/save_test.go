package imageio

import (
	"errors"
	"image/gif"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mustNew returns an image whose values are fn(c, y, x).
func mustNew(t *testing.T, c, h, w int, fn func(c, y, x int) float32) *Image {
	t.Helper()
	im, err := New(c, h, w)
	if err != nil {
		t.Fatal(err)
	}
	for ch := range c {
		for y := range h {
			for x := range w {
				im.Set(ch, y, x, fn(ch, y, x))
			}
		}
	}
	return im
}

// dirNames lists a folder's entries.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestSaveRoundTrip saves real and synthetic images and loads them back.
func TestSaveRoundTrip(t *testing.T) {
	real, err := Load(sharedData(t, "natural", "coffee.png"))
	if err != nil {
		t.Fatal(err)
	}
	realGray, err := Load(sharedData(t, "natural", "camera.png"), WithMode(Gray))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		im   *Image
		mode Mode
	}{
		{"rgb real", real, RGB},
		{"gray real", realGray, Gray},
		{"rgb ramp", mustNew(t, 3, 5, 256, func(c, y, x int) float32 { return float32((x+c*y)%256) / 255 }), RGB},
		{"gray ramp", mustNew(t, 1, 3, 256, func(_, _, x int) float32 { return float32(x) / 255 }), Gray},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "out.png")
			if err := Save(p, tc.im); err != nil {
				t.Fatal(err)
			}
			back, err := Load(p, WithMode(tc.mode))
			if err != nil {
				t.Fatal(err)
			}
			if back.C != tc.im.C || back.H != tc.im.H || back.W != tc.im.W {
				t.Fatalf("saved %s, loaded %s", tc.im.Size(), back.Size())
			}
			for i := range back.Pix {
				if back.Pix[i] != tc.im.Pix[i] {
					t.Fatalf("value %d: saved %v, loaded %v", i, tc.im.Pix[i], back.Pix[i])
				}
			}
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("saved file: %v, mode %v, want 0644", err, fi.Mode())
			}
			if names := dirNames(t, filepath.Dir(p)); len(names) != 1 {
				t.Errorf("folder holds %v, want only out.png", names)
			}
		})
	}
}

// TestSaveRounding checks the 8-bit conversion: clamp, ·255, round half up.
func TestSaveRounding(t *testing.T) {
	tests := []struct {
		v    float32
		want uint8
	}{
		{0, 0}, {1, 255}, {-0.3, 0}, {1.7, 255}, {float32(math.Inf(1)), 255},
		{0.5, 128}, // 127.5 rounds up
		{0.002, 1}, {0.001, 0}, {float32(100) / 255, 100}, {0.998, 254},
	}
	im := mustNew(t, 1, 1, len(tests), func(_, _, x int) float32 { return tests[x].v })
	p := filepath.Join(t.TempDir(), "r.png")
	if err := Save(p, im); err != nil {
		t.Fatal(err)
	}
	back, err := Load(p, WithMode(Gray))
	if err != nil {
		t.Fatal(err)
	}
	for x, tc := range tests {
		if got := uint8(math.Round(float64(back.Pix[x]) * 255)); got != tc.want {
			t.Errorf("%v saved as %d, want %d", tc.v, got, tc.want)
		}
	}
}

// TestSaveErrors checks that bad calls fail clearly and write nothing.
func TestSaveErrors(t *testing.T) {
	dir := t.TempDir()
	ok := mustNew(t, 3, 2, 2, func(int, int, int) float32 { return 0.5 })
	nan := ok.Clone()
	nan.Set(1, 1, 0, float32(math.NaN()))
	tests := []struct {
		name string
		path string
		im   *Image
		want string
	}{
		{"nan", filepath.Join(dir, "nan.png"), nan, "NaN at channel 1, row 1, column 0"},
		{"jpeg name", filepath.Join(dir, "x.jpg"), ok, "want a .png name"},
		{"nil image", filepath.Join(dir, "nil.png"), nil, "nil image"},
		{"short pix", filepath.Join(dir, "short.png"), &Image{C: 3, H: 2, W: 2, Pix: make([]float32, 5)}, "has 5 values"},
		{"4 channels", filepath.Join(dir, "c4.png"), &Image{C: 4, H: 1, W: 1, Pix: make([]float32, 4)}, "4 channels"},
		{"missing folder", filepath.Join(dir, "no", "such", "x.png"), ok, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Save(tc.path, tc.im)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("Save error %v, want one naming %s and saying %q", err, tc.path, tc.want)
			}
			if n := strings.Count(err.Error(), "imageio:"); n != 1 {
				t.Errorf("error %q says imageio: %d times, want once", err, n)
			}
		})
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("failed saves left %v", names)
	}
}

// TestWriteAtomic checks that a write failing half way leaves neither a
// partial file nor a temporary one, and keeps an existing file intact.
func TestWriteAtomic(t *testing.T) {
	failing := func(w io.Writer) error {
		if _, err := w.Write(make([]byte, 100_000)); err != nil { // more than bufio's buffer
			return err
		}
		return errors.New("encoder failed")
	}
	tests := []struct {
		name     string
		existing []byte // nil: no file beforehand
	}{
		{"new file", nil},
		{"existing file", []byte("previous contents")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "x.png")
			if tc.existing != nil {
				if err := os.WriteFile(p, tc.existing, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := write(p, failing)
			if err == nil || !strings.Contains(err.Error(), "encoder failed") || !strings.Contains(err.Error(), p) {
				t.Fatalf("write error %v, want the writer's error naming %s", err, p)
			}
			got, err := os.ReadFile(p)
			switch {
			case tc.existing == nil && !errors.Is(err, os.ErrNotExist):
				t.Errorf("a failed write left %s (%d bytes, %v)", p, len(got), err)
			case tc.existing != nil && string(got) != string(tc.existing):
				t.Errorf("a failed write changed %s to %d bytes (%v)", p, len(got), err)
			}
			want := 0
			if tc.existing != nil {
				want = 1
			}
			if names := dirNames(t, dir); len(names) != want {
				t.Errorf("folder holds %v after a failed write", names)
			}
		})
	}
}

// TestSaveGIF checks frame count, delays, sizes and exact gray levels.
func TestSaveGIF(t *testing.T) {
	ramp := func(c, y, x int) float32 { return float32((x*8+y+c*40)%256) / 255 }
	gray := func(k int) *Image {
		return mustNew(t, 1, 8, 32, func(_, y, x int) float32 { return float32((x*8+y+k)%256) / 255 })
	}
	rgb := mustNew(t, 3, 8, 32, ramp)
	tests := []struct {
		name   string
		frames []*Image
		delay  time.Duration
		wantCS int
	}{
		{"gray", []*Image{gray(0), gray(1), gray(2), gray(3)}, 100 * time.Millisecond, 10},
		{"rgb", []*Image{rgb, rgb.Clamp()}, 250 * time.Millisecond, 25},
		{"mixed", []*Image{gray(0), rgb, gray(5)}, time.Second, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "a.gif")
			if err := SaveGIF(p, tc.frames, tc.delay); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			g, err := gif.DecodeAll(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Image) != len(tc.frames) {
				t.Fatalf("%d frames, want %d", len(g.Image), len(tc.frames))
			}
			for i, fr := range g.Image {
				if b := fr.Bounds(); b.Dx() != 32 || b.Dy() != 8 || g.Delay[i] != tc.wantCS {
					t.Errorf("frame %d: %v, delay %d, want 32×8, %d", i, b, g.Delay[i], tc.wantCS)
				}
			}
			if tc.name == "gray" {
				for i, fr := range g.Image {
					for _, xy := range [][2]int{{0, 0}, {31, 7}, {5, 3}} {
						r, _, _, _ := fr.At(xy[0], xy[1]).RGBA()
						if want := uint32((xy[0]*8 + xy[1] + i) % 256); r>>8 != want {
							t.Errorf("frame %d at %v: gray %d, want %d", i, xy, r>>8, want)
						}
					}
				}
			}
		})
	}

	errTests := []struct {
		name   string
		path   string
		frames []*Image
		delay  time.Duration
		want   string
	}{
		{"no frames", "a.gif", nil, 0, "no frames"},
		{"size mismatch", "a.gif", []*Image{gray(0), mustNew(t, 1, 4, 4, ramp)}, 0, "frame 1 is 4×4 gray, frame 0 is 8×32 gray"},
		{"negative delay", "a.gif", []*Image{gray(0)}, -time.Second, "out of range"},
		{"png name", "a.png", []*Image{gray(0)}, 0, "want a .gif name"},
		{"bad frame", "a.gif", []*Image{gray(0), {C: 1, H: 8, W: 32}}, 0, "frame 1: 8×32 gray image has 0 values"},
		{"nan frame", "a.gif", []*Image{gray(0), mustNew(t, 1, 8, 32, func(int, int, int) float32 { return float32(math.NaN()) })}, 0, "frame 1: 8×32 gray image has NaN"},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), tc.path)
			err := SaveGIF(p, tc.frames, tc.delay)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("SaveGIF error %v, want %q", err, tc.want)
			}
			if n := strings.Count(err.Error(), "imageio:"); n != 1 {
				t.Errorf("error %q says imageio: %d times, want once", err, n)
			}
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed SaveGIF left %s", p)
			}
		})
	}
}
