package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cadps/toolkit/cadps/runs"
	"gopkg.in/yaml.v3"
)

// TestKubernetesManifests renders docs/k8s-reproduce.yaml through
// docs/k8s-reproduce.sh (DRY_RUN=1) for a GPU and a CPU cluster and checks
// what a cluster would run: the Job's completions equal the shard count
// every pod is given, the container's arguments are flags that cadps
// reproduce defines, GOMLX_BACKEND is set only when asked for, a GPU is
// requested only with GPUS above 0, an index is retried RETRIES times but
// a pod stopped by a disruption (preempted, evicted) is not counted
// against them, nor does one fail the merge Job, and the merge Job merges
// the output.
func TestKubernetesManifests(t *testing.T) {
	if _, err := exec.LookPath("envsubst"); err != nil {
		t.Skip("needs envsubst (Debian's gettext-base)")
	}
	type container struct {
		Command   []string
		Args      []string
		Env       []struct{ Name, Value string }
		Resources struct{ Limits, Requests map[string]any }
	}
	type job struct {
		Metadata struct{ Name string }
		Spec     struct {
			Completions          int
			BackoffLimitPerIndex *int `yaml:"backoffLimitPerIndex"`
			PodFailurePolicy     struct {
				Rules []struct {
					Action          string
					OnPodConditions []struct{ Type string } `yaml:"onPodConditions"`
				}
			} `yaml:"podFailurePolicy"`
			Template struct {
				Spec struct {
					RestartPolicy string `yaml:"restartPolicy"`
					Containers    []container
				}
			}
		}
	}
	bin := buildCadps(t, t.TempDir())
	for _, tc := range []struct {
		name    string
		env     []string
		gpu     bool
		backend string
	}{
		{"gpu", nil, true, "xla:/opt/pjrt/xla_cuda_plugin.so"},
		{"cpu", []string{"GPUS=00", "SHARDS=03", "MODEL=small", "WEIGHTS=", "TASKS=inpaint_box:size=12;super_resolution:factor=2"}, false, ""},
		{"gpu, pure Go", []string{"BACKEND="}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("bash", "../../docs/k8s-reproduce.sh", "-limit", "4")
			cmd.Env = append(append(os.Environ(), "DRY_RUN=1"), tc.env...)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("k8s-reproduce.sh: %v", err)
			}
			var jobs []job
			dec := yaml.NewDecoder(strings.NewReader(string(out)))
			for {
				var j job
				if err := dec.Decode(&j); err != nil {
					break
				}
				jobs = append(jobs, j)
			}
			if len(jobs) != 2 {
				t.Fatalf("%d Jobs rendered, want 2:\n%s", len(jobs), out)
			}
			rep, merge := jobs[0].Spec.Template.Spec.Containers[0], jobs[1].Spec.Template.Spec.Containers[0]
			// Retries per index, of which a disruption uses none (the
			// policy needs restartPolicy Never).
			spec := jobs[0].Spec
			if spec.BackoffLimitPerIndex == nil || *spec.BackoffLimitPerIndex != 3 || spec.Template.Spec.RestartPolicy != "Never" {
				t.Errorf("backoffLimitPerIndex %v, restartPolicy %q; want 3 (RETRIES) and Never", spec.BackoffLimitPerIndex, spec.Template.Spec.RestartPolicy)
			}
			for _, j := range jobs { // the merge Job's pod too
				rules := j.Spec.PodFailurePolicy.Rules
				if len(rules) != 1 || rules[0].Action != "Ignore" || len(rules[0].OnPodConditions) != 1 || rules[0].OnPodConditions[0].Type != "DisruptionTarget" ||
					j.Spec.Template.Spec.RestartPolicy != "Never" {
					t.Errorf("Job %s: podFailurePolicy rules %+v, restartPolicy %q; want one, Ignore on the DisruptionTarget condition, and Never",
						j.Metadata.Name, rules, j.Spec.Template.Spec.RestartPolicy)
				}
			}
			env := map[string]string{}
			for _, e := range rep.Env {
				env[e.Name] = e.Value
			}
			shards := env["CADPS_SHARD_COUNT"]
			if shards == "" || shards != strconv.Itoa(jobs[0].Spec.Completions) || !containsArg(rep.Args, "-shard-count="+shards) {
				t.Errorf("completions %d, CADPS_SHARD_COUNT %q, args %v: the shard count must equal the completions", jobs[0].Spec.Completions, shards, rep.Args)
			}
			if env["GOMLX_BACKEND"] != tc.backend {
				t.Errorf("GOMLX_BACKEND %q, want %q", env["GOMLX_BACKEND"], tc.backend)
			}
			if _, ok := rep.Resources.Limits["nvidia.com/gpu"]; ok != tc.gpu {
				t.Errorf("GPU limit present: %v, want %v", ok, tc.gpu)
			}
			words := append([]string{"cadps"}, append(rep.Command[1:], rep.Args...)...)
			checkFlags(t, bin, words, map[string][]string{})
			if !containsArg(rep.Args, "-limit") {
				t.Errorf("the extra arguments were not passed on: %v", rep.Args)
			}
			if merge.Command[1] != "merge" || merge.Args[len(merge.Args)-1] != "/data/runs/ffhq1k" {
				t.Errorf("merge Job runs %v %v", merge.Command, merge.Args)
			}
		})
	}
}

