package runs

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/cadps/toolkit/ops"
)

// MaxBaselineGap is the largest difference, in dB, between the baseline
// PSNRs of one test image in two evaluations that PairEvaluations accepts
// as the same measurement: evaluations with the same data, tasks, batch
// and seed measure each image identically, up to the rounding of the
// baseline itself.
const MaxBaselineGap = 1e-3

// The reasons an EvalDifference compares no image (EvalDifference.Unpaired).
const (
	// UnpairedNoTask: the other evaluation has no row of the task.
	UnpairedNoTask = "no rows of this task"
	// UnpairedNoImage: both have rows of the task, of different images.
	UnpairedNoImage = "no test image in common"
	// UnpairedNoLPIPS: the images in common lack LPIPS on one side or
	// both (evaluations run without -lpips).
	UnpairedNoLPIPS = "no LPIPS recorded"
)

// EvalDifference summarises the per-image differences a − b of one metric
// in one task.
type EvalDifference struct {
	// Mean is the mean difference, StdErr its standard error (the sample
	// standard deviation over √Images; NaN for one image).
	Mean, StdErr float64
	// Wins counts the images where a scores better, of the Images
	// compared: a higher PSNR or SSIM, a lower LPIPS.
	Wins, Images int
	// Unpaired says why no image was compared (one of the Unpaired…
	// reasons) when Images is 0.
	Unpaired string
}

// String formats the difference as "+mean ± stderr (wins/images)", the
// standard error to its first two significant digits and the mean to the
// same decimal place (FormatDifference); "+mean (wins/1)" for one image,
// and "– (why)" for none.
func (d EvalDifference) String() string {
	if d.Images == 0 {
		return "– (" + d.Unpaired + ")"
	}
	return fmt.Sprintf("%s (%d/%d)", FormatDifference(d.Mean, d.StdErr), d.Wins, d.Images)
}

// FormatDifference formats a mean difference and its standard error as
// "+mean ± stderr": the standard error to its first two significant
// digits (all of its integer digits from 10 on) and the mean, signed, to
// the same decimal place, so that 0.0255 ± 0.00242 reads "+0.0255 ±
// 0.0024" and 3.8213 ± 0.3814 "+3.82 ± 0.38". Without a standard error
// (NaN, from one value) it is the mean alone, to three significant digits;
// with a zero one, the mean to three significant digits ± 0.
func FormatDifference(mean, stdErr float64) string {
	switch {
	case math.IsNaN(mean) || math.IsInf(mean, 0):
		return fmt.Sprintf("%+v", mean)
	case math.IsNaN(stdErr):
		return fmt.Sprintf("%+.*f", significantDecimals(mean, 3), mean)
	case stdErr == 0:
		return fmt.Sprintf("%+.*f ± 0", significantDecimals(mean, 3), mean)
	case math.IsInf(stdErr, 0):
		return fmt.Sprintf("%+.*f ± %v", significantDecimals(mean, 3), mean, stdErr)
	}
	d := significantDecimals(stdErr, 2)
	return fmt.Sprintf("%+.*f ± %.*f", d, mean, d, stdErr)
}

// significantDecimals returns the decimals that show the first n
// significant digits of x in fixed-point notation (0 where its integer
// part has n digits or more, and for 0).
func significantDecimals(x float64, n int) int {
	x = math.Abs(x)
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	d := max(0, n-1-int(math.Floor(math.Log10(x))))
	// Rounding may carry into one more digit (0.00996 to 2 digits is
	// 0.010, not 0.0100); Log10 may also land one below a power of ten.
	if d > 0 && math.Round(x*math.Pow10(d)) >= math.Pow10(n) {
		d--
	}
	return d
}

// EvalPair is one task of a paired comparison of two evaluations' methods
// (PairEvaluations).
type EvalPair struct {
	// Task is the task spec, as the base's rows name it.
	Task string
	// PSNR, SSIM and LPIPS are the differences a − b over the task's
	// images that both evaluations restored (for LPIPS, those with LPIPS
	// recorded on both sides).
	PSNR, SSIM, LPIPS EvalDifference
	// BaselineGap is the largest difference between the two sides'
	// baseline PSNRs over those images (NaN without baselines or images).
	BaselineGap float64
}

