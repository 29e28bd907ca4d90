package restore

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard is one of Count parts of a reproduction: unit k (an image and a
// task with all its methods, numbered by image index, then task label; see
// Reproduction.Items) belongs to shard k mod Count. The zero Shard is the
// whole run.
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

// ShardFromEnv finds the shard of a job-array task from its environment:
// a Slurm array (SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT, or with
// SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_MAX; the array must be a
// contiguous range) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with
// the count from count, or else from CADPS_SHARD_COUNT). ok is false when
// neither is set.
func ShardFromEnv(getenv func(string) string, count int) (s Shard, ok bool, err error) {
	num := func(name string) (int, error) {
		v, err := strconv.Atoi(strings.TrimSpace(getenv(name)))
		if err != nil {
			return 0, fmt.Errorf("%s=%q is not a whole number", name, getenv(name))
		}
		return v, nil
	}
	if getenv("SLURM_ARRAY_TASK_ID") != "" {
		id, err := num("SLURM_ARRAY_TASK_ID")
		if err != nil {
			return Shard{}, false, err
		}
		lo := 0
		if getenv("SLURM_ARRAY_TASK_MIN") != "" {
			if lo, err = num("SLURM_ARRAY_TASK_MIN"); err != nil {
				return Shard{}, false, err
			}
		}
		n := count
		switch {
		case n > 0:
		case getenv("SLURM_ARRAY_TASK_COUNT") != "":
			if n, err = num("SLURM_ARRAY_TASK_COUNT"); err != nil {
				return Shard{}, false, err
			}
		case getenv("SLURM_ARRAY_TASK_MAX") != "":
			hi, err := num("SLURM_ARRAY_TASK_MAX")
			if err != nil {
				return Shard{}, false, err
			}
			n = hi - lo + 1
		default:
			return Shard{}, false, fmt.Errorf("SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX is")
		}
		s, err := newShard(id-lo, n, "Slurm array task")
		return s, err == nil, err
	}
	if getenv("JOB_COMPLETION_INDEX") != "" {
		id, err := num("JOB_COMPLETION_INDEX")
		if err != nil {
			return Shard{}, false, err
		}
		n := count
		if n <= 0 {
			if getenv("CADPS_SHARD_COUNT") == "" {
				return Shard{}, false, fmt.Errorf("JOB_COMPLETION_INDEX is set but the number of shards is not (set -shard-count or CADPS_SHARD_COUNT to the Job's completions)")
			}
			if n, err = num("CADPS_SHARD_COUNT"); err != nil {
				return Shard{}, false, err
			}
		}
		s, err := newShard(id, n, "Kubernetes completion index")
		return s, err == nil, err
	}
	return Shard{}, false, nil
}
