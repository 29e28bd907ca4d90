package runs

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/metrics"
)

// TestTableLPIPS tabulates records with and without LPIPS distances: the
// LPIPS column appears only when some item has one, averages only those
// items, and says how many they are when not all; the note below names
// the LPIPS network and weights (Table.LPIPS), or says they are not
// recorded; a record written without LPIPS decodes with none.
func TestTableLPIPS(t *testing.T) {
	rec := func(method string, index int, psnr float64, lpips ...float64) *Record {
		r := &Record{Task: "sr", Method: method, Index: index, Status: StatusOK, PSNR: metrics.Number(psnr), SSIM: 0.5}
		if len(lpips) > 0 {
			r.LPIPS = new(metrics.Number(lpips[0]))
		}
		return r
	}
	for _, tc := range []struct {
		name        string
		recs        []*Record
		lpips       string
		want, avoid []string
	}{
		{"without", []*Record{rec("dps", 0, 20), rec("dps", 1, 22)}, "",
			[]string{"| sr | dps | 2 | 21.00 ± 1.41 | 0.5000 ± 0.0000 | 0 |"}, []string{"LPIPS"}},
		{"with", []*Record{rec("dps", 0, 20, 0.1), rec("dps", 1, 22, 0.3)}, "alex: backbone a.pth sha256 0123456789abcdef, linear layers v0.1 (shipped)",
			[]string{"| PSNR (dB) | SSIM | LPIPS | failed |", "| sr | dps | 2 | 21.00 ± 1.41 | 0.5000 ± 0.0000 | 0.2000 ± 0.1414 | 0 |",
				"LPIPS, lower is closer, with alex: backbone a.pth sha256 0123456789abcdef, linear layers v0.1 (shipped))."}, nil},
		{"some, weights not recorded", []*Record{rec("cadps", 0, 20), rec("cadps", 1, 22, 0.3), rec("dps", 0, 20)}, "",
			[]string{"| sr | cadps | 2 | 21.00 ± 1.41 | 0.5000 ± 0.0000 | 0.3000 ± 0.0000 (1 of 2 images) | 0 |", "| sr | dps | 1 | 20.00 ± 0.00 | 0.5000 ± 0.0000 | – | 0 |",
				"LPIPS, lower is closer, with a network and weights not recorded)."}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := (&Table{Rows: summarise(tc.recs), LPIPS: tc.lpips}).Markdown()
			for _, w := range tc.want {
				if !strings.Contains(md, w) {
					t.Errorf("table lacks %q:\n%s", w, md)
				}
			}
			for _, a := range tc.avoid {
				if strings.Contains(md, a) {
					t.Errorf("table has %q:\n%s", a, md)
				}
			}
		})
	}
	var old Record
	if err := json.Unmarshal([]byte(`{"task":"sr","method":"dps","index":0,"status":"ok","psnr":20,"ssim":0.5}`), &old); err != nil || old.LPIPS != nil {
		t.Errorf("record without lpips: LPIPS %v, err %v", old.LPIPS, err)
	}
	data, err := json.Marshal(rec("dps", 0, 20, 0.25))
	if err != nil || !strings.Contains(string(data), `"lpips":0.25`) {
		t.Errorf("record with LPIPS encodes as %s (%v)", data, err)
	}
}