func containsArg(args []string, a string) bool {
	for _, x := range args {
		if x == a {
			return true
		}
	}
	return false
}

// TestClusterScriptsRunThePapersTasks checks that the cluster scripts
// (docs/slurm-reproduce.sh, docs/k8s-reproduce.sh) run, by default, the
// tasks of scripts/paper/reproduce.sh, spelt alike: the papers' five table
// rows, in task folders that a run of either can resume; and that each
// reads TASKS by one rule. Each script runs with a stand-in cadps that
// prints its arguments.
func TestClusterScriptsRunThePapersTasks(t *testing.T) {
	for _, tool := range []string{"bash", "envsubst"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	dir := t.TempDir()
	echo := filepath.Join(dir, "cadps")
	if err := os.WriteFile(echo, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The output folder, as the Slurm script makes it before it submits.
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	// tasks returns the values of the -task flags among args, given as
	// "-task SPEC" or "-task=SPEC".
	tasks := func(args []string) []string {
		var specs []string
		for i, a := range args {
			switch {
			case a == "-task" && i+1 < len(args):
				specs = append(specs, args[i+1])
			case strings.HasPrefix(a, "-task="):
				specs = append(specs, strings.TrimPrefix(a, "-task="))
			}
		}
		return specs
	}
	run := func(script string, env ...string) []string {
		t.Helper()
		cmd := exec.Command("bash", script)
		cmd.Env = append(append(os.Environ(), "CADPS="+echo, "OUT="+filepath.Join(dir, "out"), "LOGS="+filepath.Join(dir, "logs")), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", script, err)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	// scripts are the three scripts, each with what it needs to print
	// the tasks it runs.
	scripts := []struct {
		name  string
		tasks func(env ...string) []string
	}{
		{"scripts/paper/reproduce.sh", func(env ...string) []string {
			return tasks(run("../paper/reproduce.sh", append([]string{"SHARD=", "SHARD_COUNT="}, env...)...))
		}},
		{"docs/slurm-reproduce.sh", func(env ...string) []string {
			return tasks(run("../../docs/slurm-reproduce.sh", append([]string{"SLURM_ARRAY_TASK_ID=0"}, env...)...))
		}},
		{"docs/k8s-reproduce.sh", func(env ...string) []string {
			var job struct {
				Spec struct {
					Template struct {
						Spec struct{ Containers []struct{ Args []string } }
					}
				}
			}
			// OUT on the pods' volume, which the script wants.
			manifest := strings.Join(run("../../docs/k8s-reproduce.sh", append([]string{"DRY_RUN=1", "OUT=/data/runs/tasks"}, env...)...), "\n")
			if err := yaml.NewDecoder(strings.NewReader(manifest)).Decode(&job); err != nil || len(job.Spec.Template.Spec.Containers) == 0 {
				t.Fatalf("docs/k8s-reproduce.sh: %v\n%s", err, manifest)
			}
			return tasks(job.Spec.Template.Spec.Containers[0].Args)
		}},
	}
	want := scripts[0].tasks()
	if len(want) != 5 {
		t.Fatalf("scripts/paper/reproduce.sh runs %d tasks %q, want the papers' 5", len(want), want)
	}
	for _, s := range scripts[1:] {
		if got := s.tasks(); !slices.Equal(got, want) {
			t.Errorf("%s runs the tasks\n%q\nscripts/paper/reproduce.sh\n%q", s.name, got, want)
		}
	}
	// One rule of TASKS in every script: one spec per line when it holds
	// several lines (a spec may then hold spaces, as a path can), else
	// specs separated by spaces or ';'; no spec expanded as a pattern.
	glob := filepath.Join(dir, "*") // matches files: must stay as it is
	for _, tc := range []struct {
		name, tasks string
		want        []string
	}{
		{"spaces", "sr:factor=2 inpaint_box:size=12", []string{"sr:factor=2", "inpaint_box:size=12"}},
		{"semicolons", "sr:factor=2;inpaint_box:size=12", []string{"sr:factor=2", "inpaint_box:size=12"}},
		{"newlines", "sr:factor=2\ninpaint_box:size=12", []string{"sr:factor=2", "inpaint_box:size=12"}},
		{"one line and a final newline", "sr:factor=2 inpaint_box:size=12\n", []string{"sr:factor=2", "inpaint_box:size=12"}},
		{"tabs, blank lines and padding", " sr:factor=2\t\n\n  inpaint_box:size=12 \n", []string{"sr:factor=2", "inpaint_box:size=12"}},
		{"a path with a space, one spec per line", "inpaint_file:path=/data/my masks/m.png\nsr:factor=2", []string{"inpaint_file:path=/data/my masks/m.png", "sr:factor=2"}},
		{"a pattern", "inpaint_file:path=" + glob + " sr:factor=2", []string{"inpaint_file:path=" + glob, "sr:factor=2"}},
	} {
		want := tc.want
		for _, s := range scripts {
			if got := s.tasks("TASKS=" + tc.tasks); !slices.Equal(got, want) {
				t.Errorf("TASKS with %s: %s runs the tasks %q, want %q", tc.name, s.name, got, want)
			}
		}
	}
}

// TestKubernetesOutputOnTheVolume: docs/k8s-reproduce.sh refuses an OUT
// that is not under /data, the volume every pod mounts (elsewhere each pod
// would write to its own disk, lost with it), before it renders or applies
// anything.
func TestKubernetesOutputOnTheVolume(t *testing.T) {
	if _, err := exec.LookPath("envsubst"); err != nil {
		t.Skip("needs envsubst (Debian's gettext-base)")
	}
	for _, tc := range []struct {
		out string
		ok  bool
	}{
		{"/data/runs/small", true},
		{"/data", true},
		{"/runs/small", false},
		{"runs/small", false},
		{"/database/runs", false},
		{"/data/../runs", false},
		{"/data/runs/..", false},
		{`/data/runs/a"b`, false},
		{`/data/runs/a\b`, false},
	} {
		t.Run(tc.out, func(t *testing.T) {
			cmd := exec.Command("bash", "../../docs/k8s-reproduce.sh")
			cmd.Env = append(os.Environ(), "DRY_RUN=1", "OUT="+tc.out)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if tc.ok {
				if err != nil || !strings.Contains(string(out), `"-out=`+tc.out+`"`) {
					t.Errorf("OUT=%s: %v\n%s%s", tc.out, err, out, stderr.String())
				}
				return
			}
			want := "k8s-reproduce: OUT=" + tc.out + " is not a folder under /data, where every pod mounts the volume cadps-data"
			if strings.ContainsAny(tc.out, `"\`) {
				want = "k8s-reproduce: OUT=" + tc.out + " holds a quote or a backslash, which the merge Job's manifest cannot carry"
			}
			if err == nil || len(out) > 0 || !strings.Contains(stderr.String(), want) {
				t.Errorf("OUT=%s: error %v, %d bytes on stdout, stderr %q; want no manifest and %q", tc.out, err, len(out), stderr.String(), want)
			}
		})
	}
}

// TestKubernetesRerunLeavesRunningJobs runs docs/k8s-reproduce.sh against
// a stand-in kubectl that logs its calls: the Jobs of an earlier run are
// deleted (and the run's Jobs applied, waited for and merged) only once
// they have completed or failed; while one still runs, is ending or is
// suspended the script refuses, naming it and its state, and deletes and
// applies nothing, as deleting it would stop its pods midway through their
// items or drop the earlier run waiting to go on.
func TestKubernetesRerunLeavesRunningJobs(t *testing.T) {
	if _, err := exec.LookPath("envsubst"); err != nil {
		t.Skip("needs envsubst (Debian's gettext-base)")
	}
	// The stand-in answers `get job` with EARLIER, the conditions of the
	// earlier Jobs ("none": there are none), until a manifest is applied,
	// and with a completed Job after.
	const kubectl = `#!/bin/sh
echo "$*" >> "$KUBECTL_LOG"
case "$1 $2" in
"get job")
	if grep -q '^apply' "$KUBECTL_LOG"; then printf '%s: Complete ' "$3"; elif [ "$EARLIER" != none ]; then printf '%s: %s' "$3" "$EARLIER"; fi ;;
apply*) cat >/dev/null ;;
esac
`
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "kubectl"), []byte(kubectl), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, earlier string
		refused       string // how the refusal names the Job's state; "" when it goes on
	}{
		{"no earlier Jobs", "none", ""},
		{"completed", "Complete ", ""},
		{"completed, with its success criteria", "SuccessCriteriaMet Complete ", ""},
		{"failed", "FailureTarget Failed ", ""},
		{"running", "", "is still running"},
		{"failing, its pods stopping", "FailureTarget ", "is ending, its pods still stopping"},
		{"suspended", "Suspended ", "is suspended (queued, or paused with spec.suspend)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "kubectl.log")
			cmd := exec.Command("bash", "../../docs/k8s-reproduce.sh")
			cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
				"KUBECTL_LOG="+log, "EARLIER="+tc.earlier, "TIMEOUT=5")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			_, err := cmd.Output()
			data, _ := os.ReadFile(log)
			calls := string(data)
			touched := strings.Contains(calls, "delete") || strings.Contains(calls, "apply")
			if tc.refused == "" {
				if err != nil || !strings.Contains(calls, "delete job cadps-reproduce cadps-reproduce-merge") || strings.Count(calls, "apply -f -") != 2 {
					t.Errorf("%v\n%s\nkubectl calls:\n%s", err, stderr.String(), calls)
				}
				return
			}
			want := "k8s-reproduce: Job cadps-reproduce of an earlier run " + tc.refused + "; wait until it ends (kubectl get job cadps-reproduce) or delete it"
			if err == nil || touched || !strings.Contains(stderr.String(), want) {
				t.Errorf("error %v, stderr %q; want %q, with nothing deleted or applied; kubectl calls:\n%s", err, stderr.String(), want, calls)
			}
		})
	}
}

// TestKubernetesWaitSeesJobGone: docs/k8s-reproduce.sh, waiting for the
// Job it applied, fails naming it when the Job is gone (deleted while it
// ran: kubectl finds no such Job), instead of polling it until TIMEOUT and
// then calling it still running.
func TestKubernetesWaitSeesJobGone(t *testing.T) {
	if _, err := exec.LookPath("envsubst"); err != nil {
		t.Skip("needs envsubst (Debian's gettext-base)")
	}
	// The stand-in finds no Job, before the apply and after it.
	const kubectl = `#!/bin/sh
echo "$*" >> "$KUBECTL_LOG"
case "$1" in apply) cat >/dev/null ;; esac
`
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "kubectl"), []byte(kubectl), 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "kubectl.log")
	cmd := exec.Command("bash", "../../docs/k8s-reproduce.sh")
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KUBECTL_LOG="+log, "TIMEOUT=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	_, err := cmd.Output()
	data, _ := os.ReadFile(log)
	const want = "k8s-reproduce: Job cadps-reproduce is gone (deleted while it ran?)"
	if err == nil || !strings.Contains(stderr.String(), want) || strings.Count(string(data), "apply -f -") != 1 {
		t.Errorf("error %v, stderr %q; want %q after one apply; kubectl calls:\n%s", err, stderr.String(), want, data)
	}
}

// TestKubernetesWaitOutlastsKubectlFailures: docs/k8s-reproduce.sh,
// waiting for a Job it applied, then applying the merge Job and reading
// its log, tries a failed kubectl call again POLL seconds later (the API
// server out of reach for a moment, while the Job goes on) and goes on
// once kubectl answers; after 10 failures in a row it gives up, saying
// what failed and what to do. A merge Job that failed fails the script,
// after its log, saying so; one that completed does not, its log out of
// reach or not. A SHARDS, PARALLELISM, RETRIES, GPUS, GRID_ROWS, TIMEOUT
// or POLL that is not a whole number in its range is refused before
// kubectl runs, and so is a DRY_RUN other than 1, 0 or empty.
func TestKubernetesWaitOutlastsKubectlFailures(t *testing.T) {
	if _, err := exec.LookPath("envsubst"); err != nil {
		t.Skip("needs envsubst (Debian's gettext-base)")
	}
	// The stand-in finds no earlier Jobs; once FAIL_AT manifests are
	// applied (the failed tries counted), it fails the first FAILS calls
	// that match FAIL_ON; else it answers that the Job has completed (the
	// merge Job: MERGE, Complete by default), applies what it is given
	// and prints the merge's log: that of the merge Job's newest pod,
	// beside which an older one, stopped by a disruption, is listed
	// first, and taken by kubectl logs job/NAME, as kubectl does.
	const kubectl = `#!/bin/sh
echo "$*" >> "$KUBECTL_LOG"
applies=$(grep -c '^apply' "$KUBECTL_LOG")
case "$*" in
$FAIL_ON)
	if [ "$applies" -ge "$FAIL_AT" ] && [ "$(cat "$KUBECTL_LOG.failed" 2>/dev/null | wc -l)" -lt "$FAILS" ]; then
		echo x >> "$KUBECTL_LOG.failed"
		echo "error: the server is currently unable to handle the request" >&2
		exit 1
	fi ;;
esac
case "$1 $2" in
"get job")
	[ "$applies" = 0 ] && exit 0
	case "$3" in *-merge) printf '%s: %s ' "$3" "${MERGE:-Complete}" ;; *) printf '%s: Complete ' "$3" ;; esac ;;
apply*) cat >/dev/null; echo "job.batch/applied" ;;
"get pods") echo pod/cadps-reproduce-merge-stopped; echo pod/cadps-reproduce-merge-last ;;
"logs pod/cadps-reproduce-merge-last") echo "the merge's log" ;;
logs*) echo "the stopped pod's log" ;;
esac
`
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "kubectl"), []byte(kubectl), 0o755); err != nil {
		t.Fatal(err)
	}
	const merged = "cadps-reproduce-merge: Complete \nthe merge's log\n"
	for _, tc := range []struct {
		name           string
		env            []string
		applies        int    // manifests applied, failed tries included
		want, wantNone string // in stderr; want is the error when the run fails
		out            string // at the end of stdout when the run succeeds
		ok             bool
	}{
		{"three failures", []string{"FAIL_AT=1", "FAILS=3"}, 2,
			"k8s-reproduce: kubectl failed asking for Job cadps-reproduce (3 in a row); trying again in 0 s", "(4 in a row)", merged, true},
		{"nine failures in a row", []string{"FAIL_AT=1", "FAILS=9"}, 2,
			"(9 in a row); trying again in 0 s", "times in a row", merged, true},
		{"the Job out of reach", []string{"FAIL_AT=1", "FAILS=10"}, 1,
			"k8s-reproduce: kubectl failed 10 times in a row asking for Job cadps-reproduce; the Job goes on without this script: once it has ended (kubectl get job cadps-reproduce), run this again with the same settings: it runs only what is missing, then the merge", "", "", false},
		{"the merge Job out of reach", []string{"FAIL_AT=2", "FAILS=10"}, 2,
			"k8s-reproduce: kubectl failed 10 times in a row asking for Job cadps-reproduce-merge; the Job goes on without this script: once it has ended (kubectl get job cadps-reproduce-merge), read the log of its newest pod (kubectl get pods -l batch.kubernetes.io/job-name=cadps-reproduce-merge)", "", "", false},
		{"the merge Job applied at the fourth try", []string{"FAIL_ON=apply*", "FAIL_AT=2", "FAILS=3"}, 5,
			"k8s-reproduce: kubectl failed applying Job cadps-reproduce-merge (3 in a row); trying again in 0 s", "(4 in a row)", merged, true},
		{"the merge Job not applied", []string{"FAIL_ON=apply*", "FAIL_AT=2", "FAILS=10"}, 11,
			"k8s-reproduce: kubectl failed 10 times in a row applying Job cadps-reproduce-merge; Job cadps-reproduce has ended: run this again with the same settings, which then merges", "", "", false},
		{"the merge's log read at the third try", []string{"FAIL_ON=logs*", "FAIL_AT=2", "FAILS=2"}, 2,
			"k8s-reproduce: kubectl failed reading the log of Job cadps-reproduce-merge (2 in a row); trying again in 0 s", "(3 in a row)", merged, true},
		{"the merge's pods listed at the second try", []string{"FAIL_ON=get pods*", "FAIL_AT=2", "FAILS=1"}, 2,
			"k8s-reproduce: kubectl failed reading the log of Job cadps-reproduce-merge (1 in a row); trying again in 0 s", "(2 in a row)", merged, true},
		{"the merge's log out of reach", []string{"FAIL_ON=logs*", "FAIL_AT=2", "FAILS=10"}, 2,
			"k8s-reproduce: kubectl failed 10 times in a row reading the log of Job cadps-reproduce-merge; read the log of its newest pod (kubectl get pods -l batch.kubernetes.io/job-name=cadps-reproduce-merge) once the API server answers", "", "cadps-reproduce-merge: Complete \n", true},
		{"the failed merge's log out of reach", []string{"FAIL_ON=logs*", "FAIL_AT=2", "FAILS=10", "MERGE=Failed"}, 2,
			"once the API server answers\nk8s-reproduce: Job cadps-reproduce-merge failed", "", "", false},
		{"the merge failed", []string{"FAIL_AT=1", "FAILS=0", "MERGE=Failed"}, 2,
			"k8s-reproduce: Job cadps-reproduce-merge failed (its log above says why, as the items no index finished): run this again with the same settings, which runs only what is missing, then the merge", "", "", false},
		{"POLL not a number", []string{"FAIL_AT=1", "FAILS=0", "POLL=soon"}, 0,
			"k8s-reproduce: POLL=soon is not a whole number from 0 to 999999999 (seconds between looks at the Job)", "", "", false},
		{"SHARDS not a number", []string{"FAIL_AT=1", "FAILS=0", "SHARDS=ten"}, 0,
			"k8s-reproduce: SHARDS=ten is not a whole number from 1 to 999999999 (the number of shards, one index of the Job each)", "", "", false},
		{"no shards", []string{"FAIL_AT=1", "FAILS=0", "SHARDS=0"}, 0,
			"k8s-reproduce: SHARDS=0 is not a whole number from 1 to 999999999", "", "", false},
		{"PARALLELISM negative", []string{"FAIL_AT=1", "FAILS=0", "PARALLELISM=-2"}, 0,
			"k8s-reproduce: PARALLELISM=-2 is not a whole number from 1 to 999999999 (the pods that run at once)", "", "", false},
		{"RETRIES not a number", []string{"FAIL_AT=1", "FAILS=0", "RETRIES=3x"}, 0,
			"k8s-reproduce: RETRIES=3x is not a whole number from 0 to 999999999", "", "", false},
		{"TIMEOUT too large", []string{"FAIL_AT=1", "FAILS=0", "TIMEOUT=1000000000"}, 0,
			"k8s-reproduce: TIMEOUT=1000000000 is not a whole number from 0 to 999999999 (seconds to wait for the Job)", "", "", false},
		{"DRY_RUN neither 1 nor 0", []string{"FAIL_AT=1", "FAILS=0", "DRY_RUN=yes"}, 0,
			"k8s-reproduce: DRY_RUN=yes is not 1 (print the manifests) nor 0 or empty (apply them)", "", "", false},
		{"GPUS not a number", []string{"FAIL_AT=1", "FAILS=0", "GPUS=1x"}, 0,
			"k8s-reproduce: GPUS=1x is not a whole number from 0 to 999999999 (the GPUs of a pod)", "", "", false},
		{"GRID_ROWS not a number", []string{"FAIL_AT=1", "FAILS=0", `GRID_ROWS=8"`}, 0,
			`k8s-reproduce: GRID_ROWS=8" is not a whole number from 0 to 999999999 (the rows of each comparison grid)`, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "kubectl.log")
			cmd := exec.Command("bash", "../../docs/k8s-reproduce.sh")
			cmd.Env = append(append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
				"KUBECTL_LOG="+log, "TIMEOUT=60", "POLL=0", "FAIL_ON=get job*"), tc.env...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			data, _ := os.ReadFile(log)
			calls := string(data)
			if (err == nil) != tc.ok || !strings.Contains(stderr.String(), tc.want) ||
				(tc.wantNone != "" && strings.Contains(stderr.String(), tc.wantNone)) || strings.Count(calls, "apply -f -") != tc.applies ||
				!strings.HasSuffix(string(out), tc.out) {
				t.Errorf("error %v, stderr %q, stdout %q; want success %v, %q in stderr, %q ending stdout, %d manifests applied; kubectl calls:\n%s",
					err, stderr.String(), out, tc.ok, tc.want, tc.out, tc.applies, calls)
			}
		})
	}
}

