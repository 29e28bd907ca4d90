package main

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics/lpips"
)

// TestWrittenFilesLoad checks that the written backbone files load under
// their torchvision names and give finite, non-zero distances between
// different images, and that an unknown net is refused.
func TestWrittenFilesLoad(t *testing.T) {
	dir := t.TempDir()
	if err := write(dir, []string{"alex", " squeeze"}); err != nil {
		t.Fatal(err)
	}
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	a, err := imageio.New(1, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	c := a.Clone()
	for i := range c.Pix {
		c.Pix[i] = float32(i%7) / 6
	}
	for _, net := range []lpips.Net{lpips.Alex, lpips.Squeeze} {
		m, err := lpips.Load(b, net, filepath.Join(dir, net.BackboneFile()), "")
		if err != nil {
			t.Fatalf("%s: %v", net, err)
		}
		d, err := m.ImageDistances([]*imageio.Image{a}, []*imageio.Image{c}, 1)
		if err != nil {
			t.Fatalf("%s: %v", net, err)
		}
		t.Logf("%s: %v", net, d[0])
		if math.IsNaN(d[0]) || math.IsInf(d[0], 0) || d[0] <= 0 {
			t.Errorf("%s: distance %v, want finite and positive", net, d[0])
		}
	}
	if err := write(dir, []string{"resnet"}); err == nil {
		t.Error("an unknown net was accepted")
	}
}
