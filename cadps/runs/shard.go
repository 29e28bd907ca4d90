package runs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/internal/atomicfile"
)

// Shard is one of Count parts of a run: unit k belongs to shard k mod
// Count. The zero Shard is the whole run.
type Shard struct {
	// Index is the shard's index, 0 ≤ Index < Count.
	Index int
	// Count is the number of shards (0 or 1: no sharding).
	Count int
}

// Owns reports whether unit k belongs to the shard.
func (s Shard) Owns(k int) bool { return s.Count <= 1 || k%s.Count == s.Index }

// String returns "i/n", or "all" for the whole run.
func (s Shard) String() string {
	if s.Count <= 1 {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// ParseShard reads "i/n" (0 ≤ i < n).
func ParseShard(v string) (Shard, error) {
	a, b, ok := strings.Cut(v, "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: want INDEX/COUNT, e.g. 0/4", v)
	}
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("shard %q: want INDEX/COUNT with whole numbers, e.g. 0/4", v)
	}
	return newShard(i, n, "shard "+v)
}

func newShard(i, n int, what string) (Shard, error) {
	if n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("%s: index %d is not in [0, %d)", what, i, n)
	}
	return Shard{Index: i, Count: n}, nil
}

// ArrayTask is a job-array task as its environment describes it.
type ArrayTask struct {
	// Name says where the index came from ("Slurm array task",
	// "Kubernetes completion index").
	Name string
	// Index is the task's index: SLURM_ARRAY_TASK_ID or
	// JOB_COMPLETION_INDEX, taken as the shard index as it is.
	Index int
	// Count is CADPS_SHARD_COUNT (0 when unset).
	Count int
	// ArraySize is, for Slurm, SLURM_ARRAY_TASK_MAX + 1 (or
	// SLURM_ARRAY_TASK_COUNT): the shard count of a first submission of
	// --array=0-(N−1), but not of a resubmission of some of its indices.
	ArraySize int
}

// ArrayTaskFromEnv reads a Slurm array task (SLURM_ARRAY_TASK_ID) or a
// Kubernetes Indexed Job's pod (JOB_COMPLETION_INDEX) from the
// environment, with CADPS_SHARD_COUNT. ok is false when neither index is
// set.
func ArrayTaskFromEnv(getenv func(string) string) (t ArrayTask, ok bool, err error) {
	num := func(name string) (int, error) {
		v, err := strconv.Atoi(strings.TrimSpace(getenv(name)))
		if err != nil || v < 0 {
			return 0, fmt.Errorf("%s=%q is not a whole number", name, getenv(name))
		}
		return v, nil
	}
	if getenv("CADPS_SHARD_COUNT") != "" {
		if t.Count, err = num("CADPS_SHARD_COUNT"); err != nil {
			return ArrayTask{}, false, err
		}
	}
	switch {
	case getenv("SLURM_ARRAY_TASK_ID") != "":
		t.Name = "Slurm array task"
		if t.Index, err = num("SLURM_ARRAY_TASK_ID"); err != nil {
			return ArrayTask{}, false, err
		}
		switch {
		case getenv("SLURM_ARRAY_TASK_MAX") != "":
			hi, err := num("SLURM_ARRAY_TASK_MAX")
			if err != nil {
				return ArrayTask{}, false, err
			}
			t.ArraySize = hi + 1
		case getenv("SLURM_ARRAY_TASK_COUNT") != "":
			if t.ArraySize, err = num("SLURM_ARRAY_TASK_COUNT"); err != nil {
				return ArrayTask{}, false, err
			}
		}
		return t, true, nil
	case getenv("JOB_COMPLETION_INDEX") != "":
		t.Name = "Kubernetes completion index"
		if t.Index, err = num("JOB_COMPLETION_INDEX"); err != nil {
			return ArrayTask{}, false, err
		}
		return t, true, nil
	}
	return ArrayTask{}, false, nil
}

// ShardFile is the file, in a run's folder, that records the number of
// shards the run was started with, so that a resubmitted task is the same
// shard as the first time whatever array it is resubmitted in.
const ShardFile = "shards.json"

