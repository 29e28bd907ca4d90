package lpips_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/metrics/lpips"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/cadps/toolkit/internal/randweights"
)

// lpipsFixture is the part of an lpips fixture.json the replay reads.
type lpipsFixture struct {
	Net string `json:"net"`
	// BackboneInit, when the fixture stores no backbone, says how
	// internal/randweights makes it.
	BackboneInit *struct {
		Seed     uint64  `json:"seed"`
		ConvGain float64 `json:"conv_gain"`
	} `json:"backbone_init"`
	Groups []struct {
		Name     string `json:"name"`
		Height   int    `json:"height"`
		Width    int    `json:"width"`
		Pairs    int    `json:"pairs"`
		In0      string `json:"in0"`
		In1      string `json:"in1"`
		Dist     string `json:"dist"`
		Res      string `json:"res"`
		Features *struct {
			Pair    int      `json:"pair"`
			Tensors []string `json:"tensors"`
		} `json:"features"`
	} `json:"groups"`
}

func TestReference(t *testing.T) {
	fixtures.RunKinds(t, "cadps/metrics/lpips", map[string]fixtures.Handler{"lpips": replayLPIPS})
}

// TestRepoReference replays the vgg and squeeze fixtures that
// scripts/fixtures/make_metric_fixtures.py writes into testdata/reference.
func TestRepoReference(t *testing.T) {
	all, err := fixtures.Discover("testdata/reference")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		if f.Kind != "lpips" {
			t.Fatalf("%s: kind %q, want lpips", f.Name, f.Kind)
		}
		t.Run(f.Name, func(t *testing.T) { fixtures.Replay(t, f, replayLPIPS) })
	}
}

