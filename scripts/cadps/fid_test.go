package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics/fid"
	"github.com/cadps/toolkit/cadps/metrics/lpips"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/randweights"
)

// writeRandomImages writes n random PNGs of the given sizes (cycled) into
// a new folder and returns it.
func writeRandomImages(t *testing.T, dir string, n int, seed uint64, sizes ...[2]int) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range n {
		s := sizes[i%len(sizes)]
		im, err := imageio.New(3, s[0], s[1])
		if err != nil {
			t.Fatal(err)
		}
		for j := range im.Pix {
			im.Pix[j] = float32(r.IntN(256)) / 255
		}
		if err := imageio.Save(filepath.Join(dir, fmt.Sprintf("%03d.png", i)), im); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writeWeights writes generated weights for specs as a .safetensors file.
func writeWeights(t *testing.T, path string, gain float64, specs []checkpoints.Spec) string {
	t.Helper()
	sd, err := randweights.StateDict(path, 5, gain, specs)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpoints.SaveSafetensors(path, sd); err != nil {
		t.Fatal(err)
	}
	return path
}

func runFIDArgs(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := fidCommand().run(args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestFIDCommand(t *testing.T) {
	dir := t.TempDir()
	stem := writeWeights(t, filepath.Join(dir, "stem.safetensors"), 1.3, fid.Params(1))
	alex := writeWeights(t, filepath.Join(dir, "alex.safetensors"), math.Sqrt2, lpips.Alex.BackboneParams())
	a := writeRandomImages(t, filepath.Join(dir, "a"), 3, 1, [2]int{32, 32}, [2]int{24, 40})
	b := writeRandomImages(t, filepath.Join(dir, "b"), 2, 2, [2]int{48, 48})
	one := writeRandomImages(t, filepath.Join(dir, "one"), 1, 3, [2]int{32, 32})
	statsA := filepath.Join(dir, "a64.npz")
	digest, err := checkpoints.Digest(stem)
	if err != nil {
		t.Fatal(err)
	}
	// pytorch-fid's statistics of a (without the weights' digest), and
	// statistics recorded with other weights.
	plainA, otherWeights := filepath.Join(dir, "plain.npz"), filepath.Join(dir, "other.npz")
	writePlain := func(t *testing.T) {
		s, err := fid.ReadStats(statsA)
		if err != nil {
			t.Fatal(err)
		}
		s.Weights = ""
		if err := fid.WriteStats(plainA, s); err != nil {
			t.Fatal(err)
		}
	}
	other := &fid.Stats{Mu: make([]float64, 64), Sigma: make([]float64, 64*64), Weights: "sha256:" + strings.Repeat("0", 64)}
	if err := fid.WriteStats(otherWeights, other); err != nil {
		t.Fatal(err)
	}
	// A download cut short under pytorch-fid's file name.
	truncated := filepath.Join(dir, "hub", fid.WeightsFile)
	os.MkdirAll(filepath.Dir(truncated), 0o755)
	if err := os.WriteFile(truncated, []byte("PK\x03\x04 the rest is missing"), 0o644); err != nil {
		t.Fatal(err)
	}
	kidStats := filepath.Join(dir, "kid.npz")
	// A folder whose second image does not decode: a command that computes
	// its features fails on it.
	broken := writeRandomImages(t, filepath.Join(dir, "broken"), 1, 6, [2]int{32, 32})
	if err := os.WriteFile(filepath.Join(broken, "z.png"), []byte("not a PNG"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Folders with pytorch-fid's other formats beside PNGs (the files'
	// contents do not matter: they are refused by name).
	ppm := writeRandomImages(t, filepath.Join(dir, "ppm"), 2, 4, [2]int{32, 32})
	mixed := writeRandomImages(t, filepath.Join(dir, "mixed"), 2, 5, [2]int{32, 32})
	for _, f := range []string{filepath.Join(ppm, "g.ppm"), filepath.Join(mixed, "c.webp"), filepath.Join(mixed, "d.tif"), filepath.Join(mixed, "e.tiff")} {
		if err := os.WriteFile(f, []byte("P6\n1 1\n255\n\x00\x00\x00"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Every distance below is between the same two sets, so the same value:
	// two folders give it from the features, an .npz from the covariances,
	// which agree to 1e-6 relative (fid's TestFrechetPaths).
	var first *fidReport
	tests := []struct {
		name    string
		before  func(t *testing.T)
		args    []string
		images  []int
		weights []string // the digests reported
		wantErr string
		usage   bool
		// notWritten is a file a refused command must not write.
		notWritten string
	}{
		{name: "folders", args: []string{"-weights", stem, "-dims", "64", "-batch", "2", a, b}, images: []int{3, 2}, weights: []string{digest, digest}},
		{name: "save stats", args: []string{"-weights", stem, "-dims", "64", "-save-stats", statsA, a}},
		{name: "save stats over a file", args: []string{"-weights", stem, "-dims", "64", "-save-stats", statsA, broken}, wantErr: "output file " + statsA + " exists: give -force to replace it"},
		{name: "save stats with -force", args: []string{"-weights", stem, "-dims", "64", "-force", "-save-stats", statsA, a}},
		{name: "force without save-stats", args: []string{"-weights", stem, "-dims", "64", "-force", a, b}, wantErr: "-force replaces the -save-stats file: give -save-stats FILE too", usage: true},
		{name: "npz and folder", args: []string{"-weights", stem, "-dims", "64", statsA, b}, images: []int{0, 2}, weights: []string{digest, digest}},
		{name: "pytorch-fid's npz", before: writePlain, args: []string{"-weights", stem, "-dims", "64", b, plainA}, images: []int{2, 0}, weights: []string{digest, ""}},
		{name: "npz of other weights", args: []string{"-weights", stem, "-dims", "64", otherWeights, b},
			wantErr: "other.npz comes from the Inception weights sha256:" + strings.Repeat("0", 64) + " but " + b + " from " + digest + ": features of other weights are not comparable"},
		// Refused before the folder's features are computed (its broken
		// image is never decoded), whichever argument comes first.
		{name: "folder and npz of other weights", args: []string{"-weights", stem, "-dims", "64", broken, otherWeights},
			wantErr: broken + " comes from the Inception weights " + digest + " but " + otherWeights + " from sha256:" + strings.Repeat("0", 64)},
		{name: "npz of other weights and folder", args: []string{"-weights", stem, "-dims", "64", otherWeights, broken},
			wantErr: "features of other weights are not comparable"},
		{name: "folder and a folder of other formats", args: []string{"-weights", stem, "-dims", "64", broken, ppm},
			wantErr: ppm + " holds 1 PPM file(s) (g.ppm)"},
		{name: "folder and npz of other dims", args: []string{"-weights", stem, "-dims", "192", broken, statsA}, wantErr: "holds 64-dimensional statistics, but -dims is 192"},
		{name: "two npz of other weights", args: []string{"-dims", "64", statsA, otherWeights}, wantErr: "features of other weights are not comparable"},
		{name: "truncated download", args: []string{"-weights", truncated, "-dims", "64", a, b},
			wantErr: truncated + ": its name says its SHA-256 starts with 6726825d, but it is "},
		{name: "kid", args: []string{"-weights", stem, "-dims", "64", "-kid", a, b}, images: []int{3, 2}, weights: []string{digest, digest}},
		{name: "kid subsets without kid", args: []string{"-weights", stem, "-dims", "64", "-kid-subsets", "5", a, b}, wantErr: "-kid-subsets and -kid-subset-size set up -kid: give -kid too", usage: true},
		{name: "kid subset size without kid", args: []string{"-weights", stem, "-dims", "64", "-kid-subset-size", "2", a, b}, wantErr: "give -kid too", usage: true},
		{name: "kid of statistics", args: []string{"-weights", stem, "-dims", "64", "-kid", statsA, b}, wantErr: "-kid needs the features of two image folders", usage: true},
		{name: "kid with save-stats", args: []string{"-weights", stem, "-dims", "64", "-kid", "-save-stats", kidStats, a}, wantErr: "-kid with -save-stats", usage: true, notWritten: kidStats},
		{name: "npz with other dims", args: []string{"-weights", stem, "-dims", "192", statsA, b}, wantErr: "holds 64-dimensional statistics, but -dims is 192"},
		{name: "one image", args: []string{"-weights", stem, "-dims", "64", one, a}, wantErr: "holds 1 images"},
		{name: "missing weights", args: []string{"-dims", "64", a, b}, wantErr: "-weights is needed", usage: true},
		{name: "blocks the file lacks", args: []string{"-weights", stem, a, b}, wantErr: "445 missing; hint: is it the weight file of another network?; missing: Mixed_5b.branch1x1.conv.weight"},
		{name: "another network", args: []string{"-weights", alex, "-dims", "64", a, b}, wantErr: "15 missing, 10 unexpected; hint: is it the weight file of another network?; missing: Conv2d_1a_3x3.conv.weight"},
		{name: "bad dims", args: []string{"-dims", "100", a, b}, wantErr: "-dims 100", usage: true},
		{name: "one argument", args: []string{"-weights", stem, a}, wantErr: "got 1 argument", usage: true},
		{name: "not a folder", args: []string{"-weights", stem, "-dims", "64", stem, b}, wantErr: "neither a folder of images nor an .npz file"},
		{name: "a PPM file", args: []string{"-weights", stem, "-dims", "64", a, ppm}, wantErr: "holds 1 PPM file(s) (g.ppm), which pytorch-fid would count: cadps decodes PNG and JPEG only; convert them to 8-bit RGB PNG"},
		{name: "save stats not as npz", args: []string{"-weights", stem, "-dims", "64", "-save-stats", filepath.Join(dir, "a.txt"), a},
			wantErr: "a.txt: statistics are written as pytorch-fid's .npz; give a .npz name", usage: true, notWritten: filepath.Join(dir, "a.txt")},
		// Refused before the folder's features are computed (its broken
		// image is never decoded).
		{name: "save stats inside a file", args: []string{"-weights", stem, "-dims", "64", "-save-stats", filepath.Join(stem, "s.npz"), broken},
			wantErr: "output folder " + stem + string(filepath.Separator) + " is not writable: not a directory"},
		{name: "TIFF and WebP files", args: []string{"-weights", stem, "-dims", "64", "-force", "-save-stats", statsA, mixed}, wantErr: "holds 3 TIFF/WebP file(s) (c.webp, d.tif, e.tiff)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			stdout, stderr, err := runFIDArgs(tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %v, want one line containing %q", err, tc.wantErr)
				}
				var ue usageError
				if errors.As(err, &ue) != tc.usage {
					t.Errorf("usage error %v, want %v", errors.As(err, &ue), tc.usage)
				}
				if _, err := os.Stat(tc.notWritten); tc.notWritten != "" && !os.IsNotExist(err) {
					t.Errorf("a refused command wrote %s (%v)", tc.notWritten, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v (stderr %q)", err, stderr)
			}
			if tc.images == nil {
				s, err := fid.ReadStats(statsA)
				if err != nil || !strings.Contains(stderr, "wrote the statistics of 3 images") {
					t.Fatalf("stats: %v, stderr %q", err, stderr)
				}
				if s.Weights != digest {
					t.Errorf("the statistics record the weights %q, want %q", s.Weights, digest)
				}
				return
			}
			var rep fidReport
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("output %q: %v", stdout, err)
			}
			if first == nil {
				first = &rep
			}
			if !slices.Equal(rep.Weights, tc.weights) {
				t.Errorf("weights_sha256 %q, want %q", rep.Weights, tc.weights)
			}
			if rep.Dims != 64 || fmt.Sprint(rep.Images) != fmt.Sprint(tc.images) || math.Abs(rep.FID-first.FID) > 1e-6*max(1, first.FID) || rep.FID <= 0 {
				t.Errorf("report %+v, want FID %.12g > 0, images %v", rep, first.FID, tc.images)
			}
			if (rep.KID != nil) != (tc.name == "kid") || rep.KID != nil && (*rep.KIDStd < 0 || math.IsNaN(*rep.KID) || math.IsNaN(*rep.KIDStd)) {
				t.Errorf("kid %v ± %v", rep.KID, rep.KIDStd)
			}
			want := 0 // absent without -kid
			if rep.KID != nil {
				want = 2 // the smaller set's size
			}
			if rep.KIDSubsetSize != want {
				t.Errorf("kid_subset_size %d, want %d", rep.KIDSubsetSize, want)
			}
			if !strings.Contains(stderr, "2/2 images") {
				t.Errorf("no progress on stderr: %q", stderr)
			}
		})
	}
}

func TestMetricsLPIPS(t *testing.T) {
	dir := t.TempDir()
	alex := writeWeights(t, filepath.Join(dir, "alex.safetensors"), math.Sqrt2, lpips.Alex.BackboneParams())
	squeeze := writeWeights(t, filepath.Join(dir, "squeeze.safetensors"), math.Sqrt2, lpips.Squeeze.BackboneParams())
	imgs := writeRandomImages(t, filepath.Join(dir, "imgs"), 2, 4, [2]int{40, 48})
	small := writeRandomImages(t, filepath.Join(dir, "small"), 2, 5, [2]int{20, 20})
	ref, img := filepath.Join(imgs, "000.png"), filepath.Join(imgs, "001.png")
	// The folder form needs the torchvision file name.
	tvDir := filepath.Join(dir, "torchvision")
	os.MkdirAll(tvDir, 0o755)
	data, _ := os.ReadFile(alex)
	os.WriteFile(filepath.Join(tvDir, lpips.Alex.BackboneFile()), data, 0o644)

	// Weights with a NaN (the backbone's and the linear layers'), weights
	// large enough to overflow float32, and downloads cut short under
	// torch.hub's names.
	nanBackbone := filepath.Join(dir, "nan.safetensors")
	bb, err := randweights.StateDict(nanBackbone, 5, math.Sqrt2, lpips.Alex.BackboneParams())
	if err != nil {
		t.Fatal(err)
	}
	setValue(t, bb, "features.3.weight", 7, float32(math.NaN()))
	if err := checkpoints.SaveSafetensors(nanBackbone, bb); err != nil {
		t.Fatal(err)
	}
	nanLin := filepath.Join(dir, "nan_lin.safetensors")
	lin, err := lpips.ShippedLinear(lpips.Alex)
	if err != nil {
		t.Fatal(err)
	}
	setValue(t, lin, "lin2.model.1.weight", 3, float32(math.NaN()))
	if err := checkpoints.SaveSafetensors(nanLin, lin); err != nil {
		t.Fatal(err)
	}
	huge := writeWeights(t, filepath.Join(dir, "huge.safetensors"), 1e25, lpips.Alex.BackboneParams())
	hubDir := filepath.Join(dir, "hub")
	os.MkdirAll(hubDir, 0o755)
	for _, name := range []string{lpips.Alex.BackboneFile(), "lin-0123abcd.pth"} {
		if err := os.WriteFile(filepath.Join(hubDir, name), []byte("PK\x03\x04 the rest is missing"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := lpips.Load(be, lpips.Alex, alex, "")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := imageio.Load(ref)
	b, _ := imageio.Load(img)
	want, err := m.ImageDistances([]*imageio.Image{a}, []*imageio.Image{b}, 1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		want    float64 // -1: not checked
		wantErr string
	}{
		{"backbone file", []string{"-lpips-backbone", alex, ref, img}, want[0], ""},
		{"torchvision folder", []string{"-lpips", tvDir, ref, img}, want[0], ""},
		{"identical", []string{"-lpips", tvDir, ref, ref}, 0, ""},
		{"squeeze", []string{"-lpips-backbone", squeeze, "-lpips-net", "squeeze", ref, img}, -1, ""},
		{"folder without the file", []string{"-lpips", dir, ref, img}, 0, "no alexnet-owt-7be5be79.pth there"},
		{"wrong network", []string{"-lpips-backbone", squeeze, ref, img}, 0, "wrong shape: features.0.weight (file [64 3 3 3], wanted [64 3 11 11])"},
		{"too small", []string{"-lpips-backbone", alex, filepath.Join(small, "000.png"), filepath.Join(small, "001.png")}, 0, "too small for the alex backbone"},
		{"lin without backbone", []string{"-lpips-lin", alex, ref, img}, 0, "-lpips-lin needs a backbone"},
		{"unknown net", []string{"-lpips", tvDir, "-lpips-net", "resnet", ref, img}, 0, "unknown network"},
		{"NaN in the backbone", []string{"-lpips-backbone", nanBackbone, ref, img}, 0, `nan.safetensors: tensor "features.3.weight" holds a non-finite value, NaN, at element 7 of `},
		{"NaN in the linear layers", []string{"-lpips-backbone", alex, "-lpips-lin", nanLin, ref, img}, 0, `nan_lin.safetensors: tensor "lin2.model.1.weight" holds a non-finite value, NaN, at element 3 of `},
		{"overflowing weights", []string{"-lpips-backbone", huge, ref, img}, 0,
			"LPIPS of " + img + " against " + ref + ": lpips: pair 0: the distance is NaN: the alex weights overflow float32"},
		{"truncated backbone download", []string{"-lpips", hubDir, ref, img}, 0,
			filepath.Join(hubDir, lpips.Alex.BackboneFile()) + ": its name says its SHA-256 starts with 7be5be79, but it is "},
		{"truncated linear layers", []string{"-lpips-backbone", alex, "-lpips-lin", filepath.Join(hubDir, "lin-0123abcd.pth"), ref, img}, 0,
			"lin-0123abcd.pth: its name says its SHA-256 starts with 0123abcd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := runMetricsArgs(t, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %v, want one line containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var rep metricsReport
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("output %q: %v", stdout, err)
			}
			if rep.LPIPS == nil || tc.want >= 0 && math.Abs(*rep.LPIPS-tc.want) > 1e-9 || tc.want < 0 && *rep.LPIPS <= 0 {
				t.Errorf("lpips %v, want %g (output %s)", rep.LPIPS, tc.want, stdout)
			}
		})
	}
}

// setValue sets element i of the float32 tensor name of sd to v.
func setValue(t *testing.T, sd *checkpoints.StateDict, name string, i int, v float32) {
	t.Helper()
	tensor, err := sd.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := tensor.Float32()
	if err != nil {
		t.Fatal(err)
	}
	vals[i] = v
	sd.Tensors[name] = checkpoints.FromFloat32(name, tensor.Shape, vals)
}
