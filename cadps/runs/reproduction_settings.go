package runs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs/claim"
	"github.com/cadps/toolkit/internal/atomicfile"
)

// settings is what reproduce.json holds: everything that decides the
// items' results, so that a rerun with other settings into the same folder
// is refused.
type settings struct {
	Model   string `json:"model"` // the prior's name or config file name
	Weights string `json:"weights,omitempty"`
	// Digest is the weights' SHA-256: a new release of the shipped prior,
	// or a weights file overwritten in place, is another reproduction.
	Digest string             `json:"weights_sha256"`
	Seed   uint64             `json:"seed"`
	Fit    string             `json:"fit"`
	Images []string           `json:"images"`
	Runs   []restore.Settings `json:"runs"`
	// LPIPS names the LPIPS network and weights (Reproduction.LPIPSWeights);
	// absent without LPIPS.
	LPIPS string `json:"lpips,omitempty"`
	// Diffusion is the process of a diffusion config file that is not the
	// model's own (restore.Prior.DiffusionFile), without the respacing each
	// run records; absent, as in folders from before it was recorded, for
	// the model's own process.
	Diffusion *diffusion.Config `json:"diffusion,omitempty"`
}

// settings returns the reproduction's settings.
func (r *Reproduction) settings(rs map[[2]string]*restore.Restorer) (settings, error) {
	s := settings{Model: r.Prior.Record, Seed: r.Seed, Fit: r.Fit.String()}
	if r.LPIPS != nil {
		s.LPIPS = r.LPIPSWeights
		if s.LPIPS == "" {
			s.LPIPS = string(r.LPIPS.Net())
		}
	}
	if r.Prior.Weights != "" {
		s.Weights = filepath.Base(r.Prior.Weights)
	}
	if r.Prior.DiffusionFile != "" {
		d := r.Prior.Diffusion
		d.Respacing = ""
		s.Diffusion = &d
	}
	var err error
	if s.Digest, err = r.Prior.WeightsDigest(); err != nil {
		return s, err
	}
	images := slices.Clone(r.Images)
	sort.Strings(images)
	for _, p := range images {
		s.Images = append(s.Images, filepath.Base(p))
	}
	keys := make([][2]string, 0, len(rs))
	for k := range rs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) })
	for _, k := range keys {
		st := rs[k].Settings()
		st.Backend, st.Weights, st.Model = "", "", ""
		s.Runs = append(s.Runs, st)
	}
	return s, nil
}

// readSettings reads a reproduction's reproduce.json as decoded JSON,
// repairing what earlier versions wrote wrongly: the small prior with
// other weights was recorded as the weights' name with a stray ")"
// ("fmnist32.safetensors)"); repaired reports such a repair. The shipped
// prior's name is read as restore.RecordName gives it, whichever of its
// names the file holds. ok is false when dir has no settings file.
func readSettings(dir string) (doc map[string]any, ok, repaired bool, err error) {
	path := filepath.Join(dir, SettingsFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, false, nil
	}
	if err != nil {
		return nil, false, false, fmt.Errorf("runs: %w", err)
	}
	if json.Unmarshal(data, &doc) != nil || doc == nil {
		return nil, false, false, fmt.Errorf("runs: %s is not a reproduction's settings file; use another output folder", path)
	}
	model, _ := doc["model"].(string)
	weights, _ := doc["weights"].(string)
	if weights != "" && (model == weights+")" || model == restore.SmallPriorName+" ("+weights+")") {
		doc["model"] = restore.SmallPriorName
		repaired = true
	} else if name := restore.RecordName(model, weights); name != model {
		doc["model"] = name // the shipped prior's other name: the same settings
	}
	return doc, true, repaired, nil
}

// compareSettings compares the settings old and new (decoded JSON) of two
// runs into dir, or of two folders merged (CompareSettings). The
// image lists may differ by images added at the end (a run with -limit
// extended later): the items they share are the same. It returns nil when
// they agree, and whether new's image list is the longer.
func compareSettings(dir string, old, new map[string]any) (longer bool, err error) {
	images := PrefixList("images", func(k int, was, now any) error {
		return fmt.Errorf("%s holds a reproduction of other images (image %d was %v, now %v)", dir, k, was, now)
	})
	longer, err = CompareSettings(old, new, images)
	var diff *DiffError
	if errors.As(err, &diff) {
		return false, fmt.Errorf("%s holds a reproduction with other settings (%w)", dir, diff)
	}
	return longer, err
}

