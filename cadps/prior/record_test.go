package prior

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/unet"
)

func TestRecord(t *testing.T) {
	u := unet.Config{ImageSize: 32, InChannels: 1, NumChannels: 16, NumResBlocks: 1, ChannelMult: "1,2"}
	d := diffusion.Config{Steps: 1000, NoiseSchedule: "linear"}
	md, err := Metadata(u, d, 42)
	if err != nil {
		t.Fatal(err)
	}
	if md["format"] != "cadps-train" || md["step"] != "42" {
		t.Fatalf("metadata %v: want format cadps-train and step 42", md)
	}
	gu, gd, ok, err := Recorded(md)
	if err != nil || !ok {
		t.Fatalf("Recorded: %v, %v", ok, err)
	}
	if !reflect.DeepEqual(gu, u) || !reflect.DeepEqual(gd, d) {
		t.Errorf("read back %+v, %+v; wrote %+v, %+v", gu, gd, u, d)
	}
	if n, err := Steps(md); err != nil || n != 42 {
		t.Errorf("Steps: %d, %v", n, err)
	}

	for _, c := range []struct {
		name    string
		md      map[string]string
		ok      bool
		wantErr string
	}{
		{"other format", map[string]string{"format": "pt", "unet": md["unet"]}, false, ""},
		{"no network", map[string]string{"format": Format}, false, ""},
		{"training checkpoint", map[string]string{"format": Format, "unet": md["unet"], "config": "{}"}, false, "ema.safetensors"},
		{"bad network", map[string]string{"format": Format, "unet": "{"}, false, "network record"},
		{"bad process", map[string]string{"format": Format, "unet": md["unet"], "diffusion": "["}, false, "diffusion record"},
		{"no process", map[string]string{"format": Format, "unet": md["unet"]}, false, `not its diffusion process (no metadata "diffusion"`},
		{"unknown network field", map[string]string{"format": Format, "unet": `{"image_size":32,"num_chanels":16}`, "diffusion": md["diffusion"]}, false, `network record (metadata "unet"): json: unknown field "num_chanels"`},
		{"unknown process field", map[string]string{"format": Format, "unet": md["unet"], "diffusion": `{"Steps":1000,"Schedule":"linear"}`}, false, `diffusion record (metadata "diffusion"): json: unknown field "Schedule"`},
		{"two values", map[string]string{"format": Format, "unet": md["unet"], "diffusion": md["diffusion"] + "{}"}, false, "more than one JSON value"},
	} {
		_, _, ok, err := Recorded(c.md)
		if ok != c.ok || (err == nil) != (c.wantErr == "") || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: ok %v, error %v; want ok %v and an error naming %q", c.name, ok, err, c.ok, c.wantErr)
		}
	}
	if _, err := Steps(map[string]string{}); err == nil {
		t.Error("Steps accepted metadata without a step")
	}
}

// TestSteps checks that Steps reads a count of steps and refuses, naming
// the record, one that is missing, malformed or negative (which it took
// as a count, or called missing), and that Metadata refuses a negative
// count.
func TestSteps(t *testing.T) {
	for _, tc := range []struct {
		name string
		md   map[string]string
		want int64
		err  string // error substring; "" for success
	}{
		{"count", map[string]string{KeyStep: "42"}, 42, ""},
		{"zero", map[string]string{KeyStep: "0"}, 0, ""},
		{"missing", map[string]string{}, 0, `prior: no step record (metadata "step")`},
		{"malformed", map[string]string{KeyStep: "4x"}, 0, `the step record (metadata "step") is "4x", not a count of steps`},
		{"empty", map[string]string{KeyStep: ""}, 0, `is "", not a count of steps`},
		{"negative", map[string]string{KeyStep: "-5"}, 0, `is "-5", not a count of steps`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Steps(tc.md)
			switch {
			case tc.err == "" && (err != nil || n != tc.want):
				t.Fatalf("Steps = %d, %v; want %d", n, err, tc.want)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Steps = %d, %v; want an error containing %q", n, err, tc.err)
			}
		})
	}
	if _, err := Metadata(unet.Config{}, diffusion.Config{}, -1); err == nil || !strings.Contains(err.Error(), "-1 training steps") {
		t.Errorf("Metadata with -1 steps: error %v, want one naming the count", err)
	}
}