func replayLPIPS(t *testing.T, f *fixtures.Fixture) {
	var fx lpipsFixture
	if err := f.Decode(&fx); err != nil {
		t.Fatal(err)
	}
	net, err := lpips.ParseNet(fx.Net)
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := lpips.New(b, net, fixtureBackbone(t, f, net, fx), fixtureLinear(t, f, net))
	if err != nil {
		t.Fatal(err)
	}
	io, err := f.Safetensors("io")
	if err != nil {
		t.Fatal(err)
	}
	tols := map[string]fixtures.Tolerance{}
	for _, k := range []string{"dist", "res", "features"} {
		if tols[k], err = f.Tolerance(k); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range fx.Groups {
		x0, _ := fixtures.Float32Values(t, io, g.In0)
		x1, _ := fixtures.Float32Values(t, io, g.In1)
		n := g.Pairs
		d, err := m.Distance(x0, x1, n, g.Height, g.Width)
		if err != nil {
			t.Fatal(err)
		}
		want, shape := fixtures.Values(t, io, g.Dist)
		f.Compare(t, g.Dist, tols["dist"], fixtures.Float64s(d.Dist), want, []int{n}, shape)
		wantRes, resShape := fixtures.Values(t, io, g.Res)
		var res []float64
		for _, r := range d.Layers {
			res = append(res, fixtures.Float64s(r)...)
		}
		f.Compare(t, g.Res, tols["res"], res, wantRes, []int{n, len(d.Layers[0])}, resShape)
		if g.Features == nil {
			continue
		}
		size := 3 * g.Height * g.Width
		p := g.Features.Pair
		var got [][]float32
		var shapes [][]int
		for _, x := range [][]float32{x0, x1} {
			v, s, err := m.Features(x[p*size:(p+1)*size], 1, g.Height, g.Width)
			if err != nil {
				t.Fatal(err)
			}
			got, shapes = append(got, v...), append(shapes, s...)
		}
		if len(got) != len(g.Features.Tensors) {
			t.Fatalf("%d feature maps, the fixture lists %d", len(got), len(g.Features.Tensors))
		}
		for i, name := range g.Features.Tensors {
			w, shape := fixtures.Values(t, io, name)
			f.Compare(t, name, tols["features"], fixtures.Float64s(got[i]), w, shapes[i], shape)
		}
	}
}

// fixtureBackbone reads the fixture's backbone file, or makes its
// generated weights.
func fixtureBackbone(t *testing.T, f *fixtures.Fixture, net lpips.Net, fx lpipsFixture) *checkpoints.StateDict {
	t.Helper()
	if fx.BackboneInit != nil {
		sd, err := randweights.StateDict(f.Name, fx.BackboneInit.Seed, fx.BackboneInit.ConvGain, net.BackboneParams())
		if err != nil {
			t.Fatal(err)
		}
		return sd
	}
	p, err := f.Path("backbone_pt")
	if err != nil {
		t.Fatal(err)
	}
	sd, err := checkpoints.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

// fixtureLinear reads the fixture's linear-layer file, or the shipped one
// when it lists none.
func fixtureLinear(t *testing.T, f *fixtures.Fixture, net lpips.Net) *checkpoints.StateDict {
	t.Helper()
	var sd *checkpoints.StateDict
	var err error
	if p, perr := f.Path("lin_pt"); perr == nil {
		sd, err = checkpoints.Load(p)
		sameFormats(t, f)
		sameAsShipped(t, f)
	} else {
		sd, err = lpips.ShippedLinear(net)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

// sameFormats checks that each lin weights file the fixture lists as a
// .pth (key lin_pt, lin_<net>_pt) holds what its .safetensors copy
// (lin_safetensors, lin_<net>_safetensors) holds, when it lists one.
func sameFormats(t *testing.T, f *fixtures.Fixture) {
	t.Helper()
	for _, key := range slices.Sorted(maps.Keys(f.Files)) {
		base, ok := strings.CutSuffix(key, "_pt")
		if !ok || !strings.HasPrefix(base, "lin") {
			continue
		}
		if _, ok := f.Files[base+"_safetensors"]; ok {
			f.SameWeights(t, key, base+"_safetensors")
		}
	}
}

// sameAsShipped checks that each linear-layer file the fixture lists (key
// lin_pt for its own net, lin_<net>_pt for the others), the lpips
// package's v0.1 layers, holds exactly the layers shipped with the
// toolkit, which every distance uses unless -lpips-lin is given: the
// replay computes with the fixture's file, so a shipped file that differs
// would otherwise go unnoticed.
func sameAsShipped(t *testing.T, f *fixtures.Fixture) {
	t.Helper()
	var fx lpipsFixture
	if err := f.Decode(&fx); err != nil {
		t.Fatal(err)
	}
	for _, key := range slices.Sorted(maps.Keys(f.Files)) {
		base, ok := strings.CutSuffix(key, "_pt")
		if !ok || !strings.HasPrefix(base, "lin") {
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(base, "lin"), "_")
		if name == "" {
			name = fx.Net
		}
		net, err := lpips.ParseNet(name)
		if err != nil {
			t.Fatalf("%s: %s: %v", f.Name, key, err)
		}
		p, err := f.Path(key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := checkpoints.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := lpips.ShippedLinear(net)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(slices.Sorted(maps.Keys(got.Tensors)), slices.Sorted(maps.Keys(want.Tensors))) {
			t.Errorf("%s: %s holds the tensors %v, the shipped %s layers %v", f.Name, f.Files[key],
				slices.Sorted(maps.Keys(got.Tensors)), net, slices.Sorted(maps.Keys(want.Tensors)))
			continue
		}
		for _, n := range slices.Sorted(maps.Keys(want.Tensors)) {
			a, b := got.Tensors[n], want.Tensors[n]
			if a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) || !slices.Equal(a.Data, b.Data) {
				t.Errorf("%s: tensor %s of %s differs from the shipped %s layers (weights/v0.1/%s.pth)", f.Name, n, f.Files[key], net, net)
			}
		}
	}
}
