package runs

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/gmm"
	"github.com/cadps/toolkit/cadps/runs/claim"
	"github.com/cadps/toolkit/internal/buildinfo"
	"github.com/gomlx/gomlx/backends"
)

// ExactMethod is the method of a mixture run that draws from the exact
// posterior instead of sampling with a guidance method: its distances are
// the floor that sampling error alone gives.
const ExactMethod = "exact"

// Streams of the exact draws (with the run's seed): the method
// ExactMethod and the reference set (MixtureReference).
const (
	exactStream     = 0xe4ac7
	referenceStream = 0x4ef
)

// MixtureRun is the settings of one sampling run on a Gaussian-mixture
// problem (package gmm) whose posterior is known exactly.
type MixtureRun struct {
	// Method is ExactMethod or a guidance method spec NAME[:key=value,...].
	Method string
	// Samples is the number of samples N drawn (and of reference exact
	// samples).
	Samples int
	// Steps is the number of reverse diffusion steps (a respacing of the
	// 1000-step schedule).
	Steps int
	// Seed seeds the sampler's noise, the exact draws and the sliced
	// Wasserstein projections.
	Seed uint64
	// Scale is the guidance step size ζ.
	Scale float64
	// Projections is the number of sliced Wasserstein projections.
	Projections int
	// Schedule is the noise schedule of the 1000-step process: "linear" or
	// "cosine".
	Schedule string
	// VarType is the reverse variance: "fixed_small" or "fixed_large".
	VarType string
}

// MixtureReport is the measurement of one mixture run against the exact
// posterior: the JSON object `cadps gmm` prints, and the core of a bench
// row (MixtureRow).
type MixtureReport struct {
	Method string `json:"method"`
	// Revision is the method's guidance.Revision (0 for exact); -1 in rows
	// read from a bench CSV written before revisions were recorded.
	Revision int `json:"method_revision"`
	// Dim is the dimension d, DimY the number of measurements m,
	// Components the number of mixture components K.
	Dim        int     `json:"dim"`
	DimY       int     `json:"dim_y"`
	Components int     `json:"components"`
	SigmaY     float64 `json:"sigma_y"`
	Samples    int     `json:"samples"`
	Steps      int     `json:"steps"`
	Seed       uint64  `json:"seed"`
	Scale      float64 `json:"scale"`
	// SlicedWasserstein is SW₂ to an independent set of as many exact
	// posterior samples.
	SlicedWasserstein float64 `json:"sliced_wasserstein"`
	// Energy is the (unbiased) energy distance to the same set.
	Energy float64 `json:"energy_distance"`
	// WeightTV is ½ Σ_k |fraction assigned to k − w'_k|.
	WeightTV float64 `json:"weight_tv"`
	// Seconds is the sampling wall time (without the distances).
	Seconds float64 `json:"seconds"`
}

// MixtureReference returns n exact posterior samples [n][d] independent
// of the samples of a run seeded by seed: the set a run's distances are
// measured against.
func MixtureReference(post *gmm.Posterior, n int, seed uint64) [][]float64 {
	return post.Sample(n, rand.New(rand.NewPCG(seed, referenceStream)))
}

// Sample draws the r.Samples samples [N][d] of the run: exact posterior
// draws, or the guidance method on the mixture's exact ε network with
// backend b (which may be nil for ExactMethod).
func (r MixtureRun) Sample(b backends.Backend, p *gmm.Problem, post *gmm.Posterior) ([][]float64, error) {
	if r.Method == ExactMethod {
		return post.Sample(r.Samples, rand.New(rand.NewPCG(r.Seed, exactStream))), nil
	}
	return p.SampleMethod(b, gmm.RunOptions{Method: r.Method, Samples: r.Samples, Steps: r.Steps, Seed: r.Seed,
		Scale: r.Scale, Schedule: r.Schedule, VarType: r.VarType})
}

