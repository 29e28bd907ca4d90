package runs

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs/claim"
	"github.com/cadps/toolkit/internal/atomicfile"
	"github.com/cadps/toolkit/internal/buildinfo"
)

// Run runs this shard's unfinished items and rebuilds the CSV, table and
// grids from every record in Out (none while Out holds no record, e.g.
// after a shard that owns no item; see writeTables for workers that end
// at once, and for merges into Out). A diverged item is recorded as failed
// and the run goes on; other errors stop it (finished items stay
// finished).
//
// Workers may share Out: each item is claimed before it runs (see
// [claim.Claimer]), so that no two workers compute it at once. An item that
// another live worker holds is left for later; once the rest is done, Run
// waits for such items until their record appears or their holder's claim
// goes stale (it died), and then runs them itself. So a worker started
// twice, or beside a resubmitted one, finishes exactly what is missing.
func (r *Reproduction) Run() (*RunSummary, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	rs, err := r.restorers()
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, x := range rs {
			x.Finalize()
		}
	}()
	claims := r.claimer()
	if err := r.checkSettings(rs, claims); err != nil {
		return nil, err
	}
	items := r.Items()
	sum := &RunSummary{Items: len(items)}
	var pending []Item
	for _, it := range items {
		if r.Shard.Owns(it.Unit) {
			pending = append(pending, it)
		}
	}
	sum.Owned = len(pending)
	w := &worker{r: r, rs: rs, sum: sum, claims: claims}
	logged := 0 // the number of held items last reported
	for pass := 0; len(pending) > 0; pass++ {
		if pass > 0 {
			if r.Log != nil && len(pending) != logged {
				fmt.Fprintf(r.Log, "waiting for %d item(s) that other workers hold (first: %s)\n", len(pending), pending[0])
				logged = len(pending)
			}
			time.Sleep(r.poll())
		}
		var held []Item
		for _, it := range pending {
			isHeld, err := w.do(it, pass == 0)
			if err != nil {
				return sum, err
			}
			if isHeld {
				held = append(held, it)
			}
		}
		pending = held
	}
	rows := r.GridRows
	switch {
	case rows == 0:
		rows = 8
	case rows < 0:
		rows = 0
	}
	return sum, r.writeTables(sum, rows, claims, w.written)
}

// claimer returns the Claimer a run of r claims with: r.Claims or, when it
// is nil, one of its own naming the shard (orDefault). Run resolves it
// once, so that the items' claims and the locks on the settings and the
// tables are one worker's, all released by one ReleaseAll.
func (r *Reproduction) claimer() *claim.Claimer {
	return orDefault(r.Claims, "shard "+r.Shard.String())
}

// orDefault returns c, or, when it is nil, a Claimer with the default lease
// naming worker in its claims.
func orDefault(c *claim.Claimer, worker string) *claim.Claimer {
	if c != nil {
		return c
	}
	return &claim.Claimer{Worker: worker}
}

// writeTables reads every record in Out into sum.Table and rebuilds the
// CSV, table and grids from them (none while Out holds no record), under
// the tables' lock, through c (see tableWriter). mine are the records
// this run wrote (task/method/NNNNN → status): a worker that finds
// another writing the tables waits for it, and then writes them only if
// they lack one of these, so that a writer that died leaves no table
// without them; a worker that wrote none leaves the tables to the holder.
func (r *Reproduction) writeTables(sum *RunSummary, rows int, c *claim.Claimer, mine map[string]string) error {
	tw := &tableWriter{dirs: []string{r.Out}, out: r.Out, rows: rows, claims: c, log: r.Log,
		waits: len(mine) > 0, mine: mine, afterTables: r.afterTables}
	t, wrote, err := tw.write()
	sum.Table, sum.Wrote = t, wrote
	return err
}

// poll returns how long Run waits before it looks again at items that
// other workers hold.
func (r *Reproduction) poll() time.Duration {
	if r.Poll > 0 {
		return r.Poll
	}
	lease := claim.DefaultLease
	if r.Claims != nil {
		lease = r.Claims.EffectiveLease()
	}
	return min(lease/4, 5*time.Second)
}

// worker runs a reproduction's items one by one.
type worker struct {
	r      *Reproduction
	rs     map[[2]string]*restore.Restorer
	sum    *RunSummary
	claims *claim.Claimer
	// written are the records this worker wrote, by item
	// (task/method/NNNNN), with their status.
	written map[string]string
	// digests are the SHA-256 of the images read so far, by path: each
	// image is hashed once, however many of its items the worker looks at.
	digests map[string]string
	// retries are, by item (task/method/NNNNN), the failed records that
	// the worker's first look at each item found (nil: none, or none to
	// retry), which RetryFailed retries: a failed record written since is
	// another worker's retry, and final for this run.
	retries map[string]*attempt
}

// attempt tells one record of an item from another: when its run
// finished, and how long it took.
type attempt struct {
	finished string
	seconds  float64
}

