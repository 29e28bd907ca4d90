package small

import (
	"reflect"
	"testing"

	"github.com/cadps/toolkit/cadps/prior"
)

// TestShippedPriorRecord checks that the shipped prior's file records its
// network and process as a training run writes them: prior.Recorded reads
// back Config and Diffusion.
func TestShippedPriorRecord(t *testing.T) {
	sd, err := Weights()
	if err != nil {
		t.Fatal(err)
	}
	u, d, ok, err := prior.Recorded(sd.Metadata)
	if err != nil || !ok {
		t.Fatalf("the embedded file's network record: %v (a training file: %v)", err, ok)
	}
	if !reflect.DeepEqual(u, Config()) {
		t.Errorf("recorded UNet config %s, Config() is %s", u, Config())
	}
	if !reflect.DeepEqual(d, Diffusion()) {
		t.Errorf("recorded diffusion config %+v, Diffusion() is %+v", d, Diffusion())
	}
}
