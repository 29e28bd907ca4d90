package restore

import (
	"encoding/json"
	"math"
	"testing"
)

// TestMetricsJSON checks that an infinite PSNR survives a JSON round trip.
func TestMetricsJSON(t *testing.T) {
	m := Metrics{PSNR: math.Inf(1), SSIM: 1}
	b, err := json.Marshal(m)
	if err != nil || string(b) != `{"psnr":"+Inf","ssim":1}` {
		t.Fatalf("Metrics JSON %s, %v", b, err)
	}
	var back Metrics
	if err := json.Unmarshal(b, &back); err != nil || back != m {
		t.Errorf("Metrics round trip %+v, %v", back, err)
	}
}