// PairEvaluations compares method a in the rows ra with method b, the
// base, in the rows rb (ReadEvalRows of one evaluation folder each, or
// both of one), test image by test image: for every task of rb, in the
// order of its rows, the differences a − b over the images both restored.
// A task of the base that a has no image of is kept, its differences
// saying why (EvalDifference.Unpaired). Tasks are matched by their
// canonical form (ops.CanonicalTask), so that a results.csv spelling a
// task's parameters in another order still pairs. The two sides must have
// restored the same measurements: an image whose baseline PSNRs differ by
// more than MaxBaselineGap is refused, naming it. Differences between the
// image sets of two evaluations matter far less paired, since most of the
// spread of a method's mean is between images. Two sides with no task and
// test image in common are refused.
func PairEvaluations(ra []EvalRow, a string, rb []EvalRow, b string) ([]EvalPair, error) {
	type key struct {
		task  string // canonical
		index int
	}
	type sideRows struct {
		byImage map[key]EvalRow
		tasks   []string // canonical, in the order of the rows
		spelt   map[string]string
	}
	side := func(rows []EvalRow, method string) (sideRows, error) {
		s := sideRows{byImage: map[key]EvalRow{}, spelt: map[string]string{}}
		for _, r := range rows {
			if r.Method != method {
				continue
			}
			task := canonicalTask(r.Task)
			s.byImage[key{task, r.Index}] = r
			if _, ok := s.spelt[task]; !ok {
				s.spelt[task] = r.Task
				s.tasks = append(s.tasks, task)
			}
		}
		if len(s.byImage) == 0 {
			var have []string
			for _, r := range rows {
				if !slices.Contains(have, r.Method) {
					have = append(have, r.Method)
				}
			}
			if len(have) == 0 {
				return s, fmt.Errorf("runs: no rows of method %q: the folder holds no rows", method)
			}
			return s, fmt.Errorf("runs: no rows of method %q (the folder's methods: %s)", method, strings.Join(have, ", "))
		}
		return s, nil
	}
	sa, err := side(ra, a)
	if err != nil {
		return nil, err
	}
	sb, err := side(rb, b)
	if err != nil {
		return nil, err
	}
	var out []EvalPair
	paired := false
	for _, task := range sb.tasks {
		var indices []int
		for k := range sb.byImage {
			if _, ok := sa.byImage[k]; ok && k.task == task {
				indices = append(indices, k.index)
			}
		}
		pair := EvalPair{Task: sb.spelt[task], BaselineGap: math.NaN()}
		if len(indices) == 0 {
			why := UnpairedNoTask
			if _, ok := sa.spelt[task]; ok {
				why = UnpairedNoImage
			}
			none := EvalDifference{Mean: math.NaN(), StdErr: math.NaN(), Unpaired: why}
			pair.PSNR, pair.SSIM, pair.LPIPS = none, none, none
			out = append(out, pair)
			continue
		}
		paired = true
		slices.Sort(indices) // image order, for reproducible sums
		var psnr, ssim, lpips differences
		for _, i := range indices {
			x, y := sa.byImage[key{task, i}], sb.byImage[key{task, i}]
			if g := math.Abs(x.BasePSNR - y.BasePSNR); !math.IsNaN(g) {
				if g > MaxBaselineGap {
					return nil, fmt.Errorf("runs: %s, image %d: the baselines differ by %.3g dB (%.4f and %.4f): the two sides restored different measurements (another data set, batch or seed), so their differences are not paired",
						pair.Task, i, g, x.BasePSNR, y.BasePSNR)
				}
				if math.IsNaN(pair.BaselineGap) || g > pair.BaselineGap {
					pair.BaselineGap = g
				}
			}
			psnr.add(x.PSNR-y.PSNR, x.PSNR > y.PSNR)
			ssim.add(x.SSIM-y.SSIM, x.SSIM > y.SSIM)
			if !math.IsNaN(x.LPIPS) && !math.IsNaN(y.LPIPS) {
				lpips.add(x.LPIPS-y.LPIPS, x.LPIPS < y.LPIPS)
			}
		}
		pair.PSNR, pair.SSIM, pair.LPIPS = psnr.evalDifference(""), ssim.evalDifference(""), lpips.evalDifference(UnpairedNoLPIPS)
		out = append(out, pair)
	}
	if !paired {
		return nil, fmt.Errorf("runs: methods %q and %q have no task and test image in common", a, b)
	}
	return out, nil
}

// canonicalTask is ops.CanonicalTask's form of a recorded task, or the
// task with the spaces around it dropped where it names no task ops knows.
func canonicalTask(task string) string {
	if c, err := ops.CanonicalTask(task); err == nil {
		return c
	}
	return strings.TrimSpace(task)
}

// evalDifference returns the differences as an EvalDifference, with
// unpaired as the reason where there is none.
func (d *differences) evalDifference(unpaired string) EvalDifference {
	mean, se := d.meanStdErr()
	if len(d.diffs) > 0 {
		unpaired = ""
	}
	return EvalDifference{Mean: mean, StdErr: se, Wins: d.wins, Images: len(d.diffs), Unpaired: unpaired}
}
