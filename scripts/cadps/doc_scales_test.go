package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
)

// dpsScalesSR and dpsScalesInpainting match the docs' statements of DPS's
// default step sizes, in either order: "0.3 for super-resolution and the
// blurs, 0.5 for inpainting, 1.0 for phase retrieval" and "ζ = 0.5 for
// inpainting, 0.3 for SR and blur, 1 for phase retrieval" (the last part
// optional).
var (
	dpsScalesSR = regexp.MustCompile(`([0-9.]*[0-9]) for (?:super-resolution|SR) and (?:the |both )?blurs?, ` +
		`([0-9.]*[0-9]) for (?:box )?inpainting(?:, ([0-9.]*[0-9]) for phase retrieval)?`)
	dpsScalesInpainting = regexp.MustCompile(`([0-9.]*[0-9]) for (?:box )?inpainting, ` +
		`([0-9.]*[0-9]) for (?:super-resolution|SR) and (?:the |both )?blurs?(?:, ([0-9.]*[0-9]) for phase retrieval)?`)
)

// TestDocumentedDPSScales checks every statement of DPS's default step
// sizes in the docs against guidance.DefaultScale: each page listed must
// state them, and each statement must give the values DPS and CA-DPS run
// with when -scale is not given.
func TestDocumentedDPSScales(t *testing.T) {
	dps, err := guidance.New("dps", guidance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := func(k ops.Kind) float64 { return guidance.DefaultScale(dps, k) }
	for _, page := range []string{"cadps-gauss.md", "methods.md", "operators.md", "reproduce-paper.md", "results.md", "small-prior.md"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "docs", page))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(strings.Fields(string(data)), " ")
		var found int
		check := func(re *regexp.Regexp, kinds [3]ops.Kind) {
			for _, m := range re.FindAllStringSubmatch(text, -1) {
				found++
				for i, k := range kinds {
					if m[i+1] == "" {
						continue
					}
					got, err := strconv.ParseFloat(m[i+1], 64)
					if err != nil || got != want(k) {
						t.Errorf("docs/%s: %q gives %s for %s; DPS's default is %g", page, m[0], m[i+1], k, want(k))
					}
				}
			}
		}
		check(dpsScalesSR, [3]ops.Kind{ops.KindSuperResolution, ops.KindInpainting, ops.KindPhaseRetrieval})
		check(dpsScalesInpainting, [3]ops.Kind{ops.KindInpainting, ops.KindSuperResolution, ops.KindPhaseRetrieval})
		if found == 0 {
			t.Errorf("docs/%s no longer states DPS's default step sizes in a form this test reads", page)
		}
	}
	if want(ops.KindBlur) != want(ops.KindSuperResolution) {
		t.Errorf("the docs give one step size for super-resolution and the blurs; DefaultScale gives %g and %g", want(ops.KindSuperResolution), want(ops.KindBlur))
	}
}
