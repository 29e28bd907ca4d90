package restore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestTrainedPriorAsConfig gives a file in the format cadps train writes as
// the model config: the prior takes the network and the process the file
// records and the file as its weights, as if the config and weights had
// been given apart. A training checkpoint, a safetensors file that records
// no network, and the file given as weights to another network are
// refused with messages that say what to give instead.
func TestTrainedPriorAsConfig(t *testing.T) {
	spec := fixtureSpec(t, "learned")
	want, err := LoadPrior(spec)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := checkpoints.Load(spec.Weights)
	if err != nil {
		t.Fatal(err)
	}
	unetJSON, err := json.Marshal(want.Model.Config())
	if err != nil {
		t.Fatal(err)
	}
	process := diffusion.Config{Steps: 1000, NoiseSchedule: "cosine", MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarLearnedRange}
	processJSON, err := json.Marshal(process)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, md map[string]string) string {
		t.Helper()
		sd.Metadata = md
		path := filepath.Join(dir, name)
		if err := checkpoints.SaveSafetensors(path, sd); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ema := write("ema.safetensors", map[string]string{"format": "cadps-train", "unet": string(unetJSON), "diffusion": string(processJSON), "step": "7"})
	got, err := LoadPrior(ModelSpec{ConfigPath: ema})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Model.Config(), want.Model.Config()) || got.Weights != ema {
		t.Errorf("network %s from %s, want %s from %s", got.Model.Config(), got.Weights, want.Model.Config(), ema)
	}
	process.ClipDenoised = true
	if !reflect.DeepEqual(got.Diffusion, process) {
		t.Errorf("process %+v, want the recorded one with x̂0 clipped, %+v", got.Diffusion, process)
	}
	gotDigest, err := got.WeightsDigest()
	if err != nil {
		t.Fatal(err)
	}
	if wantDigest, _ := (&Prior{Weights: ema}).WeightsDigest(); gotDigest != wantDigest {
		t.Errorf("weights digest %s, want the file's %s", gotDigest, wantDigest)
	}

	checkpoint := write("checkpoint.safetensors", map[string]string{"format": "cadps-train", "unet": string(unetJSON), "config": "{}"})
	plain := write("plain.safetensors", map[string]string{"format": "pt"})
	for _, tc := range []struct {
		name string
		spec ModelSpec
		want string
	}{
		{"training checkpoint", ModelSpec{ConfigPath: checkpoint}, "a training checkpoint, the run's whole state; its prior is the ema.safetensors beside it"},
		{"safetensors without a record", ModelSpec{ConfigPath: plain}, "a safetensors file that records no network (only the files cadps train writes do)"},
		{"as weights of another network", ModelSpec{Name: SmallPriorName, Weights: ema}, "the file records another network, its own: give it as the model config instead"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadPrior(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line containing %q", err, tc.want)
			}
		})
	}
}

