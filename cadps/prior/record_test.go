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