// retry reports whether the item's failed record rec (nil: the item has no
// record) is one to retry under RetryFailed: the one the worker's first
// look at the item found, which it notes.
func (w *worker) retry(it Item, rec *Record) bool {
	var a *attempt
	if rec != nil {
		a = &attempt{finished: rec.Finished, seconds: rec.Seconds}
	}
	first, looked := w.retries[it.String()]
	if !looked {
		if w.retries == nil {
			w.retries = map[string]*attempt{}
		}
		w.retries[it.String()], first = a, a
	}
	return a != nil && first != nil && *a == *first
}

// imageDigest returns the SHA-256 of the image file at path (fileDigest),
// hashing it only the first time.
func (w *worker) imageDigest(path string) (string, error) {
	if d, ok := w.digests[path]; ok {
		return d, nil
	}
	d, err := fileDigest(path)
	if err != nil {
		return "", err
	}
	if w.digests == nil {
		w.digests = map[string]string{}
	}
	w.digests[path] = d
	return d, nil
}

// finished reports whether the item has a record that needs no rerun. A
// record in the item's place that names another item is refused, naming
// the file, as a merge refuses it: counted as this item's, it would skip
// an item nobody has done. So is one that cannot be read, does not parse
// or has an unknown status: records are written atomically, so it is
// corrupt or was edited, and redoing the item would overwrite it unseen.
// So is one made from another image than the item's (Record.checkImage):
// image names such as 00000.png recur from one data set to another. With
// RetryFailed, a failed record is not finished when it is the one the
// worker's first look at the item found (worker.retry): one written since
// is another worker's retry.
func (w *worker) finished(it Item) (bool, error) {
	path := it.Path(w.r.Out, RecordDir)
	rec, err := ReadRecord(path)
	if errors.Is(err, fs.ErrNotExist) {
		w.retry(it, nil)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := rec.checkPlace(path); err != nil {
		return false, err
	}
	if rec.ImageSHA256 != "" {
		digest, err := w.imageDigest(it.Image)
		if err != nil {
			return false, err
		}
		if err := rec.checkImage(path, it.Image, digest); err != nil {
			return false, err
		}
	}
	return rec.Status == StatusOK || !w.r.RetryFailed || !w.retry(it, rec), nil
}

// do runs one item unless it is finished or another worker holds it
// (held). first is whether this is the first look at the item: a record
// found then was there before the run (skipped), later it was written by
// another worker.
func (w *worker) do(it Item, first bool) (held bool, err error) {
	dir := filepath.Join(w.r.Out, it.Task, it.Method, ClaimDir)
	done, err := w.finished(it)
	if err != nil {
		return false, err
	}
	if done {
		if first {
			w.sum.Skipped++
		} else {
			w.sum.ByOthers++
		}
		// Its worker may have died between the record and the release.
		if err := w.claims.Sweep(filepath.Join(dir, it.Name())); err != nil {
			return false, err
		}
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("runs: %w", err)
	}
	cl, err := w.claims.Claim(filepath.Join(dir, it.Name()))
	if errors.Is(err, claim.ErrHeld) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer cl.Release()
	if done, err := w.finished(it); err != nil || done { // finished between the look and the claim
		if done {
			w.sum.ByOthers++
		}
		return false, err
	}
	digest, err := w.imageDigest(it.Image)
	if err != nil {
		return false, err
	}
	rec, err := w.r.runItem(it, w.rs[[2]string{it.Task, it.Method}], cl, digest)
	if errors.Is(err, errClaimLost) {
		if log := w.r.Log; log != nil {
			fmt.Fprintf(log, "%s: %v; left to the worker that holds it next\n", it, err)
		}
		return true, nil
	}
	if err != nil {
		return false, err
	}
	w.sum.Done++
	if w.written == nil {
		w.written = map[string]string{}
	}
	w.written[it.String()] = rec.Status
	if rec.Status == StatusFailed {
		w.sum.Failed++
	}
	// The line numbers the item among the shard's items accounted for so
	// far, those finished before (by this shard or other workers)
	// included, so that a resumed run's last line reads [N/N] too.
	nth := w.sum.Skipped + w.sum.ByOthers + w.sum.Done
	if log := w.r.Log; log != nil {
		if rec.Status == StatusOK {
			lp := ""
			if rec.LPIPS != nil {
				lp = fmt.Sprintf(", LPIPS %.4f", *rec.LPIPS)
			}
			fmt.Fprintf(log, "[%d/%d] %s: PSNR %.2f dB, SSIM %.4f%s (%.1f s)\n", nth, w.sum.Owned, it, rec.PSNR, rec.SSIM, lp, rec.Seconds)
		} else {
			fmt.Fprintf(log, "[%d/%d] %s: failed: %s\n", nth, w.sum.Owned, it, rec.Error)
		}
	}
	return false, nil
}

// errClaimLost is runItem's error when this worker lost the item's claim
// while it computed it: another worker took the item over (this one
// missed its heartbeats for the lease), or the claim file could not be
// refreshed (claim.Claim.Err). The record is then left to the worker that
// holds the item next.
var errClaimLost = errors.New("runs: this worker lost the item's claim")

// claimLost returns errClaimLost for the lost claim cl, saying why.
func claimLost(cl *claim.Claim) error {
	if err := cl.Err(); err != nil {
		return fmt.Errorf("%w: %w", errClaimLost, err)
	}
	return fmt.Errorf("%w: another worker took the item over", errClaimLost)
}

// ItemSeed returns the seed of an image and task: the same for every
// method, and independent of sharding.
func ItemSeed(base uint64, task string, index int) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00%s\x00%d", base, task, index)
	return h.Sum64()
}

