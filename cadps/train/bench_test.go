package train

import (
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/prior/small"
	"github.com/cadps/toolkit/cadps/unet"
)

// BenchmarkStep times one training step of the shipped small prior's
// configuration (32×32×1, 32 channels, channel_mult 1,1,2) at batch 16 on
// random images, and reports images per second.
func BenchmarkStep(b *testing.B) {
	bk, err := backend.New()
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{
		UNet: unet.Config{ImageSize: 32, InChannels: 1, NumChannels: 32, ChannelMult: "1,1,2", NumResBlocks: 1,
			AttentionResolutions: "8", NumHeads: 1, NumHeadChannels: 32, NumHeadsUpsample: -1,
			LearnSigma: true, UseScaleShiftNorm: true, ResblockUpdown: true},
		Diffusion: small.Diffusion(), BatchSize: 16, LearningRate: 1e-4, WarmupSteps: 10,
		EMARate: 0.999, ClipNorm: 1, Seed: 1,
	}
	data := &Dataset{N: 64, C: 1, H: 32, W: 32, Pix: make([]float32, 64*1024)}
	for k := range data.Pix {
		data.Pix[k] = float32((k*37)%255)/127.5 - 1
	}
	tr, err := New(bk, cfg, data)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tr.Step(); err != nil { // compile
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := tr.Step(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*cfg.BatchSize)/b.Elapsed().Seconds(), "images/s")
}
