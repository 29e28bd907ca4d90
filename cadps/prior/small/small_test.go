package small

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"reflect"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestEmbeddedWeightsMatchConfig checks that the embedded file is exactly
// Config's state_dict, that its metadata records Config and Diffusion, and
// that Weights returns independent copies.
func TestEmbeddedWeightsMatchConfig(t *testing.T) {
	sd, err := Weights()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unet.New(Config())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Match(sd); err != nil {
		t.Fatal(err)
	}
	if got := m.NumParams(); got != 983746 {
		t.Errorf("%d parameters, the documentation says 983,746", got)
	}
	u, d, err := recordedConfigs(sd)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(u, Config()) {
		t.Errorf("recorded UNet config %s, Config() is %s", u, Config())
	}
	if !reflect.DeepEqual(d, Diffusion()) {
		t.Errorf("recorded diffusion config %+v, Diffusion() is %+v", d, Diffusion())
	}
	if _, err := diffusion.New(Diffusion()); err != nil {
		t.Errorf("Diffusion() is not a valid process: %v", err)
	}
	if steps, err := TrainedSteps(); err != nil || steps <= 0 {
		t.Errorf("TrainedSteps() = %d, %v", steps, err)
	}
	again, err := Weights()
	if err != nil {
		t.Fatal(err)
	}
	name := sd.Names[0]
	sd.Tensors[name].Data[0] ^= 0xff
	if again.Tensors[name].Data[0] == sd.Tensors[name].Data[0] {
		t.Error("Weights shares its tensors between calls")
	}
}

// TestDigest checks that Digest is the SHA-256 of the weights file in the
// source tree.
func TestDigest(t *testing.T) {
	data, err := os.ReadFile(Name + ".safetensors")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if want := "sha256:" + hex.EncodeToString(sum[:]); Digest() != want {
		t.Errorf("Digest() = %s, the file's SHA-256 is %s", Digest(), want)
	}
}

// TestForward loads the prior into the UNet and runs one forward pass on a
// noisy batch: the output has 2 channels per image channel, is finite, and
// the ε channel is correlated with the noise at a high noise level.
func TestForward(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	m, err := Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := diffusion.New(Diffusion())
	if err != nil {
		t.Fatal(err)
	}
	const n = 2
	noise := make([]float32, n*32*32)
	x0 := make([]float32, len(noise))
	for k := range noise {
		noise[k] = float32(math.Sin(float64(k)*12.9898) * 1.7)
		x0[k] = -1
	}
	exec, err := context.NewExec(b, ctx, func(ctx *context.Context, x0, z *graph.Node) *graph.Node {
		i := graph.Const(x0.Graph(), []int32{900, 900})
		return m.Apply(ctx, p.QSample(x0, i, z), p.ModelTimestep(i), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x0, n, 1, 32, 32), tensors.FromFlatDataAndDimensions(noise, n, 1, 32, 32))
	if err != nil {
		t.Fatal(err)
	}
	if dims := out[0].Shape().Dimensions; !reflect.DeepEqual(dims, []int{n, 2, 32, 32}) {
		t.Fatalf("output shape %v, want [2 2 32 32]", dims)
	}
	v := tensors.MustCopyFlatData[float32](out[0])
	var dot, ee, zz float64
	for j := range n {
		for k := range 32 * 32 {
			e, z := float64(v[j*2*1024+k]), float64(noise[j*1024+k])
			if math.IsNaN(e) || math.IsInf(e, 0) {
				t.Fatalf("non-finite output %v", e)
			}
			dot += e * z
			ee += e * e
			zz += z * z
		}
	}
	if corr := dot / math.Sqrt(ee*zz); corr < 0.5 {
		t.Errorf("ε prediction correlates %.3f with the noise at t = 900, want > 0.5", corr)
	}
}

func TestSample(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := Sample(b, 2, "3", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 || imgs[0].C != 1 || imgs[0].H != 32 || imgs[0].W != 32 {
		t.Fatalf("got %d images of %s", len(imgs), imgs[0].Size())
	}
	if _, err := Sample(b, 0, "3", 1); err == nil {
		t.Error("Sample accepted n = 0")
	}
}
