package metrics

import (
	"encoding/json"
	"math"
	"testing"
)

func TestNumberJSON(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		text string
	}{
		{1.5, `1.5`}, {0, `0`}, {-2e-9, `-2e-09`},
		{math.Inf(1), `"+Inf"`}, {math.Inf(-1), `"-Inf"`}, {math.NaN(), `"NaN"`},
	} {
		b, err := json.Marshal(Number(tc.v))
		if err != nil || string(b) != tc.text {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.v, b, err, tc.text)
		}
		var back Number
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if f := float64(back); f != tc.v && !(math.IsNaN(f) && math.IsNaN(tc.v)) {
			t.Errorf("round trip of %v gave %v", tc.v, f)
		}
	}
	var n Number
	if err := json.Unmarshal([]byte(`"lots"`), &n); err == nil {
		t.Error(`"lots" decoded as a number`)
	}
}
