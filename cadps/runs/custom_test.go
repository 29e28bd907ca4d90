package runs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// handDPS is DPS written as a method of one's own, with a revision.
type handDPS struct {
	name     string
	revision int
}

func (m handDPS) Name() string  { return m.name }
func (m handDPS) Revision() int { return m.revision }

func (handDPS) Step(s *guidance.Step) guidance.Result {
	mv := s.Denoise(s.X, s.I)
	grad, norm := s.NormGradient(mv.PredXStart)
	return guidance.Result{Next: graph.Sub(s.Prior(mv), s.Scaled(grad)), PredXStart: mv.PredXStart, Residual: norm}
}

// TestReproductionCustomMethod runs a method of one's own beside the
// toolkit's in a reproduction: DPS written by hand gives dps's
// reconstructions byte for byte (every method of an item has the item's
// seed), and its records and settings name it.
func TestReproductionCustomMethod(t *testing.T) {
	b, prior := shippedPrior(t)
	images, err := filepath.Glob("../prior/small/testimages/*.png")
	if err != nil || len(images) < 2 {
		t.Fatalf("test images: %v, %v", images, err)
	}
	out := t.TempDir()
	rep := &Reproduction{
		Out: out, Backend: b, Prior: prior, Options: restore.Options{Steps: 2},
		Tasks:   []TaskSetup{{Task: restore.SpecTask("sr:factor=2")}},
		Methods: []string{"dps", "hand-dps"}, Custom: []guidance.Method{handDPS{name: "hand-dps", revision: 2}},
		Images: images[:2], GridRows: -1,
	}
	sum, err := rep.Run()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 4 {
		t.Fatalf("%d items done, want 4", sum.Done)
	}
	for _, it := range rep.Items() {
		if it.Method != "hand-dps" {
			continue
		}
		mine := readText(t, it.Path(out, ReconDir))
		it.Method = "dps"
		if mine != readText(t, it.Path(out, ReconDir)) {
			t.Errorf("image %d: hand-dps's reconstruction differs from dps's", it.Index)
		}
	}
	settings := readText(t, filepath.Join(out, SettingsFile))
	if !strings.Contains(settings, `"method": "hand-dps"`) || !strings.Contains(settings, `"method_revision": 2`) {
		t.Errorf("reproduce.json does not record hand-dps at revision 2:\n%s", settings)
	}
	// A changed method of one's own, with a new revision, is another run.
	rep.Custom = []guidance.Method{handDPS{name: "hand-dps", revision: 3}}
	if _, err := rep.Run(); err == nil || !strings.Contains(err.Error(), "method_revision: was 2, now 3") {
		t.Errorf("a new revision of hand-dps: error %v", err)
	}
}

// TestCustomMethodRefusals checks the methods of one's own a run refuses.
func TestCustomMethodRefusals(t *testing.T) {
	b, prior := shippedPrior(t)
	for _, tc := range []struct {
		name    string
		methods []string
		custom  []guidance.Method
		want    string
	}{
		{"not in the method list", []string{"dps"}, []guidance.Method{handDPS{name: "hand-dps"}}, `the method of one's own "hand-dps" is not in the method list`},
		{"a toolkit name", []string{"dps"}, []guidance.Method{handDPS{name: "dps"}}, `is named "dps" like the toolkit's method`},
		{"two of one name", []string{"mine"}, []guidance.Method{handDPS{name: "mine"}, handDPS{name: "mine", revision: 1}}, `two methods of one's own are named "mine"`},
		{"no name", []string{"dps"}, []guidance.Method{handDPS{}}, "has an empty Name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := &Reproduction{Out: t.TempDir(), Backend: b, Prior: prior, Options: restore.Options{Steps: 2},
				Tasks: []TaskSetup{{Task: restore.SpecTask("sr:factor=2")}}, Methods: tc.methods, Custom: tc.custom, Images: []string{"../prior/small/testimages/0-tshirt.png"}}
			if _, err := rep.Run(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("reproduction: error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestEvaluationCustomMethod evaluates a method of one's own beside dps:
// its rows equal dps's, settings.json records its revision, and a new
// revision is refused on resume.
func TestEvaluationCustomMethod(t *testing.T) {
	_, prior := shippedPrior(t)
	digest, noise := evalSetup(t, prior)
	out := t.TempDir()
	eval := func(revision int) (*Evaluation, error) {
		ev := &Evaluation{
			Out: out, Noise: noise, Prior: prior, PriorSpec: restore.ModelSpec{Name: restore.SmallPriorName}, Jobs: 2, Log: &bytes.Buffer{},
			Images: testSetImages(t, "../prior/small/testimages", 2, prior.ImageShape()),
			Settings: EvalSettings{Data: "cadps/prior/small/testimages", Count: 2, Batch: 1, Tasks: []string{"sr:factor=2"},
				Methods: []string{"dps", "hand-dps"}, Steps: 2, Noise: "gaussian:sigma=0.05", Model: "small", Digest: digest},
			Custom: []guidance.Method{handDPS{name: "hand-dps", revision: revision}},
		}
		_, err := ev.Run()
		return ev, err
	}
	if _, err := eval(1); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadEvalRows(filepath.Join(out, EvalResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	psnr := map[string]map[int]float64{}
	for _, r := range rows {
		if psnr[r.Method] == nil {
			psnr[r.Method] = map[int]float64{}
		}
		psnr[r.Method][r.Index] = r.PSNR
	}
	if len(psnr["hand-dps"]) != 2 || psnr["hand-dps"][0] != psnr["dps"][0] || psnr["hand-dps"][1] != psnr["dps"][1] {
		t.Errorf("PSNR by method and image %v: want hand-dps's equal to dps's", psnr)
	}
	settings, err := os.ReadFile(filepath.Join(out, EvalSettingsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(settings), `"hand-dps": 1`) {
		t.Errorf("settings.json does not record hand-dps's revision:\n%s", settings)
	}
	if _, err := eval(2); err == nil || !strings.Contains(err.Error(), "revision 1 of method hand-dps; this build runs revision 2") {
		t.Errorf("a new revision of hand-dps: error %v", err)
	}
}