// checkSettings writes reproduce.json, or compares it with the one an
// earlier run wrote, and extends it when this run's image list is longer;
// a sharded run also checks (and, when it is gone, writes again) the
// shard count recorded in the folder (ShardFile).
// Workers read, compare and write it one at a time, under a claim on it
// (lockSettings): of workers that start or extend a folder at once, each
// compares its settings with those of the workers before it, and the file
// ends with the longest list. Exactly one creates the file
// (atomicfile.CreateExclusive), also beside a worker that takes no claim.
func (r *Reproduction) checkSettings(rs map[[2]string]*restore.Restorer, claims *claim.Claimer) error {
	s, err := r.settings(rs)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("runs: %w", err)
	}
	lock, err := r.lockSettings(claims)
	if err != nil {
		return err
	}
	defer lock.Release()
	// The shard count this worker chose by (ChooseShard) may have been
	// removed since by the worker that recorded it, when it gave the run
	// up: record it again, so that the folder keeps saying how its items
	// are dealt, and refuse a count that another worker recorded meanwhile.
	recorded, err := RecordedShards(r.Out)
	if err != nil {
		return err
	}
	if _, err := recordShards(r.Out, r.Shard, recorded); err != nil {
		return err
	}
	path := filepath.Join(r.Out, SettingsFile)
	old, ok, repaired, err := readSettings(r.Out)
	if err == nil && !ok {
		var created bool
		if created, err = atomicfile.CreateExclusive(path, "", append(data, '\n')); err != nil || created {
			return err
		}
		// Another worker created it meanwhile: compare with its settings.
		if old, ok, repaired, err = readSettings(r.Out); err == nil && !ok {
			err = fmt.Errorf("runs: %s vanished while this run started; is another run removing %s?", path, r.Out)
		}
	}
	if err != nil {
		return err
	}
	var now map[string]any
	if err := json.Unmarshal(data, &now); err != nil {
		return fmt.Errorf("runs: %w", err)
	}
	longer, err := compareSettings(r.Out, old, now)
	if err != nil {
		return fmt.Errorf("runs: %w; use another output folder or the same settings", err)
	}
	if longer || repaired {
		return atomicfile.WriteJSON(path, s)
	}
	return nil
}

// lockSettings claims reproduce.json (files reproduce.json.claim.N) for
// the moment this worker reads, compares and writes it, through c, the
// run's Claimer (so that a worker asked to stop releases it with its other
// claims), waiting while another worker holds it (waitClaim).
func (r *Reproduction) lockSettings(c *claim.Claimer) (*claim.Claim, error) {
	return waitClaim(c, filepath.Join(r.Out, SettingsFile+".claim"), filepath.Join(r.Out, SettingsFile), "check the settings", r.Log)
}

// commonSettings reads the settings of every folder in dirs and checks
// that they agree; it returns the settings with the longest image list, or
// nil when no folder holds settings.
func commonSettings(dirs []string) (map[string]any, error) {
	sorted := slices.Clone(dirs)
	sort.Strings(sorted)
	var ref map[string]any
	refDir := ""
	var without []string
	for _, dir := range sorted {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("runs: merge: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("runs: merge: %s is not a folder", dir)
		}
		doc, ok, _, err := readSettings(dir)
		switch {
		case err != nil:
			return nil, err
		case !ok:
			without = append(without, dir)
			continue
		case ref == nil:
			ref, refDir = doc, dir
			continue
		}
		longer, err := compareSettings(dir, ref, doc)
		if err != nil {
			return nil, fmt.Errorf("runs: merge: %w than %s; merge only the folders of one reproduction", err, refDir)
		}
		if longer {
			ref, refDir = doc, dir
		}
	}
	if ref != nil && len(without) > 0 {
		return nil, fmt.Errorf("runs: merge: %s holds no %s, unlike %s: is it a reproduction's folder?", without[0], SettingsFile, refDir)
	}
	return ref, nil
}

// missingItems returns the number of items the settings doc calls for
// (every run's task and method on every image) and names those that recs
// lack.
func missingItems(doc map[string]any, recs []*Record) (int, []string) {
	have := map[string]bool{}
	for _, r := range recs {
		m, err := guidance.CanonicalSpec(r.Method)
		if err != nil {
			m = r.Method
		}
		have[Item{Task: r.Task, Method: m, Index: r.Index}.String()] = true
	}
	images, _ := doc["images"].([]any)
	runs, _ := doc["runs"].([]any)
	var missing []string
	for _, run := range runs {
		st, _ := run.(map[string]any)
		task, _ := st["task"].(string)
		method, _ := st["method"].(string)
		for i := range images {
			if name := (Item{Task: task, Method: method, Index: i}).String(); !have[name] {
				missing = append(missing, name)
			}
		}
	}
	return len(images) * len(runs), missing
}