// Evaluate draws the run's samples (Sample) and measures them against the
// exact posterior post of p and the reference set ref [N][d]
// (MixtureReference). It returns the report and the samples [N][d]. Its
// errors are the sampler's and the distances' own, unwrapped: a bench
// records their text in its CSV. The report holds the settings even then.
func (r MixtureRun) Evaluate(b backends.Backend, p *gmm.Problem, post *gmm.Posterior, ref [][]float64) (MixtureReport, [][]float64, error) {
	rep := MixtureReport{
		Method: r.Method, Revision: methodRevision(r.Method, nil), Dim: p.Prior.Dim(), DimY: len(p.A), Components: p.Prior.K(), SigmaY: p.SigmaY,
		Samples: r.Samples, Steps: r.Steps, Seed: r.Seed, Scale: r.Scale,
	}
	start := time.Now()
	samples, err := r.Sample(b, p, post)
	if err != nil {
		return rep, nil, err
	}
	rep.Seconds = time.Since(start).Seconds()
	if rep.SlicedWasserstein, err = gmm.SlicedWasserstein(samples, ref, r.Projections, r.Seed); err != nil {
		return rep, nil, err
	}
	if rep.Energy, err = gmm.EnergyDistance(samples, ref); err != nil {
		return rep, nil, err
	}
	if rep.WeightTV, _, err = gmm.WeightError(post, samples); err != nil {
		return rep, nil, err
	}
	return rep, samples, nil
}

// MixtureRow is one run of a mixture bench, as its CSV holds it.
type MixtureRow struct {
	MixtureReport
	// Problem is the problem's index p in its (d, m) cell.
	Problem int `json:"problem"`
	// Projections, Schedule and VarType are the run's settings of those
	// names (MixtureRun); 0, "" and "" in rows read from a bench CSV
	// written before they were recorded.
	Projections int    `json:"projections,omitempty"`
	Schedule    string `json:"schedule,omitempty"`
	VarType     string `json:"var,omitempty"`
	// Backend, BackendConfig and Toolkit say what computed the run: the
	// backend (backend.Identity: with the CPU backend's matrix kernel), its
	// configuration (GOMLX_BACKEND) and the toolkit's build
	// (buildinfo.Toolkit); "" where not recorded (rows of a bench CSV
	// written before they were). A run reproduces bit for bit only where
	// they agree.
	Backend       string `json:"backend,omitempty"`
	BackendConfig string `json:"backend_config,omitempty"`
	Toolkit       string `json:"toolkit,omitempty"`
	// Error is the run's error ("" for a run that succeeded); a failed
	// run is counted, not averaged.
	Error string `json:"error,omitempty"`
}

// MixtureSeed is the seed of problem p of cell (d, m) under the bench seed
// base: gmm.Standard(d, m, seed) generates the problem, and every run of
// it uses the seed for its noise too. The formula is recorded with the
// results, so it stays as it is; it gives distinct seeds to problems
// 0 … 100 of any cells with m < 99, and a bench in which two problems
// would share a seed is refused (MixtureBench.Run).
func MixtureSeed(base uint64, d, m, p int) uint64 {
	return base*1000003 + 10007*uint64(d) + 101*uint64(m) + uint64(p)
}

