package restore

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/checkpoints"
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
	if got.Diffusion != process {
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
