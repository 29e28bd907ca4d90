package imageio

import (
	"math"
	"strings"
	"testing"
)

// TestGridGeometry checks sizes, channel promotion, nearest-neighbour
// scaling, empty cells and padding.
func TestGridGeometry(t *testing.T) {
	small := mustNew(t, 1, 4, 4, func(_, y, x int) float32 { return float32(y*4+x) / 16 })
	big := mustNew(t, 3, 8, 8, func(c, y, x int) float32 { return float32(c*64+y*8+x) / 192 })
	const pad = 2
	g, err := Grid([][]*Image{{small, big}, {nil, big, big}}, pad, WithBackground(0.25))
	if err != nil {
		t.Fatal(err)
	}
	// 2 rows × 3 columns of 8×8 cells, 2 pixels around and between.
	if g.C != 3 || g.H != 2*8+3*pad || g.W != 3*8+4*pad {
		t.Fatalf("grid is %s, want 22×32 RGB", g.Size())
	}
	for c := range 3 {
		for y := range 8 {
			for x := range 8 {
				if got, want := g.At(c, pad+y, pad+x), small.At(0, y/2, x/2); got != want {
					t.Fatalf("gray cell channel %d (%d,%d) = %v, want %v", c, y, x, got, want)
				}
				if got, want := g.At(c, 2*pad+8+y, 3*pad+16+x), big.At(c, y, x); got != want {
					t.Fatalf("cell (1,2) channel %d (%d,%d) = %v, want %v", c, y, x, got, want)
				}
			}
		}
	}
	// Padding, then an empty (nil) cell.
	for _, pos := range [][3]int{{0, 0, 0}, {1, 1, 5}, {2, 21, 31}, {1, 11, 12}, {0, 15, 4}} {
		if got := g.At(pos[0], pos[1], pos[2]); got != 0.25 {
			t.Errorf("background at %v = %v, want 0.25", pos, got)
		}
	}
	if got := g.At(0, pad+1, 3*pad+16+1); got != 0.25 {
		t.Errorf("missing cell (0,2) = %v, want background", got)
	}

	// Downscaling to a forced cell size samples cell centres.
	d, err := Grid([][]*Image{{big}}, 0, WithCellSize(4, 2))
	if err != nil {
		t.Fatal(err)
	}
	if d.C != 3 || d.H != 4 || d.W != 2 || d.At(2, 3, 1) != big.At(2, 7, 6) || d.At(0, 0, 0) != big.At(0, 1, 2) {
		t.Errorf("downscaled cell %s: %v", d.Size(), d.Pix)
	}

	// All gray stays gray; the default background is white.
	gg, err := Grid([][]*Image{{small}, {small}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if gg.C != 1 || gg.H != 11 || gg.W != 6 || gg.At(0, 5, 0) != 1 {
		t.Errorf("gray grid %s, background %v", gg.Size(), gg.At(0, 5, 0))
	}
}

func TestStripAndUpsample(t *testing.T) {
	a := mustNew(t, 3, 3, 5, func(c, y, x int) float32 { return float32(c+y+x) / 10 })
	s, err := Strip([]*Image{a, a, a}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if s.H != 3+2 || s.W != 3*5+4 {
		t.Errorf("strip is %s, want 5×19", s.Size())
	}
	u, err := Upsample(a, 3)
	if err != nil {
		t.Fatal(err)
	}
	if u.C != 3 || u.H != 9 || u.W != 15 {
		t.Fatalf("upsampled %s, want 9×15 RGB", u.Size())
	}
	for c := range 3 {
		for y := range 9 {
			for x := range 15 {
				if u.At(c, y, x) != a.At(c, y/3, x/3) {
					t.Fatalf("upsampled (%d,%d,%d) = %v, want %v", c, y, x, u.At(c, y, x), a.At(c, y/3, x/3))
				}
			}
		}
	}
}

func TestGridErrors(t *testing.T) {
	a := mustNew(t, 1, 2, 2, func(int, int, int) float32 { return 0 })
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"empty", func() error { _, err := Grid(nil, 1); return err }, "no images"},
		{"only nils", func() error { _, err := Grid([][]*Image{{nil}}, 1); return err }, "no images"},
		{"negative pad", func() error { _, err := Strip([]*Image{a}, -1); return err }, "negative"},
		{"bad image", func() error {
			_, err := Grid([][]*Image{{a}, {a, {C: 2, H: 1, W: 1, Pix: []float32{0, 0}}}}, 0)
			return err
		}, "row 1 column 1"},
		{"bad background", func() error { _, err := Strip([]*Image{a}, 0, WithBackground(2)); return err }, "outside [0,1]"},
		{"nan background", func() error {
			_, err := Strip([]*Image{a}, 0, WithBackground(float32(math.NaN())))
			return err
		}, "outside [0,1]"},
		{"bad cell", func() error { _, err := Strip([]*Image{a}, 0, WithCellSize(0, 3)); return err }, "cell size"},
		{"upsample 0", func() error { _, err := Upsample(a, 0); return err }, "factor 0"},
		{"upsample huge", func() error { _, err := Upsample(a, 1<<30); return err }, "too large"},
		{"grid huge", func() error { _, err := Strip([]*Image{a}, 0, WithCellSize(1<<14, 1<<14)); return err }, "grid: size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if n := strings.Count(err.Error(), "imageio:"); n != 1 {
				t.Errorf("error %q says imageio: %d times, want once", err, n)
			}
		})
	}
}
