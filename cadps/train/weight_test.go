package train

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/prior/small"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func TestParseLossWeight(t *testing.T) {
	cases := []struct {
		in, want, err string
	}{
		{in: "", want: "uniform"},
		{in: "uniform", want: "uniform"},
		{in: "trunc-snr:100", want: "trunc-snr:100"},
		{in: "trunc-snr:1", want: "trunc-snr:1"},
		{in: "min-snr:5", want: "min-snr:5"},
		{in: "min-snr:0.5", want: "min-snr:0.5"},
		{in: "snr", err: "unknown loss weight"},
		{in: "p2:1", err: "unknown loss weight"},
		{in: "trunc-snr", err: "unknown loss weight"},
		{in: "trunc-snr:", err: "not a finite number"},
		{in: "trunc-snr:NaN", err: "not a finite number"},
		{in: "min-snr:+Inf", err: "not a finite number"},
		{in: "trunc-snr:0.5", err: "at least 1"},
		{in: "min-snr:0", err: "positive"},
	}
	for _, c := range cases {
		w, err := ParseLossWeight(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseLossWeight(%q): error %v, want one containing %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseLossWeight(%q): %v", c.in, err)
			continue
		}
		if got := w.String(); got != c.want {
			t.Errorf("ParseLossWeight(%q).String() = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestLossWeightAt checks the weights against their definitions at
// signal fractions on both sides of SNR = 1 and of the caps.
func TestLossWeightAt(t *testing.T) {
	cases := []struct {
		weight   string
		alphaBar float64
		want     float64
	}{
		{"uniform", 0.3, 1},
		{"trunc-snr:100", 0.9, 1},       // SNR 9: L_simple
		{"trunc-snr:100", 0.5, 1},       // SNR 1
		{"trunc-snr:100", 0.2, 4},       // 1/SNR = 0.8/0.2
		{"trunc-snr:100", 1.0 / 51, 50}, // 1/SNR = 50
		{"trunc-snr:100", 4e-5, 100},    // capped
		{"min-snr:5", 0.9, 5.0 / 9},     // SNR 9 > 5
		{"min-snr:5", 5.0 / 6, 1},       // SNR 5
		{"min-snr:5", 0.5, 1},           // SNR 1
		{"min-snr:1", 0.99, 1.0 / 99},   // SNR 99
		{"min-snr:1", 1e-3, 1},          // noise-dominated
	}
	for _, c := range cases {
		w, err := ParseLossWeight(c.weight)
		if err != nil {
			t.Fatal(err)
		}
		if got := w.At(c.alphaBar); math.Abs(got-c.want) > 1e-9*c.want {
			t.Errorf("%s at ᾱ=%g: %g, want %g", c.weight, c.alphaBar, got, c.want)
		}
	}
}

// TestLossWeightGraph compares the graph weights at every timestep of the
// linear schedule with At.
func TestLossWeightGraph(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	p, err := diffusion.New(small.Diffusion())
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int32, p.NumSteps())
	for k := range idx {
		idx[k] = int32(k)
	}
	ab := p.Schedule().AlphasCumprod
	for _, name := range []string{"trunc-snr:100", "min-snr:5"} {
		w, err := ParseLossWeight(name)
		if err != nil {
			t.Fatal(err)
		}
		out := graph.MustExecOnce(b, func(i *graph.Node) *graph.Node { return w.Graph(p, i) }, idx)
		got := tensors.MustCopyFlatData[float32](out)
		for k, g := range got {
			want := w.At(ab[k])
			if math.Abs(float64(g)-want) > 1e-4*want {
				t.Fatalf("%s at t=%d: graph %g, At %g", name, k, g, want)
			}
		}
	}
	if w, _ := ParseLossWeight(""); w.Graph(p, nil) != nil {
		t.Error("the uniform weight has a graph")
	}
}

// TestSetLossWeight switches a run's weighting after 2 steps. A run that
// saves and resumes after the switch must reach the same weights as one
// that does not, the switch must be recorded, and the weighted run must
// differ from an unweighted one.
func TestSetLossWeight(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	data := tinyData(5)
	run := func(weight string, save bool) *Trainer {
		t.Helper()
		tr, err := New(b, tinyConfig(), data)
		if err != nil {
			t.Fatal(err)
		}
		for s := range 4 {
			if s == 2 {
				if err := tr.SetLossWeight(weight); err != nil {
					t.Fatal(err)
				}
			}
			if s == 3 && save {
				path := filepath.Join(t.TempDir(), "ckpt.safetensors")
				if err := tr.SaveCheckpoint(path); err != nil {
					t.Fatal(err)
				}
				if tr, err = Resume(b, path, data); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := tr.Step(); err != nil {
				t.Fatal(err)
			}
		}
		return tr
	}
	straight := run("trunc-snr:100", false)
	resumed := run("trunc-snr:100", true)
	plain := run("uniform", false)
	want := []Change{{Step: 2, Setting: "loss_weight", From: "uniform", To: "trunc-snr:100"}}
	if c := resumed.Config(); c.LossWeight != "trunc-snr:100" || !slices.Equal(c.History, want) {
		t.Errorf("resumed config: loss weight %q, history %+v; want trunc-snr:100, %+v", c.LossWeight, c.History, want)
	}
	if c := plain.Config(); c.LossWeight != "" || c.History != nil {
		t.Errorf("setting the current weight changed the config to %q, history %+v", c.LossWeight, c.History)
	}
	ws, _ := straight.Weights()
	wr, _ := resumed.Weights()
	wp, _ := plain.Weights()
	differs := false
	for _, name := range ws.Names {
		if string(ws.Tensors[name].Data) != string(wr.Tensors[name].Data) {
			t.Errorf("weight %s differs after resuming a reweighted run", name)
		}
		if string(ws.Tensors[name].Data) != string(wp.Tensors[name].Data) {
			differs = true
		}
	}
	if !differs {
		t.Error("the trunc-snr weighting trained the same weights as the uniform one")
	}
	ema, err := resumed.EMAWeights()
	if err != nil {
		t.Fatal(err)
	}
	if ema.Metadata["loss_weight"] != "trunc-snr:100" || ema.Metadata["history"] != `[{"step":2,"setting":"loss_weight","from":"uniform","to":"trunc-snr:100"}]` {
		t.Errorf("EMA metadata %v lacks the loss weight record", ema.Metadata)
	}
	if err := straight.SetLossWeight("p2:1"); err == nil {
		t.Error("SetLossWeight accepted an unknown weighting")
	}
}

// TestSetLearningRate anneals a run's learning rate after 2 steps: the
// change must be recorded, survive a resume, change the weights, and a
// bad rate must be refused.
func TestSetLearningRate(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	data := tinyData(5)
	run := func(lr float64) *Trainer {
		t.Helper()
		tr, err := New(b, tinyConfig(), data)
		if err != nil {
			t.Fatal(err)
		}
		for s := range 3 {
			if s == 2 {
				if err := tr.SetLearningRate(lr); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := tr.Step(); err != nil {
				t.Fatal(err)
			}
		}
		return tr
	}
	annealed, same := run(1e-4), run(tinyConfig().LearningRate)
	want := []Change{{Step: 2, Setting: "lr", From: "0.001", To: "0.0001"}}
	if c := annealed.Config(); c.LearningRate != 1e-4 || !slices.Equal(c.History, want) {
		t.Errorf("config: lr %g, history %+v; want 1e-4, %+v", c.LearningRate, c.History, want)
	}
	if h := same.Config().History; h != nil {
		t.Errorf("setting the current rate recorded %+v", h)
	}
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	if err := annealed.SaveCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	resumed, err := Resume(b, path, data)
	if err != nil {
		t.Fatal(err)
	}
	if c := resumed.Config(); c.LearningRate != 1e-4 || !slices.Equal(c.History, want) {
		t.Errorf("resumed config: lr %g, history %+v", c.LearningRate, c.History)
	}
	wa, _ := annealed.Weights()
	ws, _ := same.Weights()
	differs := false
	for _, name := range wa.Names {
		if string(wa.Tensors[name].Data) != string(ws.Tensors[name].Data) {
			differs = true
		}
	}
	if !differs {
		t.Error("the annealed step trained the same weights as the unchanged one")
	}
	for _, lr := range []float64{0, -1, math.Inf(1), math.NaN()} {
		if err := annealed.SetLearningRate(lr); err == nil || !strings.Contains(err.Error(), "learning rate") {
			t.Errorf("SetLearningRate(%v): error %v", lr, err)
		}
	}
}
