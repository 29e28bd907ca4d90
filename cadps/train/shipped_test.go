package train

import (
	"reflect"
	"testing"

	"github.com/cadps/toolkit/cadps/prior/small"
)

// TestShippedPriorRecord checks that the shipped prior's file records its
// network and process as a training run writes them: RecordedNetwork reads
// back small.Config and small.Diffusion.
func TestShippedPriorRecord(t *testing.T) {
	sd, err := small.Weights()
	if err != nil {
		t.Fatal(err)
	}
	u, d, ok, err := RecordedNetwork(sd.Metadata)
	if err != nil || !ok {
		t.Fatalf("the embedded file's network record: %v (a training file: %v)", err, ok)
	}
	if !reflect.DeepEqual(u, small.Config()) {
		t.Errorf("recorded UNet config %s, small.Config() is %s", u, small.Config())
	}
	if !reflect.DeepEqual(d, small.Diffusion()) {
		t.Errorf("recorded diffusion config %+v, small.Diffusion() is %+v", d, small.Diffusion())
	}
}
