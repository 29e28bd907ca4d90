package runs

import (
	"fmt"
	"math"
	"slices"

	"github.com/cadps/toolkit/internal/num"
)

// MaxBaselineGap is the largest difference, in dB, between the baseline
// PSNRs of one test image in two evaluations that PairEvaluations accepts
// as the same measurement: evaluations with the same data, tasks, batch
// and seed measure each image identically, up to the rounding of the
// baseline itself.
const MaxBaselineGap = 1e-3

// EvalDifference summarises the per-image differences a − b of one metric
// in one task.
type EvalDifference struct {
	// Mean is the mean difference, StdErr its standard error (the sample
	// standard deviation over √Images).
	Mean, StdErr float64
	// Wins counts the images where a scores higher, of the Images compared.
	Wins, Images int
}

// Format formats the difference as "+mean ± stderr (wins/images)" with
// the given decimals ("+mean (wins/1)" for one image).
func (d EvalDifference) Format(decimals int) string {
	if math.IsNaN(d.StdErr) {
		return fmt.Sprintf("%+.*f (%d/%d)", decimals, d.Mean, d.Wins, d.Images)
	}
	return fmt.Sprintf("%+.*f ± %.*f (%d/%d)", decimals, d.Mean, decimals, d.StdErr, d.Wins, d.Images)
}

// EvalPair is one task of a paired comparison of two evaluations' methods
// (PairEvaluations).
type EvalPair struct {
	// Task is the task spec, as the evaluations' rows name it.
	Task string
	// PSNR and SSIM are the differences a − b over the task's images that
	// both evaluations restored.
	PSNR, SSIM EvalDifference
	// BaselineGap is the largest difference between the two sides'
	// baseline PSNRs over those images (NaN without baselines).
	BaselineGap float64
}

// PairEvaluations compares method a in the rows ra with method b in the
// rows rb (ReadEvalRows of one evaluation folder each, or both of one),
// test image by test image: for every task of ra, in the order of its
// rows, that has images in both, the differences a − b. The two sides
// must have restored the same measurements: an image whose baseline PSNRs
// differ by more than MaxBaselineGap is refused, naming it. Differences
// between the image sets of two evaluations matter far less paired, since
// most of the spread of a method's mean is between images.
func PairEvaluations(ra []EvalRow, a string, rb []EvalRow, b string) ([]EvalPair, error) {
	type key struct {
		task  string
		index int
	}
	side := func(rows []EvalRow, method string) (map[key]EvalRow, []string, error) {
		byImage := map[key]EvalRow{}
		var tasks []string
		for _, r := range rows {
			if r.Method != method {
				continue
			}
			byImage[key{r.Task, r.Index}] = r
			if !slices.Contains(tasks, r.Task) {
				tasks = append(tasks, r.Task)
			}
		}
		if len(byImage) == 0 {
			return nil, nil, fmt.Errorf("runs: no rows of method %q", method)
		}
		return byImage, tasks, nil
	}
	sa, tasks, err := side(ra, a)
	if err != nil {
		return nil, err
	}
	sb, _, err := side(rb, b)
	if err != nil {
		return nil, err
	}
	var out []EvalPair
	for _, task := range tasks {
		var indices []int
		for k := range sa {
			if _, ok := sb[k]; ok && k.task == task {
				indices = append(indices, k.index)
			}
		}
		if len(indices) == 0 {
			continue
		}
		slices.Sort(indices) // image order, for reproducible sums
		var psnr, ssim []float64
		var psnrWins, ssimWins int
		gap := math.NaN()
		for _, i := range indices {
			x, y := sa[key{task, i}], sb[key{task, i}]
			if g := math.Abs(x.BasePSNR - y.BasePSNR); !math.IsNaN(g) {
				if g > MaxBaselineGap {
					return nil, fmt.Errorf("runs: %s, image %d: the baselines differ by %.3g dB (%.4f and %.4f): the two sides restored different measurements (another data set, batch or seed), so their differences are not paired",
						task, i, g, x.BasePSNR, y.BasePSNR)
				}
				if math.IsNaN(gap) || g > gap {
					gap = g
				}
			}
			psnr = append(psnr, x.PSNR-y.PSNR)
			ssim = append(ssim, x.SSIM-y.SSIM)
			if x.PSNR > y.PSNR {
				psnrWins++
			}
			if x.SSIM > y.SSIM {
				ssimWins++
			}
		}
		out = append(out, EvalPair{Task: task, PSNR: evalDifference(psnr, psnrWins), SSIM: evalDifference(ssim, ssimWins), BaselineGap: gap})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("runs: methods %q and %q have no task and test image in common", a, b)
	}
	return out, nil
}

// evalDifference summarises the differences d, of which wins are positive.
func evalDifference(d []float64, wins int) EvalDifference {
	mean, std := num.MeanStd(d)
	se := math.NaN()
	if len(d) > 1 {
		se = std / math.Sqrt(float64(len(d)))
	}
	return EvalDifference{Mean: mean, StdErr: se, Wins: wins, Images: len(d)}
}
