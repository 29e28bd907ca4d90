package runs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Shard
		wantErr bool
	}{{"0/3", Shard{0, 3}, false}, {"2/3", Shard{2, 3}, false}, {"3/3", Shard{}, true}, {"1", Shard{}, true}, {"a/b", Shard{}, true}, {"0/0", Shard{}, true}} {
		s, err := ParseShard(tc.in)
		if s != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseShard(%q) = %v, %v", tc.in, s, err)
		}
	}
	for k := range 12 {
		owners := 0
		for i := range 3 {
			if (Shard{i, 3}).Owns(k) {
				owners++
			}
		}
		if owners != 1 || !(Shard{}).Owns(k) {
			t.Errorf("unit %d has %d owners among 3 shards", k, owners)
		}
	}
}

// TestChooseShard checks where a worker's shard comes from, and that the
// count recorded at the first submission makes a resubmitted array task
// (a smaller array) the same shard as before.
func TestChooseShard(t *testing.T) {
	for _, tc := range []struct {
		name     string
		recorded string // shards.json's content, "" for none
		spec     string
		count    int
		getenv   func(string) string
		want     Shard
		wantErr  string
	}{
		{name: "none", getenv: env(), want: Shard{}},
		{name: "flag", spec: "1/4", getenv: env(), want: Shard{1, 4}},
		{name: "flag wins over the environment", spec: "1/4", getenv: env("SLURM_ARRAY_TASK_ID", "0", "SLURM_ARRAY_TASK_MAX", "2"), want: Shard{1, 4}},
		{name: "flag and count disagree", spec: "1/4", count: 3, getenv: env(), wantErr: "contradicts"},
		{name: "count without index", count: 3, getenv: env(), wantErr: "no shard index: give the shard as INDEX/COUNT, or run in a Slurm array"},
		{name: "slurm first submission", getenv: env("SLURM_ARRAY_TASK_ID", "2", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_MAX", "2", "SLURM_ARRAY_TASK_COUNT", "3"), want: Shard{2, 3}},
		{name: "slurm count only", getenv: env("SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_COUNT", "3"), want: Shard{1, 3}},
		// --array=0,2 resubmitted: an array of 2, but the folder says 3.
		{name: "slurm resubmission uses the recorded count", recorded: `{"count": 3}`,
			getenv: env("SLURM_ARRAY_TASK_ID", "2", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_MAX", "2", "SLURM_ARRAY_TASK_COUNT", "2"), want: Shard{2, 3}},
		{name: "slurm single resubmission", recorded: `{"count": 3}`,
			getenv: env("SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_MIN", "1", "SLURM_ARRAY_TASK_MAX", "1", "SLURM_ARRAY_TASK_COUNT", "1"), want: Shard{1, 3}},
		{name: "explicit count wins over the array", getenv: env("SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_MAX", "1", "CADPS_SHARD_COUNT", "3"), want: Shard{1, 3}},
		{name: "explicit count contradicts the folder", recorded: `{"count": 3}`, count: 4, getenv: env("SLURM_ARRAY_TASK_ID", "1"), wantErr: "was started with 3 shards"},
		{name: "slurm index beyond the count", recorded: `{"count": 3}`, getenv: env("SLURM_ARRAY_TASK_ID", "3", "SLURM_ARRAY_TASK_MAX", "3"), wantErr: "is not a shard of 3"},
		{name: "slurm without any count", getenv: env("SLURM_ARRAY_TASK_ID", "1"), wantErr: "Slurm array task 1: the number of shards is unknown: give the shard count, or CADPS_SHARD_COUNT=N"},
		{name: "k8s with flag", count: 4, getenv: env("JOB_COMPLETION_INDEX", "2"), want: Shard{2, 4}},
		{name: "k8s with env", getenv: env("JOB_COMPLETION_INDEX", "0", "CADPS_SHARD_COUNT", "3"), want: Shard{0, 3}},
		{name: "k8s without count", getenv: env("JOB_COMPLETION_INDEX", "0"), wantErr: "number of shards is unknown"},
		{name: "k8s recorded count", recorded: `{"count": 5}`, getenv: env("JOB_COMPLETION_INDEX", "4"), want: Shard{4, 5}},
		{name: "k8s garbage", count: 2, getenv: env("JOB_COMPLETION_INDEX", "x"), wantErr: "not a whole number"},
		{name: "garbage record", recorded: `{}`, getenv: env("JOB_COMPLETION_INDEX", "0"), wantErr: "does not hold a shard count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.recorded != "" {
				if err := os.WriteFile(filepath.Join(dir, ShardFile), []byte(tc.recorded), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s, created, err := ChooseShard(dir, tc.spec, tc.count, tc.getenv)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if f := cliFlag.FindString(err.Error()); f != "" {
					t.Errorf("error %q names a command-line flag (%q)", err, f)
				}
				if created {
					t.Error("a refused worker reports that it recorded the count")
				}
				return
			}
			if err != nil || s != tc.want {
				t.Fatalf("got %v, %v; want %v", s, err, tc.want)
			}
			// Only the call that wrote shards.json created it; a second
			// worker of the same run finds it.
			if want := tc.recorded == "" && tc.want.Count > 1; created != want {
				t.Errorf("created %v, want %v", created, want)
			}
			if _, again, err := ChooseShard(dir, tc.spec, tc.count, tc.getenv); err != nil || again {
				t.Errorf("a second worker: created %v, %v; want false", again, err)
			}
			n, err := RecordedShards(dir)
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.want.Count; want <= 1 && n != 0 || want > 1 && n != want {
				t.Errorf("recorded count %d after choosing %v", n, s)
			}
		})
	}
}

// TestChooseShardConcurrent starts workers of one folder at once, with
// counts that agree or not: exactly one reports that it created
// shards.json, and every worker refused for its count reports that it
// did not, so that only the creator may remove the file.
func TestChooseShardConcurrent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		specs []string
	}{
		{"same count", []string{"0/4", "1/4", "2/4", "3/4", "0/4", "1/4"}},
		{"other counts", []string{"0/3", "0/4", "0/4", "1/3", "0/4", "2/3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 20 {
				dir := t.TempDir()
				var wg sync.WaitGroup
				start := make(chan struct{})
				created := make([]bool, len(tc.specs))
				errs := make([]error, len(tc.specs))
				for k, spec := range tc.specs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						_, created[k], errs[k] = ChooseShard(dir, spec, 0, env())
					}()
				}
				close(start)
				wg.Wait()
				n, err := RecordedShards(dir)
				if err != nil {
					t.Fatal(err)
				}
				creators := 0
				for k, spec := range tc.specs {
					if created[k] {
						creators++
						if !strings.HasSuffix(spec, fmt.Sprintf("/%d", n)) {
							t.Errorf("worker %s created shards.json, which records %d shards", spec, n)
						}
					}
					if (errs[k] == nil) != strings.HasSuffix(spec, fmt.Sprintf("/%d", n)) {
						t.Errorf("worker %s: %v with %d shards recorded", spec, errs[k], n)
					}
				}
				if creators != 1 {
					t.Fatalf("%d workers report that they created shards.json, want 1", creators)
				}
			}
		})
	}
}