// TestSlurmTaskSeesTheOutput: an array task of docs/slurm-reproduce.sh on
// a node where OUT, which the script made as it submitted the array, does
// not exist waits OUT_WAIT seconds for it (a shared file system mounted
// late) and then fails naming OUT and the node, without running cadps,
// whose items would be written where the merge never sees them (a file
// system of the node's own there); where OUT exists, or appears while the
// task waits, it runs cadps reproduce into it.
func TestSlurmTaskSeesTheOutput(t *testing.T) {
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	stand := filepath.Join(dir, "cadps")
	if err := os.WriteFile(stand, []byte("#!/bin/sh\necho \"$@\" > "+ran+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(dir, "shared")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	for _, tc := range []struct {
		name, out, wait string
		mountAfter      time.Duration // OUT appears this long after the task starts (0: never)
		want            string        // the error; "" when cadps runs
	}{
		{"shared", shared, "0", 0, ""},
		{"mounted late", filepath.Join(dir, "late"), "30", 1500 * time.Millisecond, ""},
		{"node-local", filepath.Join(dir, "local", "runs"), "1", 0,
			"slurm-reproduce: OUT=" + filepath.Join(dir, "local", "runs") + ", made when the array was submitted, does not exist on " + host + " after 1 s: put OUT on a file system every node shares, mounted when a task starts"},
		{"OUT_WAIT not a number", shared, "soon", 0, "slurm-reproduce: OUT_WAIT=soon is not a whole number of seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(ran)
			cmd := exec.Command("bash", "../../docs/slurm-reproduce.sh")
			cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=0", "CADPS="+stand, "OUT="+tc.out, "OUT_WAIT="+tc.wait, "LOGS="+filepath.Join(dir, "logs"))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			mounted := make(chan error, 1)
			if tc.mountAfter > 0 {
				time.AfterFunc(tc.mountAfter, func() { mounted <- os.Mkdir(tc.out, 0o755) })
			}
			_, err := cmd.Output()
			if tc.mountAfter > 0 {
				if merr := <-mounted; merr != nil {
					t.Fatal(merr)
				}
			}
			args, rerr := os.ReadFile(ran)
			if tc.want == "" {
				if err != nil || rerr != nil || !strings.HasSuffix(strings.TrimSpace(string(args)), "-out "+tc.out) {
					t.Errorf("array task: %v, cadps ran with %q (%v)\n%s", err, args, rerr, stderr.String())
				}
				return
			}
			if err == nil || rerr == nil || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("array task: error %v, cadps ran: %v, stderr %q; want %q and cadps not run", err, rerr == nil, stderr.String(), tc.want)
			}
			if _, err := os.Stat(tc.out); err == nil && tc.out != shared {
				t.Errorf("the task made %s", tc.out)
			}
		})
	}
}

