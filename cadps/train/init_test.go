package train

import (
	"math"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/unet"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func tinyUNet() unet.Config {
	return unet.Config{ImageSize: 8, InChannels: 1, NumChannels: 32, ChannelMult: "1,2", NumResBlocks: 1,
		AttentionResolutions: "4", NumHeads: 1, NumHeadChannels: 32, NumHeadsUpsample: -1, LearnSigma: true,
		UseScaleShiftNorm: true, ResblockUpdown: true}
}

func TestInitialWeights(t *testing.T) {
	m, err := unet.New(tinyUNet())
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := InitialWeights(m, 1), InitialWeights(m, 1), InitialWeights(m, 2)
	if len(a) != len(m.Params()) {
		t.Fatalf("%d weights, want %d", len(a), len(m.Params()))
	}
	zeroModules, sameSeedDiffers, otherSeedSame := 0, 0, 0
	for _, p := range m.Params() {
		v := tensors.MustCopyFlatData[float32](a[p.Name])
		vb := tensors.MustCopyFlatData[float32](b[p.Name])
		vc := tensors.MustCopyFlatData[float32](c[p.Name])
		fanIn := 1
		if strings.HasSuffix(p.Name, ".weight") && len(p.Shape) >= 2 {
			for _, d := range p.Shape[1:] {
				fanIn *= d
			}
		}
		var maxAbs float64
		allSame := true
		for k := range v {
			maxAbs = math.Max(maxAbs, math.Abs(float64(v[k])))
			if v[k] != vb[k] {
				sameSeedDiffers++
			}
			if v[k] != vc[k] {
				allSame = false
			}
		}
		prefix := p.Name[:strings.LastIndex(p.Name, ".")]
		switch {
		case strings.HasSuffix(prefix, ".out_layers.3") || strings.HasSuffix(prefix, ".proj_out") || prefix == "out.2":
			zeroModules++
			if maxAbs != 0 {
				t.Errorf("%s: zero_module weight has max |w| %v", p.Name, maxAbs)
			}
		case strings.HasSuffix(prefix, ".in_layers.0") || strings.HasSuffix(prefix, ".out_layers.0") ||
			strings.HasSuffix(prefix, ".norm") || prefix == "out.0":
			want := float32(0)
			if strings.HasSuffix(p.Name, ".weight") {
				want = 1
			}
			for _, x := range v {
				if x != want {
					t.Fatalf("%s: GroupNorm value %v, want %v", p.Name, x, want)
				}
			}
		default:
			if allSame {
				otherSeedSame++
			}
			if len(p.Shape) >= 2 {
				bound := 1 / math.Sqrt(float64(fanIn))
				if maxAbs > bound || maxAbs < bound/2 {
					t.Errorf("%s: max |w| %v outside (bound/2, bound = 1/√%d]", p.Name, maxAbs, fanIn)
				}
			}
		}
	}
	if zeroModules == 0 {
		t.Error("no zero_module parameters found")
	}
	if sameSeedDiffers != 0 {
		t.Errorf("the same seed gave %d different values", sameSeedDiffers)
	}
	if otherSeedSame != 0 {
		t.Errorf("%d random parameters are the same under another seed", otherSeedSame)
	}
}