// TestLoadPriorErrors checks that the errors of files that do not make a
// prior are one line that names the file and says what to do: weights of
// another architecture list their first mismatched tensors with both
// shapes and the option that differs, weights cut short are said to be
// unreadable, not mismatched, a config's model_path that cannot
// be read says how it was resolved, and a training record without its
// diffusion process names the file.
func TestLoadPriorErrors(t *testing.T) {
	spec := fixtureSpec(t, "learned")
	good, err := LoadPrior(spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeJSON := func(name string, v any) string {
		t.Helper()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cfg := good.Model.Config()
	cfg.UseScaleShiftNorm = !cfg.UseScaleShiftNorm
	noScaleShift := writeJSON("noss.json", cfg)
	// A YAML config as the reference writes it (JSON is YAML), naming
	// weights relative to the folder it lies in.
	var kwargs map[string]any
	raw, _ := json.Marshal(good.Model.Config())
	if err := json.Unmarshal(raw, &kwargs); err != nil {
		t.Fatal(err)
	}
	kwargs["model_path"] = "models/model.pt"
	yamlConfig := writeJSON("model_config.yaml", kwargs)

	sd, err := checkpoints.Load(spec.Weights)
	if err != nil {
		t.Fatal(err)
	}
	unetJSON, _ := json.Marshal(good.Model.Config())
	sd.Metadata = map[string]string{"format": "cadps-train", "unet": string(unetJSON), "step": "7"}
	noProcess := filepath.Join(dir, "ema.safetensors")
	if err := checkpoints.SaveSafetensors(noProcess, sd); err != nil {
		t.Fatal(err)
	}
	nanSD, err := checkpoints.Load(spec.Weights)
	if err != nil {
		t.Fatal(err)
	}
	bias, err := nanSD.Get("input_blocks.0.0.bias")
	if err != nil {
		t.Fatal(err)
	}
	bias.DType, bias.Data = checkpoints.F32, make([]byte, 4*bias.NumElements())
	binary.LittleEndian.PutUint32(bias.Data[4:], math.Float32bits(float32(math.NaN())))
	nanWeights := filepath.Join(dir, "nan.safetensors")
	if err := checkpoints.SaveSafetensors(nanWeights, nanSD); err != nil {
		t.Fatal(err)
	}
	weights, err := os.ReadFile(spec.Weights)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "half"+filepath.Ext(spec.Weights))
	if err := os.WriteFile(truncated, weights[:len(weights)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec ModelSpec
		want []string
	}{
		{"weights cut short", ModelSpec{ConfigPath: spec.ConfigPath, Weights: truncated}, []string{
			"restore: reading the weights " + truncated + " of model " + spec.ConfigPath + ": checkpoints: " + truncated,
			"truncated",
		}},
		{"weights with a NaN", ModelSpec{ConfigPath: spec.ConfigPath, Weights: nanWeights}, []string{
			"restore: reading the weights " + nanWeights + " of model " + spec.ConfigPath + ": checkpoints: " + nanWeights +
				`: tensor "input_blocks.0.0.bias" holds a non-finite value, NaN, at element 1 of `,
		}},
		{"weights of another architecture", ModelSpec{ConfigPath: noScaleShift, Weights: spec.Weights}, []string{
			"restore: weights " + spec.Weights + " do not fit model " + noScaleShift,
			"with the wrong shape; hint: the file's residual blocks project the timestep embedding to a scale and a shift, twice their channels",
			"use_scale_shift_norm=True",
			"; wrong shape: input_blocks.1.0.emb_layers.1.weight (file [64 128], wanted [32 128]), ",
			"input_blocks.1.0.emb_layers.1.bias (file [64], wanted [32]), input_blocks.2.0.emb_layers.1.weight (file [64 128], wanted [32 128]) and 27 more",
		}},
		{"model_path that cannot be read", ModelSpec{ConfigPath: yamlConfig}, []string{
			"model config " + yamlConfig + " names the weights models/model.pt in its model_path, resolved from the current directory (",
			"not from the config's folder", "no such file", "or give the weights file",
		}},
		{"record without a process", ModelSpec{ConfigPath: noProcess}, []string{
			"model config " + noProcess + ": prior: the file records its network but not its diffusion process",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadPrior(tc.spec)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error of several lines:\n%s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if n := strings.Count(msg, `"image_size"`); n > 1 {
				t.Errorf("the configuration is repeated %d times: %s", n, msg)
			}
		})
	}
}

// TestIncompletePrior checks that a Prior built by hand without its model
// or its weights is refused by New and Sample with an error naming the
// missing field. Without a model both panicked with a nil pointer
// dereference; without weights New accepted the prior, and only its first
// restoration failed.
func TestIncompletePrior(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unet.New(unet.Config{ImageSize: 8, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2",
		NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		prior *Prior
		want  string
	}{
		{"no model", &Prior{Name: "mine", Ctx: context.New()}, `restore: prior "mine" has no model (Prior.Model is nil`},
		{"no weights", &Prior{Name: "mine", Model: m}, `restore: prior "mine" has no weights (Prior.Ctx is nil`},
	} {
		for _, call := range []struct {
			name string
			run  func() error
		}{
			{"New", func() error {
				_, err := New(b, tc.prior, Options{Task: SpecTask("super_resolution:factor=2"), Method: "dps", Steps: 2})
				return err
			}},
			{"Sample", func() error { _, err := tc.prior.Sample(b, 1, 2, false, 0); return err }},
		} {
			t.Run(tc.name+", "+call.name, func(t *testing.T) {
				if err := call.run(); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want one containing %q", err, tc.want)
				}
			})
		}
	}
}

// TestWeightsDigest: a weights file's digest is its SHA-256, and a file
// named as torch.hub names downloads must match the hash its name gives.
func TestWeightsDigest(t *testing.T) {
	dir := t.TempDir()
	data := []byte("not really a checkpoint, but bytes to hash")
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	for _, c := range []struct {
		name, want, wantErr string
	}{
		{"model.pt", "sha256:" + hexSum, ""},
		{"model-" + hexSum[:8] + ".pt", "sha256:" + hexSum, ""},
		{"model-deadbeef.pt", "", "its name says its SHA-256 starts with deadbeef"},
	} {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := (&Prior{Weights: path}).WeightsDigest()
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", c.name, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}