// TestSlurmSubmitChecksShardCount: docs/slurm-reproduce.sh, on the login
// node, refuses a SHARDS other than the count OUT records (shards.json)
// before it submits anything, since every task would be refused once it
// ran; with the recorded count, or a new folder, it submits the array and
// the merge.
func TestSlurmSubmitChecksShardCount(t *testing.T) {
	bin := t.TempDir()
	const sbatch = "#!/bin/sh\necho \"$*\" >> \"$SBATCH_LOG\"\necho 42\n"
	if err := os.WriteFile(filepath.Join(bin, "sbatch"), []byte(sbatch), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, recorded, shards string
		ok                     bool
	}{
		{"new folder", "", "100", true},
		{"the recorded count", `{"count":3}`, "3", true},
		{"another count", `{"count":3}`, "100", false},
		{"another count, the file indented", "{\n  \"count\": 3\n}", "4", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out, log := filepath.Join(dir, "out"), filepath.Join(dir, "sbatch.log")
			if tc.recorded != "" {
				if err := os.Mkdir(out, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(out, runs.ShardFile), []byte(tc.recorded+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command("bash", "../../docs/slurm-reproduce.sh")
			cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "SBATCH_LOG="+log,
				"OUT="+out, "LOGS="+filepath.Join(dir, "logs"), "SHARDS="+tc.shards, "ARRAY=1")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			_, err := cmd.Output()
			calls, _ := os.ReadFile(log)
			if tc.ok {
				if err != nil || strings.Count(string(calls), "\n") != 2 {
					t.Errorf("%v\n%s\nsbatch calls:\n%s", err, stderr.String(), calls)
				}
				// A requeued task keeps its first attempt's log.
				if first, _, _ := strings.Cut(string(calls), "\n"); !strings.Contains(first, "--requeue") || !strings.Contains(first, "--open-mode=append") {
					t.Errorf("the array is submitted as %q, want --requeue with --open-mode=append", first)
				}
				return
			}
			want := "slurm-reproduce: OUT=" + out + " was started with 3 shards (" + filepath.Join(out, runs.ShardFile) + "), not SHARDS=" + tc.shards + ": give SHARDS=3"
			if err == nil || len(calls) > 0 || !strings.Contains(stderr.String(), want) {
				t.Errorf("error %v, stderr %q, sbatch calls %q; want %q and nothing submitted", err, stderr.String(), calls, want)
			}
		})
	}
}

// TestSlurmSubmitChecksShardsAndArray: docs/slurm-reproduce.sh, on the
// login node, refuses a SHARDS that is not a whole number above 0, an
// ARRAY that is not an sbatch --array spec, and an ARRAY that runs an
// index beyond SHARDS−1, naming the variable and its value, before it
// submits anything (every task would be refused once it ran); it reads
// ranges, lists, steps, % limits and brackets as sbatch does (brackets and
// empty items as the Slurm of Debian 12 was seen to accept them), and
// SHARDS in decimal.
func TestSlurmSubmitChecksShardsAndArray(t *testing.T) {
	bin := t.TempDir()
	const sbatch = "#!/bin/sh\necho \"$* SHARDS=$SHARDS\" >> \"$SBATCH_LOG\"\necho 42\n"
	if err := os.WriteFile(filepath.Join(bin, "sbatch"), []byte(sbatch), 0o755); err != nil {
		t.Fatal(err)
	}
	const notSpec = " is not an --array spec of the forms sbatch documents (1,3,5; 0-7; 0-15:2; 0-15%4)"
	notCount := func(shards string) string {
		return "slurm-reproduce: SHARDS=" + shards + " is not a whole number from 1 to 999999999 (the number of shards, one array task each)"
	}
	beyond := func(array string, last, shards int) string {
		return "slurm-reproduce: ARRAY=" + array + " runs array task " + strconv.Itoa(last) + ", which is not a shard of SHARDS=" + strconv.Itoa(shards) +
			": the array's indices are the shard indices 0…" + strconv.Itoa(shards-1)
	}
	for _, tc := range []struct {
		name, shards, array string
		want                string // the refusal; "" when it submits
		submitted           string // in the array's sbatch call when it submits
	}{
		{"the default array", "8", "", "", "--array=0-7 "},
		{"a list", "8", "1,3,5", "", "--array=1,3,5 "},
		{"a step", "15", "0-15:2", "", "--array=0-15:2 "},
		{"a limit", "16", "0-15%4", "", "--array=0-15%4 "},
		{"empty items", "8", ",1,,3,", "", "--array=,1,,3, "},
		{"brackets, as squeue shows the indices", "8", "[1,7]", "", "--array=[1,7] "},
		{"brackets round a step, and a limit", "8", "[0-7:2]%2", "", "--array=[0-7:2]%2 "},
		{"SHARDS with a leading zero", "08", "", "", "--array=0-7 --requeue --open-mode=append --output="},
		{"SHARDS not a number", "abc", "1", notCount("abc"), ""},
		{"SHARDS zero", "0", "", notCount("0"), ""},
		{"SHARDS negative", "-3", "", notCount("-3"), ""},
		{"SHARDS too large", "1000000000", "1", notCount("1000000000"), ""},
		{"a range beyond", "8", "0-15", beyond("0-15", 15, 8), ""},
		{"a list beyond", "8", "1,3,8", beyond("1,3,8", 8, 8), ""},
		{"a step beyond", "16", "0-16:2", beyond("0-16:2", 16, 16), ""},
		{"a limited range beyond", "8", "0-15%4", beyond("0-15%4", 15, 8), ""},
		{"brackets beyond", "8", "[0-8]", beyond("[0-8]", 8, 8), ""},
		{"a bracket inside a range", "8", "1-[3]", "slurm-reproduce: ARRAY=1-[3]" + notSpec, ""},
		{"a blank", "8", "0-7 ", "slurm-reproduce: ARRAY=0-7 " + notSpec, ""},
		{"a range backwards", "8", "7-3", "slurm-reproduce: ARRAY=7-3" + notSpec, ""},
		{"a zero step", "8", "0-7:0", "slurm-reproduce: ARRAY=0-7:0" + notSpec, ""},
		{"a step without a range", "8", "5:2", "slurm-reproduce: ARRAY=5:2" + notSpec, ""},
		{"a limit not a number", "8", "0-7%a", "slurm-reproduce: ARRAY=0-7%a" + notSpec, ""},
		{"a name", "8", "all", "slurm-reproduce: ARRAY=all" + notSpec, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "sbatch.log")
			cmd := exec.Command("bash", "../../docs/slurm-reproduce.sh")
			cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "SBATCH_LOG="+log,
				"OUT="+filepath.Join(dir, "out"), "LOGS="+filepath.Join(dir, "logs"), "SHARDS="+tc.shards, "ARRAY="+tc.array)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			_, err := cmd.Output()
			calls, _ := os.ReadFile(log)
			if tc.want == "" {
				first, _, _ := strings.Cut(string(calls), "\n")
				if err != nil || strings.Count(string(calls), "\n") != 2 || !strings.Contains(first, tc.submitted) ||
					!strings.HasSuffix(first, " SHARDS="+strings.TrimLeft(tc.shards, "0")) {
					t.Errorf("%v\n%s\nsbatch calls:\n%s\nwant the array submitted with %q and SHARDS=%s", err, stderr.String(), calls, tc.submitted, strings.TrimLeft(tc.shards, "0"))
				}
				return
			}
			if err == nil || len(calls) > 0 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("error %v, stderr %q, sbatch calls %q; want %q and nothing submitted", err, stderr.String(), calls, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
				t.Error("the refused submission made OUT")
			}
		})
	}
}