// MixtureBench is the mixture benchmark (`cadps gmm bench`): every method
// on problems First … First+Problems−1 of the standard setting
// (gmm.Standard: MCGdiff's 25-component grid mixture) of each cell (d, m),
// d in Dims and m in DimYs. Problem p of (d, m) and its runs are seeded by
// MixtureSeed(Settings.Seed, d, m, p), so a bench may be split into parts
// (by Dims, DimYs or First) whose CSV files ReadMixtureTable joins.
//
// With a CSV file, a running bench writes every run to CSV.partial as it
// is measured (so that an interrupted bench keeps its runs) and renames it
// to CSV when it ends, and holds a claim ([claim.Claimer], files CSV.claim.N) so
// that two benches never write one file at once. Resume continues the
// file. The errors about the file name it by the command's flags (--csv,
// --resume).
type MixtureBench struct {
	// Dims are the dimensions d, DimYs the measurement counts m; every
	// pair needs 1 ≤ m ≤ d.
	Dims, DimYs []int
	// First is the index of the first problem, Problems the number of
	// problems per cell.
	First, Problems int
	// Methods are the method specs (ExactMethod or guidance specs), run in
	// this order.
	Methods []string
	// Settings are the runs' settings; Settings.Method is ignored and
	// Settings.Seed is the bench's seed base (MixtureSeed).
	Settings MixtureRun
	// CSV, when not "", is the file the runs go to (in the CSV format of
	// ReadMixtureCSV).
	CSV string
	// Resume continues CSV: it keeps the runs that CSV.partial (an
	// interrupted bench) or else CSV already holds, which must be this
	// bench's (its settings, seed and method revisions), and runs only the
	// others. Without it an existing CSV or CSV.partial is refused.
	Resume bool
	// Log, when not nil, receives a line per run.
	Log io.Writer
	// Claims claims CSV for the run (nil: a [claim.Claimer] of its own); the
	// caller may release it when the process is asked to stop
	// ([claim.Claimer.ReleaseAll]).
	Claims *claim.Claimer
	// BackendConfig and Toolkit are recorded with each new run (MixtureRow);
	// "" records $GOMLX_BACKEND and this build (buildinfo.Toolkit). Kept
	// runs of a resumed bench keep theirs: a table of runs from more than
	// one says so (MixtureProvenance).
	BackendConfig, Toolkit string
}

// Run runs the bench with backend b, skipping the runs a resumed CSV
// holds, and returns the rows of the whole bench in the order of Dims,
// DimYs, problems and Methods (kept runs included). The CSV file is
// claimed and opened before the first run and renamed into place after the
// last; a bench that loses its claim (another took the file over while
// this one was stopped for longer than the lease) stops without writing.
func (mb *MixtureBench) Run(b backends.Backend) ([]MixtureRow, error) {
	if err := mb.check(); err != nil {
		return nil, err
	}
	var out *mixtureCSV
	if mb.CSV != "" {
		var err error
		if out, err = openMixtureCSV(mb, orDefault(mb.Claims, "")); err != nil {
			return nil, err
		}
		defer out.close()
	}
	src := source{backend.Identity(b), cmp.Or(mb.BackendConfig, os.Getenv(backend.EnvVar)), cmp.Or(mb.Toolkit, buildinfo.Toolkit())}
	var rows []MixtureRow
	for _, d := range mb.Dims {
		for _, m := range mb.DimYs {
			for p := mb.First; p < mb.First+mb.Problems; p++ {
				r, err := mb.runProblem(b, src, d, m, p, out)
				if err != nil {
					return nil, err
				}
				rows = append(rows, r...)
			}
		}
	}
	if err := out.finish(); err != nil {
		return nil, err
	}
	return rows, nil
}

// check rejects a bench without cells, problems or methods, cells that are
// not 1 ≤ m ≤ d, and settings with which every run would fail, before
// anything is written.
func (mb *MixtureBench) check() error {
	switch {
	case len(mb.Dims) == 0 || len(mb.DimYs) == 0 || len(mb.Methods) == 0:
		return errors.New("runs: a mixture bench needs dimensions, measurement counts and methods")
	case slices.Min(mb.DimYs) < 1 || slices.Max(mb.DimYs) > slices.Min(mb.Dims):
		return fmt.Errorf("runs: mixture bench of d in %v and m in %v: every cell needs 1 ≤ m ≤ d", mb.Dims, mb.DimYs)
	case mb.Problems < 1 || mb.First < 0:
		return fmt.Errorf("runs: mixture bench of %d problems from problem %d: want at least 1 from 0 or later", mb.Problems, mb.First)
	case mb.Resume && mb.CSV == "":
		return errors.New("runs: a mixture bench resumes its CSV file: give one")
	}
	if err := mb.Settings.Check(); err != nil {
		return fmt.Errorf("runs: mixture bench: %w", err)
	}
	return mb.checkSeeds()
}