type shardRecord struct {
	Count int `json:"count"`
}

// RecordedShards returns the shard count recorded in dir (0 when none).
func RecordedShards(dir string) (int, error) {
	data, err := os.ReadFile(filepath.Join(dir, ShardFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("runs: %w", err)
	}
	var r shardRecord
	if err := json.Unmarshal(data, &r); err != nil || r.Count < 1 {
		return 0, fmt.Errorf("runs: %s does not hold a shard count: remove it to record the count anew", filepath.Join(dir, ShardFile))
	}
	return r.Count, nil
}

// ChooseShard decides which shard of the run in dir this worker is, and
// records the shard count in dir the first time.
//
//   - spec "i/n" (the -shard flag) is shard i of n;
//   - otherwise an array task's index (ArrayTaskFromEnv) is the shard
//     index, and the count is, in this order: count (the -shard-count
//     flag), CADPS_SHARD_COUNT, the count recorded in dir, and for Slurm
//     the size of the current array — which only a first submission may
//     use, since a resubmission of some indices is a smaller array;
//   - otherwise the worker runs every item (the zero Shard).
//
// A count that differs from the one recorded in dir is refused: the same
// index would name other items. created reports whether this call
// created dir's ShardFile (of workers recording the count at once,
// exactly one does): only then is the file this worker's to remove, should
// it give the run up.
func ChooseShard(dir, spec string, count int, getenv func(string) string) (s Shard, created bool, err error) {
	recorded, err := RecordedShards(dir)
	if err != nil {
		return Shard{}, false, err
	}
	switch task, ok, err := ArrayTaskFromEnv(getenv); {
	case spec != "":
		if s, err = ParseShard(spec); err != nil {
			return Shard{}, false, err
		}
		if count > 0 && count != s.Count {
			return Shard{}, false, fmt.Errorf("shard %s contradicts the shard count %d", spec, count)
		}
	case err != nil:
		return Shard{}, false, err
	case !ok:
		if count > 0 {
			return Shard{}, false, fmt.Errorf("a shard count (%d) but no shard index: give the shard as INDEX/COUNT, or run in a Slurm array or a Kubernetes Indexed Job", count)
		}
		return Shard{}, false, nil
	default:
		n := count
		for _, c := range []int{task.Count, recorded, task.ArraySize} {
			if n == 0 {
				n = c
			}
		}
		if n == 0 {
			return Shard{}, false, fmt.Errorf("%s %d: the number of shards is unknown: give the shard count, or CADPS_SHARD_COUNT=N", task.Name, task.Index)
		}
		if task.Index >= n {
			return Shard{}, false, fmt.Errorf("%s %d is not a shard of %d: the array's indices are the shard indices 0…%d", task.Name, task.Index, n, n-1)
		}
		s = Shard{Index: task.Index, Count: n}
	}
	if created, err = recordShards(dir, s, recorded); err != nil {
		return Shard{}, false, err
	}
	return s, created, nil
}

// recordShards records s's count in dir's ShardFile when recorded (the
// count read from it) is 0, and refuses a count other than the recorded
// one. created reports whether this call created the file. The whole run
// (a count of 0 or 1) records nothing.
func recordShards(dir string, s Shard, recorded int) (created bool, err error) {
	if s.Count <= 1 {
		return false, nil
	}
	if recorded == 0 {
		data, _ := json.Marshal(shardRecord{Count: s.Count})
		created, err = atomicfile.CreateExclusive(filepath.Join(dir, ShardFile), "", append(data, '\n'))
		if err != nil {
			return false, fmt.Errorf("runs: recording the shard count: %w", err)
		}
		if !created { // another shard recorded it first
			if recorded, err = RecordedShards(dir); err != nil {
				return false, err
			}
		} else {
			recorded = s.Count
		}
	}
	if recorded != s.Count {
		return false, fmt.Errorf("%s was started with %d shards (%s), this worker is shard %s: give the same count, or remove %s to deal the items anew",
			dir, recorded, ShardFile, s, ShardFile)
	}
	return created, nil
}
