package fid_test

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/metrics/fid"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/cadps/toolkit/internal/randweights"
	"github.com/gomlx/gomlx/backends"
)

func TestReference(t *testing.T) {
	fixtures.RunKinds(t, "cadps/metrics/fid", map[string]fixtures.Handler{
		"fid-features":     replayFeatures,
		"frechet-distance": replayFrechet,
	})
}

// TestRepoReference replays the full-network fixture that
// scripts/fixtures/make_metric_fixtures.py writes into testdata/reference.
func TestRepoReference(t *testing.T) {
	if testing.Short() {
		t.Skip("the full Inception network at 299x299 takes a while")
	}
	all, err := fixtures.Discover("testdata/reference")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		if f.Kind != "fid-features" {
			t.Fatalf("%s: kind %q, want fid-features", f.Name, f.Kind)
		}
		t.Run(f.Name, func(t *testing.T) { fixtures.Replay(t, f, replayFeatures) })
	}
}

// TestReferenceMalformed replays malformed copies of the repository's
// fid-features fixture through TestReference in a subprocess: each fails
// its own subtest, naming the folder and the key, instead of panicking
// and so ending every replay of the test binary.
func TestReferenceMalformed(t *testing.T) {
	all, err := fixtures.Discover("testdata/reference")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	cases := []struct {
		folder string
		spoil  func(fx map[string]any)
		want   string
	}{
		{"fid-no-blocks", func(fx map[string]any) {
			fx["inception_kwargs"].(map[string]any)["output_blocks"] = []any{}
		}, "fid-no-blocks: inception_kwargs.output_blocks is empty"},
		{"fid-bad-group", func(fx map[string]any) {
			fx["groups"].([]any)[0].(map[string]any)["images"] = "two"
		}, `fixtures: fid-bad-group: groups[0].images is "two", want a number`},
		{"fid-no-groups", func(fx map[string]any) {
			delete(fx, "groups")
		}, "fid-no-groups: groups is missing or empty"},
		{"fid-misspelt-map", func(fx map[string]any) {
			fx["groups"].([]any)[0].(map[string]any)["blok0_img0"] = "g64.pool0"
		}, "fid-misspelt-map: groups[0].blok0_img0 is no entry the replay knows"},
		{"fid-map-without-bound", func(fx map[string]any) {
			fx["groups"].([]any)[0].(map[string]any)["block0_img0"] = "g64.pool0"
		}, `fid-map-without-bound: tolerance has no entry "block_maps"`},
		{"fid-unused-bound", func(fx map[string]any) {
			fx["tolerance"].(map[string]any)["block_maps"] = "max|got-ref| <= 1e-4 * max(1, max|ref|)"
		}, `fid-unused-bound: the replay did not use tolerance "block_maps"`},
		{"fid-map-mismatch", func(fx map[string]any) {
			fx["tolerance"].(map[string]any)["block_maps"] = "max|got-ref| <= 1e-4 * max(1, max|ref|)"
			fx["groups"].([]any)[0].(map[string]any)["block0_img0"] = "g64.pool0"
		}, "fid-map-mismatch: g64.pool0: shape [1 64 73 73], want [2 64]"},
	}
	for _, c := range cases {
		dir := filepath.Join(root, c.folder)
		if err := os.Rename(all[0].Copy(t, t.TempDir()), dir); err != nil {
			t.Fatal(err)
		}
		fixtures.EditJSON(t, filepath.Join(dir, "fixture.json"), c.spoil)
	}
	want := map[string]string{}
	for _, c := range cases {
		want[c.folder] = c.want
	}
	fixtures.ReplayMalformed(t, root, want)
}

type featuresFixture struct {
	InceptionKwargs struct {
		OutputBlocks []int `json:"output_blocks"`
	} `json:"inception_kwargs"`
	OutputDims  []int `json:"output_dims"`
	WeightsInit *struct {
		Seed     uint64  `json:"seed"`
		ConvGain float64 `json:"conv_gain"`
	} `json:"weights_init"`
	Groups []map[string]any `json:"groups"`
}