// Check refuses settings with which every run would fail (and a bench
// would write each to its CSV as a failed run): fewer than 2 samples,
// steps outside 2 … 1000 (a respacing keeps at least 2 timesteps), no
// projections, an unknown schedule or variance, a step size ζ that is not
// finite and non-negative. It is the one check of these settings: cadps
// gmm and its bench call it too.
func (r MixtureRun) Check() error {
	switch {
	case r.Samples < 2:
		return fmt.Errorf("samples %d: want at least 2", r.Samples)
	case r.Steps < 2 || r.Steps > 1000:
		return fmt.Errorf("steps %d: want 2 … 1000", r.Steps)
	case r.Projections < 1:
		return fmt.Errorf("projections %d: want at least 1", r.Projections)
	case r.Schedule != diffusion.ScheduleLinear && r.Schedule != diffusion.ScheduleCosine:
		return fmt.Errorf("schedule %q: want %q or %q", r.Schedule, diffusion.ScheduleLinear, diffusion.ScheduleCosine)
	case r.VarType != string(diffusion.VarFixedSmall) && r.VarType != string(diffusion.VarFixedLarge):
		return fmt.Errorf("variance %q: want %q or %q", r.VarType, diffusion.VarFixedSmall, diffusion.VarFixedLarge)
	}
	return cadps.Problem{Scale: r.Scale}.CheckParams()
}

// checkSeeds rejects a bench in which two problems would get the same
// MixtureSeed, and so be the same problem: the formula is one to one only
// while the problem index and the cell's terms stay apart.
func (mb *MixtureBench) checkSeeds() error {
	type problem struct{ d, m, p int }
	seen := map[uint64]problem{}
	for _, d := range mb.Dims {
		for _, m := range mb.DimYs {
			for p := mb.First; p < mb.First+mb.Problems; p++ {
				seed := MixtureSeed(mb.Settings.Seed, d, m, p)
				if q, ok := seen[seed]; ok && q != (problem{d, m, p}) {
					return fmt.Errorf("runs: mixture bench: problem %d of (d %d, m %d) and problem %d of (d %d, m %d) would be the same problem (seed %d): run fewer problems per part (at most 101) or the cells in separate benches",
						q.p, q.d, q.m, p, d, m, seed)
				}
				seen[seed] = problem{d, m, p}
			}
		}
	}
	return nil
}

// runProblem runs every method on problem p of cell (d, m), except those
// whose run out already holds, and writes the new runs, made by src, to
// out.
func (mb *MixtureBench) runProblem(b backends.Backend, src source, d, m, p int, out *mixtureCSV) ([]MixtureRow, error) {
	var rows []MixtureRow
	var todo []string
	for _, name := range mb.Methods {
		if row, ok := out.done(d, m, p, name); ok {
			rows = append(rows, row)
		} else {
			todo = append(todo, name)
		}
	}
	if len(todo) == 0 {
		return rows, nil
	}
	seed := MixtureSeed(mb.Settings.Seed, d, m, p)
	prob, err := gmm.Standard(d, m, seed)
	if err != nil {
		return nil, fmt.Errorf("runs: mixture bench: %w", err)
	}
	post, err := prob.Posterior()
	if err != nil {
		return nil, fmt.Errorf("problem d=%d m=%d #%d: %w", d, m, p, err)
	}
	r := mb.Settings
	r.Seed = seed
	ref := MixtureReference(post, r.Samples, seed)
	for _, name := range todo {
		r.Method = name
		rep, _, err := r.Evaluate(b, prob, post, ref)
		row := MixtureRow{MixtureReport: rep, Problem: p, Projections: r.Projections, Schedule: r.Schedule, VarType: r.VarType,
			Backend: src.backend, BackendConfig: src.config, Toolkit: src.toolkit}
		if err != nil {
			row.Error = err.Error()
		}
		row = row.asRecorded()
		rows = append(rows, row)
		if mb.Log != nil {
			fmt.Fprintf(mb.Log, "d=%d m=%d problem %d %-13s SW %.4g energy %.4g TV %.3f %.1fs %s\n",
				d, m, p, name, rep.SlicedWasserstein, rep.Energy, rep.WeightTV, rep.Seconds, row.Error)
		}
		if err := out.write(row); err != nil {
			return nil, err
		}
	}
	return rows, nil
}