// runItem restores one item and writes its outputs, then its record, which
// records digest as the image's SHA-256 (restoreItem). An error while cl
// is lost is errClaimLost: the worker that took the item over removes the
// temporary files of its former holder (removeStaleTemps), whose writes
// then fail, and the item is that worker's now; it must not stop this
// worker's shard.
func (r *Reproduction) runItem(it Item, rs *restore.Restorer, cl *claim.Claim, digest string) (*Record, error) {
	rec, err := r.restoreItem(it, rs, cl, digest)
	if err != nil && !errors.Is(err, errClaimLost) && cl != nil && cl.Lost() {
		return nil, fmt.Errorf("%w (%v)", claimLost(cl), err)
	}
	return rec, err
}

// restoreItem is runItem, before a failure is told from a lost claim.
func (r *Reproduction) restoreItem(it Item, rs *restore.Restorer, cl *claim.Claim, digest string) (*Record, error) {
	start := time.Now()
	for _, d := range []string{InputDir, ReconDir, ProgressDir, LabelDir, RecordDir} {
		dir := filepath.Join(r.Out, it.Task, it.Method, d)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("runs: %w", err)
		}
		removeStaleTemps(dir, it.Name())
	}
	truth, err := restore.LoadImage(it.Image, r.Prior.ImageShape(), r.Fit)
	if err != nil {
		return nil, err
	}
	if err := imageio.Save(it.Path(r.Out, LabelDir), truth); err != nil {
		return nil, err
	}
	st := rs.Settings()
	seed := ItemSeed(r.Seed, it.Task, it.Index)
	rec := &Record{
		Task: it.Task, Method: it.Method, Index: it.Index, Image: it.Image, ImageBase: filepath.Base(it.Image), ImageSHA256: digest,
		Seed: seed, Steps: st.Steps, Scale: st.Scale, SigmaY: st.SigmaY, Backend: st.Backend, Shard: r.Shard.String(),
		BackendConfig: r.BackendConfig, Toolkit: r.Toolkit,
	}
	if rec.Toolkit == "" {
		rec.Toolkit = buildinfo.Toolkit()
	}
	var cb func(restore.Progress)
	if r.OnStep != nil {
		cb = func(p restore.Progress) { r.OnStep(it, p) }
	}
	res, err := rs.Restore(truth, seed, cb)
	if cl != nil && cl.Lost() {
		// Another worker took the item over while this one sampled (it
		// stalled past the lease): its images are the other worker's to
		// write. The check before the record below covers the writing.
		return nil, claimLost(cl)
	}
	switch {
	case errors.Is(err, cadps.ErrDiverged):
		rec.Status, rec.Error = StatusFailed, err.Error()
	case err != nil:
		return nil, fmt.Errorf("%s: %w", it, err)
	default:
		if err := r.keep(it, rec, res); err != nil {
			return nil, err
		}
	}
	rec.Seconds = time.Since(start).Seconds()
	rec.Finished = time.Now().UTC().Format(time.RFC3339)
	if cl != nil && cl.Lost() {
		return nil, claimLost(cl)
	}
	if err := atomicfile.WriteJSON(it.Path(r.Out, RecordDir), rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// keep fills rec from a finished restoration (and its LPIPS distance, when
// the reproduction scores it) and writes the item's images.
func (r *Reproduction) keep(it Item, rec *Record, res *restore.Result) error {
	rec.Status = StatusOK
	rec.PSNR, rec.SSIM = metrics.Number(res.Metrics.PSNR), metrics.Number(res.Metrics.SSIM)
	rec.Operator, rec.Timings, rec.Measured = res.Operator, res.Timings, res.MeasurementView
	if n := len(res.Residuals); n > 0 {
		rec.Residual = metrics.Number(res.Residuals[n-1])
	}
	rec.Draw = res.Draw
	if r.LPIPS != nil {
		d, err := r.LPIPS.ImageDistances([]*imageio.Image{res.Truth.Quantize8()}, []*imageio.Image{res.Reconstruction}, 1)
		if err != nil {
			return fmt.Errorf("%s: %w", it, err)
		}
		rec.LPIPS = new(metrics.Number(d[0]))
	}
	rec.HasInput = res.Measurement != nil
	return res.Save(restore.OutputFiles{
		Measurement: it.Path(r.Out, InputDir), Reconstruction: it.Path(r.Out, ReconDir), Progress: it.Path(r.Out, ProgressDir),
	})
}