func replayFeatures(t *testing.T, f *fixtures.Fixture) {
	var fx featuresFixture
	if err := f.Decode(&fx); err != nil {
		t.Fatal(err)
	}
	blocks := fx.InceptionKwargs.OutputBlocks
	switch {
	case len(blocks) == 0:
		t.Fatalf("%s: inception_kwargs.output_blocks is empty", f.Name)
	case len(fx.Groups) == 0:
		t.Fatalf("%s: groups is missing or empty: the fixture compares nothing", f.Name)
	case len(fx.OutputDims) != len(blocks):
		t.Fatalf("%s: output_dims has %d entries, inception_kwargs.output_blocks %d", f.Name, len(fx.OutputDims), len(blocks))
	}
	var sd *checkpoints.StateDict
	var err error
	if fx.WeightsInit != nil {
		sd, err = randweights.StateDict(f.Name, fx.WeightsInit.Seed, fx.WeightsInit.ConvGain, fid.Params(blocks[len(blocks)-1]))
	} else {
		var p string
		if p, err = f.Path("weights_pt"); err == nil {
			sd, err = checkpoints.Load(p)
		}
		if _, ok := f.Files["weights_safetensors"]; ok && err == nil {
			f.SameWeights(t, "weights_pt", "weights_safetensors")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := fid.New(b, sd, blocks...)
	if err != nil {
		t.Fatal(err)
	}
	io, err := f.Safetensors("io")
	if err != nil {
		t.Fatal(err)
	}
	poolTol, err := f.Tolerance("pool")
	if err != nil {
		t.Fatal(err)
	}
	resizedTol, err := f.Tolerance("resized")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{"name": true, "images": true, "height": true, "width": true, "x": true, "resized_img0": true}
	for _, blk := range blocks {
		known[fmt.Sprintf("pool%d", blk)] = true
		known[fmt.Sprintf("block%d_img0", blk)] = true
	}
	for k, g := range fx.Groups {
		where := fmt.Sprintf("groups[%d]", k)
		for key := range g {
			if !known[key] {
				t.Fatalf("%s: %s.%s is no entry the replay knows (blocks %v)", f.Name, where, key, blocks)
			}
		}
		var n, h, w int
		for _, v := range []struct {
			key string
			to  *int
		}{{"images", &n}, {"height", &h}, {"width", &w}} {
			if *v.to, err = f.IntAt(g, where, v.key); err != nil {
				t.Fatal(err)
			}
		}
		xKey, err := f.StringAt(g, where, "x")
		if err != nil {
			t.Fatal(err)
		}
		x, _ := fixtures.Float32Values(t, io, xKey)
		feats, err := m.Features(x, n, h, w)
		if err != nil {
			t.Fatal(err)
		}
		for i, blk := range blocks {
			key, err := f.StringAt(g, where, fmt.Sprintf("pool%d", blk))
			if err != nil {
				t.Fatal(err)
			}
			want, shape := fixtures.Values(t, io, key)
			var got []float64
			for _, v := range feats[i] {
				got = append(got, fixtures.Float64s(v)...)
			}
			f.Compare(t, key, poolTol, got, want, []int{n, fx.OutputDims[i]}, shape)
		}
		if _, ok := g["resized_img0"]; ok {
			key, err := f.StringAt(g, where, "resized_img0")
			if err != nil {
				t.Fatal(err)
			}
			r, err := fid.Resize(x[:3*h*w], 1, h, w)
			if err != nil {
				t.Fatal(err)
			}
			want, shape := fixtures.Values(t, io, key)
			f.Compare(t, key, resizedTol, fixtures.Float64s(r), want, []int{1, 3, fid.Size, fid.Size}, shape)
		}
		compareBlockMaps(t, f, b, m, g, where, x[:3*h*w], h, w)
		name, _ := g["name"].(string) // only for the log
		t.Logf("%s (%s): %d images of %dx%d", where, name, n, h, w)
	}
}

// compareBlockMaps compares the unpooled block maps of a group's first
// image, x, with the group's block<b>_img0 tensors, under the tolerance
// "block_maps"; a group that records none compares nothing.
func compareBlockMaps(t *testing.T, f *fixtures.Fixture, b backends.Backend, m *fid.Model, g map[string]any, where string, x []float32, h, w int) {
	t.Helper()
	var keys []string
	for _, blk := range m.Blocks() {
		if _, ok := g[fmt.Sprintf("block%d_img0", blk)]; !ok {
			keys = append(keys, "")
			continue
		}
		key, err := f.StringAt(g, where, fmt.Sprintf("block%d_img0", blk))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	if slices.Equal(keys, make([]string, len(keys))) {
		return
	}
	tol := f.MustTolerance(t, "block_maps")
	maps, shapes, err := fid.BlockMaps(b, m, x, h, w)
	if err != nil {
		t.Fatal(err)
	}
	io, err := f.Safetensors("io")
	if err != nil {
		t.Fatal(err)
	}
	for i, key := range keys {
		if key == "" {
			continue
		}
		want, shape := fixtures.Values(t, io, key)
		f.Compare(t, key, tol, fixtures.Float64s(maps[i]), want, shapes[i], shape)
	}
}

type frechetFixture struct {
	Cases []struct {
		Name        string `json:"name"`
		Dims        int    `json:"dims"`
		EpsOffset   bool   `json:"eps_offset_applied"`
		FD          string `json:"fd"`
		FDPlain     string `json:"fd_plain_eig"`
		FDOffset    string `json:"fd_offset_eig"`
		Act1, Act2  string
		Mu1, Sigma1 string
		Mu2, Sigma2 string
	} `json:"cases"`
}

func replayFrechet(t *testing.T, f *fixtures.Fixture) {
	var fx frechetFixture
	if err := f.Decode(&fx); err != nil {
		t.Fatal(err)
	}
	data, err := f.Safetensors("data")
	if err != nil {
		t.Fatal(err)
	}
	msTol, err := f.Tolerance("mu_sigma")
	if err != nil {
		t.Fatal(err)
	}
	fdTol, err := f.Tolerance("fd")
	if err != nil {
		t.Fatal(err)
	}
	var side struct {
		Env struct {
			Scipy string `json:"scipy"`
		} `json:"env"`
	}
	// Without a sidecar the scipy that made the fixture is unknown.
	if err := f.Sidecar("data", &side); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	modelled := blockedSqrtm(side.Env.Scipy)
	for _, c := range fx.Cases {
		var stats [2]*fid.Stats
		for i, keys := range [][3]string{{c.Act1, c.Mu1, c.Sigma1}, {c.Act2, c.Mu2, c.Sigma2}} {
			act, actShape := fixtures.Values(t, data, keys[0])
			if len(actShape) != 2 {
				t.Fatalf("%s: shape %v, want [images, features]", keys[0], actShape)
			}
			s, err := fid.Statistics64(act, actShape[0], actShape[1])
			if err != nil {
				t.Fatal(err)
			}
			mu, muShape := fixtures.Values(t, data, keys[1])
			sigma, sigmaShape := fixtures.Values(t, data, keys[2])
			f.Compare(t, keys[1], msTol, s.Mu, mu, []int{s.Dims()}, muShape)
			f.Compare(t, keys[2], msTol, s.Sigma, sigma, []int{s.Dims(), s.Dims()}, sigmaShape)
			stats[i] = s
		}
		d, err := fid.FrechetDistance(stats[0], stats[1])
		if err != nil {
			t.Fatal(err)
		}
		plain, err := fid.FrechetDistanceOffset(stats[0], stats[1], 0)
		if err != nil {
			t.Fatal(err)
		}
		offset, err := fid.FrechetDistanceOffset(stats[0], stats[1], fid.Eps)
		if err != nil {
			t.Fatal(err)
		}
		one := func(key string, got float64) {
			want, shape := fixtures.Values(t, data, key)
			f.Compare(t, key, fdTol, []float64{got}, want, []int{1}, shape)
		}
		one(c.FDPlain, plain)
		// Without the vectors, FrechetDistance takes the covariance path.
		cov, err := fid.FrechetDistanceOffset(covarianceOnly(stats[0]), covarianceOnly(stats[1]), 0)
		if err != nil {
			t.Fatal(err)
		}
		if rel := math.Abs(plain-cov) / math.Abs(cov); rel > 1e-6 {
			t.Errorf("%s: %s: %.12g from the features, %.12g from the covariances (relative %.2g)", f.Name, c.Name, plain, cov, rel)
		} else {
			t.Logf("%s: %s: features and covariance paths differ by %.2g relative", f.Name, c.Name, rel)
		}
		one(c.FDOffset, offset)
		// Whether pytorch-fid took the offset path depends on the scipy that
		// made the fixture (scipy 1.16 rewrote sqrtm); the fixture's
		// tolerance compares fd only where both took the same path, and
		// both paths above always. FrechetDistance predicts the path of
		// scipy's blocked sqrtm (up to 1.15): for a fixture made with one,
		// another path is an error.
		switch {
		case d.Offset == c.EpsOffset:
			one(c.FD, d.FD)
		case modelled:
			t.Errorf("%s: %s: offset path %v, but pytorch-fid with scipy %s took %v", f.Name, c.Name, d.Offset, side.Env.Scipy, c.EpsOffset)
		default:
			t.Logf("%s: %s took the other path than pytorch-fid (offset %v, pytorch-fid %v): scipy %q is not the blocked sqrtm of scipy up to 1.15", f.Name, c.Name, d.Offset, c.EpsOffset, side.Env.Scipy)
		}
	}
}

// covarianceOnly returns s without its feature vectors, as ReadStats
// returns statistics.
func covarianceOnly(s *fid.Stats) *fid.Stats {
	return &fid.Stats{Mu: s.Mu, Sigma: s.Sigma, N: s.N}
}

// blockedSqrtm reports whether the scipy version v ("1.10.1") computes
// sqrtm block by block as FrechetDistance models it: scipy 1.x before
// 1.16. An unknown or unreadable version reports false.
func blockedSqrtm(v string) bool {
	major, rest, ok := strings.Cut(v, ".")
	if !ok || major != "1" {
		return false
	}
	minor, _, _ := strings.Cut(rest, ".")
	m, err := strconv.Atoi(minor)
	return err == nil && m < 16
}
