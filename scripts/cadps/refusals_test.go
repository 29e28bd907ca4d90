package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cadps/toolkit/cadps/runs"
)

// TestOutputDirUndo checks the shared output-folder helper: a failed run
// removes the folders it made while they are empty (with the files it
// created), and keeps everything else.
func TestOutputDirUndo(t *testing.T) {
	failed, ok := errors.New("failed"), error(nil)
	for _, c := range []struct {
		name     string
		out      string   // the output folder, under the test's folder
		existing bool     // the folder exists before the run
		write    []string // files in the folder when the run ends
		own      []string // those the run created
		err      error
		kept     bool // the folder is there afterwards
	}{
		{"failed run, new folder", "a/b/out", false, nil, nil, failed, false},
		{"finished run, new folder", "a/b/out", false, nil, nil, ok, true},
		{"failed run, existing folder", "a/b/out", true, nil, nil, failed, true},
		{"failed run that wrote a file", "a/b/out", false, []string{"a.png"}, nil, failed, true},
		{"failed run that wrote only its own file", "a/b/out", false, []string{runs.ShardFile}, []string{runs.ShardFile}, failed, false},
		{"failed run with its own and another file", "a/b/out", false, []string{runs.ShardFile, "x"}, []string{runs.ShardFile}, failed, true},
		{"failed run beside another worker's file", "a/b/out", false, []string{runs.ShardFile}, nil, failed, true},
		{"failed run that wrote only its own file in an existing folder", "a/b/out", true, []string{runs.ShardFile}, []string{runs.ShardFile}, failed, true},
		{"failed run with its own and another file in an existing folder", "a/b/out", true, []string{runs.ShardFile, "x"}, []string{runs.ShardFile}, failed, true},
		{"failed run through a/..", "a/../a/b/out", false, nil, nil, failed, false},
		{"failed run through a missing folder and ..", "n1/../a/b/out", false, nil, nil, failed, false},
		{"failed run, trailing separator", "a/b/out/", false, nil, nil, failed, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "a", "b", "out")
			if c.existing {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			o, err := makeOutputDir(root + string(filepath.Separator) + c.out)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range c.write {
				if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, name := range c.own {
				o.created(name)
			}
			runErr := c.err
			o.undo(&runErr)
			_, statErr := os.Stat(dir)
			if kept := statErr == nil; kept != c.kept {
				t.Fatalf("folder kept: %v, want %v", kept, c.kept)
			}
			// The parents it made go with the folder; the test's own stay.
			_, statErr = os.Stat(filepath.Join(root, "a"))
			if kept := statErr == nil; kept != (c.kept || c.existing) {
				t.Errorf("parent kept: %v, want %v", kept, c.kept || c.existing)
			}
			if _, err := os.Stat(root); err != nil {
				t.Errorf("the folder that existed before: %v", err)
			}
			if _, err := os.Lstat(filepath.Join(root, "n1")); c.err != nil && err == nil {
				t.Errorf("the failed run left n1, which it made")
			}
			// The run's own files go when they are all the folder holds.
			onlyOwn := c.err != nil && len(c.own) > 0 && len(c.write) == len(c.own)
			for _, name := range c.write {
				_, err := os.Stat(filepath.Join(dir, name))
				switch gone := errors.Is(err, fs.ErrNotExist); {
				case c.kept && onlyOwn && !gone:
					t.Errorf("%s, the failed run's own file and all the folder held, is still there (%v)", name, err)
				case c.kept && !onlyOwn && err != nil:
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
	var none *outputDir // nothing made
	err := failed
	none.undo(&err)
}

// TestOutputDirUndoTwice undoes a run's folders after another undo of
// them (a signal's stop, while the run returns its error) has removed the
// innermost: the parents the run made go too, since the stop exits the
// process as soon as its own undo returns.
func TestOutputDirUndoTwice(t *testing.T) {
	root := t.TempDir()
	top := filepath.Join(root, "a")
	o, err := makeOutputDir(filepath.Join(top, "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(o.made[0]); err != nil { // the other undo's first step
		t.Fatal(err)
	}
	failed := errors.New("failed")
	o.undo(&failed)
	if _, err := os.Stat(top); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s is still there after the undo (%v)", top, err)
	}
}

// TestOutputDirConcurrent makes one new folder from many goroutines at
// once, as workers of one run started together do: exactly one of them
// made it (and its parents), so that a worker refused afterwards never
// removes a folder another one made.
func TestOutputDirConcurrent(t *testing.T) {
	for _, depth := range []int{1, 3} {
		t.Run(fmt.Sprintf("depth %d", depth), func(t *testing.T) {
			for range 30 {
				root := t.TempDir()
				parts := []string{root}
				for k := range depth {
					parts = append(parts, fmt.Sprintf("d%d", k))
				}
				dir := filepath.Join(parts...)
				const workers = 8
				made := make([][]string, workers)
				var wg sync.WaitGroup
				start := make(chan struct{})
				for w := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						o, err := makeOutputDir(dir)
						if err != nil {
							t.Error(err)
							return
						}
						made[w] = o.made
					}()
				}
				close(start)
				wg.Wait()
				owners := map[string]int{}
				for _, m := range made {
					for _, d := range m {
						owners[filepath.Clean(d)]++
					}
				}
				for d, n := range owners {
					if n != 1 {
						t.Fatalf("%d workers made %s, want 1", n, d)
					}
				}
				if owners[dir] != 1 {
					t.Fatalf("no worker made %s", dir)
				}
			}
		})
	}
}

// TestOutputPathRefusals checks the output paths the helpers refuse
// before any work, each with one line naming the problem, leaving
// nothing behind.
func TestOutputPathRefusals(t *testing.T) {
	root := t.TempDir()
	folder := filepath.Join(root, "folder.csv")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(root, "dl")
	if err := os.Symlink(filepath.Join(root, "gone"), dangling); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	sep := string(filepath.Separator)
	for _, c := range []struct {
		name string
		make func(string) (*outputDir, error)
		path string
		want string
	}{
		{"file: an existing folder", makeOutputFileDir, folder, "output file " + folder + " is a folder: give a file name"},
		{"file: a trailing separator", makeOutputFileDir, filepath.Join(root, "new") + sep, "output file " + filepath.Join(root, "new") + sep + " names a folder: give a file name"},
		{"file: a trailing .", makeOutputFileDir, filepath.Join(root, "new") + sep + ".", "names a folder: give a file name"},
		{"file: in a dangling link", makeOutputFileDir, filepath.Join(dangling, "x.csv"), dangling + " is a symbolic link to " + filepath.Join(root, "gone") + ", which does not exist"},
		{"folder: a dangling link", makeOutputDir, dangling, "output folder " + dangling + ": " + dangling + " is a symbolic link to " + filepath.Join(root, "gone") + ", which does not exist"},
		{"folder: below a dangling link", makeOutputDir, filepath.Join(dangling, "sub"), dangling + " is a symbolic link to"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.make(c.path)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line containing %q", err, c.want)
			}
			for _, p := range []string{filepath.Join(root, "new"), filepath.Join(root, "gone")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("the refusal made %s", p)
					os.RemoveAll(p)
				}
			}
		})
	}
}

// TestRefusedRunsLeaveNoFolder runs commands that refuse their input, or
// fail before writing anything, into an output path that does not exist:
// each reports one line naming the problem and leaves no folder behind.
func TestRefusedRunsLeaveNoFolder(t *testing.T) {
	dir := t.TempDir()
	model := fixtureModel(t, "fixed") // 16×16
	images := imageFolder(t, 2)
	bigImages := imageFolder(t, 1)
	writeTestImage(t, filepath.Join(bigImages, "z-big.png"), 20, 0)
	truncated := filepath.Join(dir, "truncated.safetensors")
	data, err := os.ReadFile(model[3])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	image := filepath.Join(images, "img00.png")
	small := filepath.Join(dir, "small.png")
	writeTestImage(t, small, 8, 0)
	shirt := filepath.Join(testImagesDir(t), "6-shirt.png")
	outDir := filepath.Join(dir, "new", "out")       // an output folder
	outFile := filepath.Join(dir, "new", "sub", "x") // an output file, without extension
	rep := func(extra ...string) []string {
		return append(append([]string{images, "-task", "sr:factor=2", "-methods", "dps", "-steps", "2", "-out", outDir}, model...), extra...)
	}
	res := func(extra ...string) []string {
		return append(append([]string{image, "-task", "sr:factor=2", "-method", "dps", "-steps", "2", "-out", outDir, "-quiet"}, model...), extra...)
	}
	usage := map[string]bool{"reproduce lease too short": true, "reproduce lease just too short": true, "metrics shift of the image size": true, "reproduce empty task": true}
	for _, c := range []struct {
		name string
		run  func([]string, io.Writer, io.Writer) error
		args []string
		want string
	}{
		{"reproduce factor that does not divide", runReproduce, rep("-task", "sr:factor=3"), "factor 3 does not divide"},
		{"reproduce too many steps", runReproduce, rep("-steps", "5000"), "5000 sampling steps exceed the 1000 steps of the prior's diffusion process: give at most 1000"},
		{"reproduce method twice", runReproduce, rep("-methods", "dps,dps"), "method dps is given twice"},
		{"reproduce empty task", runReproduce, append([]string{images, "-task", "", "-methods", "dps", "-out", outDir}, model...), `-task: operator spec "": names no task`},
		{"reproduce truncated weights", runReproduce, rep("-weights", truncated), "truncated"},
		{"reproduce missing LPIPS weights", runReproduce, rep("-lpips", filepath.Join(dir, "nonexistent")), "-lpips"},
		{"reproduce missing FID weights", runReproduce, rep("-fid", filepath.Join(dir, "nonexistent.pth")), "nonexistent.pth"},
		{"reproduce wrong image size", runReproduce, append([]string{bigImages, "-task", "sr:factor=2", "-methods", "dps", "-out", outDir}, model...), "z-big.png is 20×20, but the model takes 16×16 images (use -resize or -crop to fit it)"},
		{"reproduce contradicting shards", runReproduce, rep("-shard", "0/2", "-shard-count", "3"), "contradicts the shard count 3"},
		{"reproduce refused shard", runReproduce, rep("-shard", "0/2", "-task", "sr:factor=3"), "factor 3 does not divide"},
		{"reproduce negative shard count", runReproduce, rep("-shard-count", "-1"), "-shard-count -1 is negative"},
		{"reproduce shard count without index", runReproduce, rep("-shard-count", "3"), "a shard count (3) but no shard index: give the shard as INDEX/COUNT, or run in a Slurm array"},
		{"reproduce steps and respacing", runReproduce, rep("-respacing", "3"), "give -steps or -respacing, not both"},
		{"reproduce lease too short", runReproduce, rep("-lease", "3ns"), "-lease 3ns is too short: want at least 1s"},
		{"reproduce lease just too short", runReproduce, rep("-lease", "999ms"), "-lease 999ms is too short"},
		{"restore diverges", runRestore, res("-scale", "1e38"), "sampling diverged"},
		{"restore task twice", runRestore, res("-task", "gaussian_blur"), "-task is given 2 times (sr:factor=2, gaussian_blur): restore runs one task"},
		{"restore steps and respacing", runRestore, res("-respacing", "3"), `-respacing "3" sets the steps`},
		{"restore image too small to crop", runRestore, append([]string{small, "-crop", "-task", "sr:factor=2", "-out", outDir}, model...), "too small to crop to the 16×16 images the model takes (use -resize instead of -crop)"},
		{"restore blur image too small", runRestore, append([]string{small, "-task", "gaussian_blur:kernel_size=3", "-out", outDir}, model...), "but the model takes 16×16 images (use -resize to fit it)"},
		{"restore image too small", runRestore, append([]string{small, "-task", "sr:factor=2", "-out", outDir}, model...), "but the model takes 16×16 images (use -resize to fit it, or -measured if it is the measurement y, a low-resolution image to restore as it is)"},
		{"sample too many steps", runSample, []string{"-n", "2", "-steps", "5000", "-out", outFile + ".png"}, "-steps 5000: restore: 5000 sampling steps exceed the 1000 steps of the prior's diffusion process: give at most 1000"},
		{"sample JPEG name", runSample, []string{"-n", "2", "-steps", "2", "-out", outFile + ".jpg"}, "give a .png name"},
		{"trace diverges", runTrace, []string{"-data", testImagesDir(t), "-count", "1", "-steps", "2", "-scale", "1e38", "-method", "dps", "-out", outFile + ".csv"}, "sampling diverged"},
		{"denoise bad timestep", runDenoise, []string{"-data", testImagesDir(t), "-count", "1", "-t", "1000", "-csv", outFile + ".csv"}, "outside [0, 1000)"},
		{"denoise too many images", runDenoise, []string{"-data", testImagesDir(t), "-count", "11", "-csv", outFile + ".csv"}, "holds 10 images; -count 11 asks for more"},
		{"metrics shift of the image size", runMetrics, []string{"-register", "32", shirt, shirt}, "-register 32: metrics: maximum shift 32 is not less than the image size 32×32"},
		{"gmm dimension", runGMM, []string{"--method", "exact", "--dim", "4097", "--dim-y", "2", "--samples", "2", "--projections", "1"}, "--dim 4097: at most 4096"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runCmd(c.run, c.args...)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if msg := err.Error(); !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q, want one line containing %q", msg, c.want)
			}
			// Refusals of the command line itself exit with status 2.
			if usage[c.name] && !errors.As(err, new(usageError)) {
				t.Errorf("error %q is not a usage error", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "new")); !os.IsNotExist(err) {
				t.Errorf("the refused run left %s (%v)", filepath.Join(dir, "new"), err)
				os.RemoveAll(filepath.Join(dir, "new"))
			}
		})
	}
}

// TestFlagErrorsAreOneLine checks every command: a bad flag prints one
// line (the error and where to look), which starts with the command's
// name (`cadps gmm bench: ...`), with exit status 2; -h and -help print
// the usage with status 0.
func TestFlagErrorsAreOneLine(t *testing.T) {
	names := [][]string{{"gmm", "bench"}, {"gmm", "table"}}
	for _, c := range commands() {
		names = append(names, []string{c.name})
	}
	for _, name := range names {
		cmd := strings.Join(name, " ")
		t.Run(cmd, func(t *testing.T) {
			for _, bad := range [][]string{{"-bogus"}, {"-bogus=1"}} {
				var stdout, stderr bytes.Buffer
				code := run(append(slices.Clone(name), bad...), &stdout, &stderr)
				lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
				if code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "cadps "+cmd+": ") || !strings.Contains(lines[0], "-bogus") || !strings.Contains(lines[0], "cadps "+cmd+" -h") {
					t.Errorf("%q: exit %d, stderr %q; want 2 and one line starting with %q, naming -bogus and -h", bad, code, stderr.String(), "cadps "+cmd+": ")
				}
			}
			for _, help := range []string{"-h", "-help", "--help"} {
				var stdout, stderr bytes.Buffer
				code := run(append(slices.Clone(name), help), &stdout, &stderr)
				first, _, _ := strings.Cut(stderr.String(), "\n")
				if code != 0 || !strings.HasPrefix(first, "Usage: cadps "+cmd) || first != strings.TrimSpace(first) || !strings.Contains(stderr.String(), "\n  -") {
					t.Errorf("%s: exit %d, stderr %q; want 0 and the usage with the flags, its first line without trailing spaces", help, code, stderr.String())
				}
			}
		})
	}
}

// TestExitStatus holds the commands to one rule: a command line that is
// wrong on its face, a flag value refused before any file is read among
// it, exits with status 2; a failure found in the files or the run, a
// value that does not fit the model among them, with 1. Either way the
// error is one line, and nothing is written.
func TestExitStatus(t *testing.T) {
	model := fixtureModel(t, "fixed") // 16×16
	images := imageFolder(t, 1)
	image := filepath.Join(images, "img00.png")
	out := filepath.Join(t.TempDir(), "new", "out")
	data := testImagesDir(t)
	// restore IMAGE -task SPEC (with the fixture model), then extra.
	restore := func(task string, extra ...string) []string {
		return append(append([]string{"restore", image, "-task", task, "-method", "dps", "-out", out, "-quiet"}, model...), extra...)
	}
	reproduce := func(extra ...string) []string {
		return append(append([]string{"reproduce", images, "-methods", "dps", "-steps", "2", "-out", out, "-quiet"}, model...), extra...)
	}
	evaluate := func(extra ...string) []string {
		return append([]string{"evaluate", "-data", data, "-count", "1", "-batch", "1", "-steps", "2", "-methods", "dps", "-out", out}, extra...)
	}
	trace := func(extra ...string) []string {
		return append([]string{"trace", "-data", data, "-count", "1", "-steps", "2", "-out", out + ".csv"}, extra...)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"restore: unknown flag", restore("sr:factor=2", "-bogus"), 2, "flag provided but not defined: -bogus"},
		{"restore: malformed number", restore("sr:factor=2", "-steps", "x"), 2, `invalid value "x" for flag -steps`},
		{"restore: negative -scale", restore("sr:factor=2", "-scale", "-1"), 2, "-scale: step size ζ = -1 must be finite and non-negative"},
		{"restore: negative -sigma-y", restore("sr:factor=2", "-sigma-y", "-0.1"), 2, "-sigma-y: σ_y = -0.1 must be finite and non-negative"},
		{"restore: -eta without -ddim", restore("sr:factor=2", "-eta", "0.5"), 2, "-eta 0.5 without -ddim"},
		{"restore: -eta out of range", restore("sr:factor=2", "-ddim", "-eta", "2"), 2, "-eta: DDIM η = 2 must lie in [0, 1]"},
		{"restore: malformed -respacing", restore("sr:factor=2", "-respacing", "abc"), 2, `-respacing "abc": "abc" is not a positive step count`},
		{"restore: -respacing ddim with sections", restore("sr:factor=2", "-respacing", "ddim5,5"), 2, `-respacing "ddim5,5": ddimN takes one step count`},
		{"restore: unknown -method", restore("sr:factor=2", "-method", "magic"), 2, `-method: guidance: method spec "magic": unknown method "magic"`},
		{"restore: unknown task", restore("deblur"), 2, `-task: operator spec "deblur": unknown operator "deblur"`},
		{"restore: task not key=value", restore("sr:factor"), 2, `-task: operator spec "sr:factor": parameter "factor" is not key=value`},
		{"restore: bad -noise", restore("sr:factor=2", "-noise", "laplace"), 2, "-noise"},
		{"restore: bad -ramp", restore("sr:factor=2", "-ramp", "0.1:2"), 2, "-ramp"},
		{"restore: no draws", restore("sr:factor=2", "-draws", "0"), 2, "-draws 0: need at least 1"},
		{"restore: missing image", append([]string{"restore", filepath.Join(images, "gone.png"), "-task", "sr:factor=2", "-out", out}, model...), 1, "cannot read image"},
		{"restore: a factor that does not fit the model", restore("sr:factor=3"), 1, "factor 3 does not divide"},
		{"restore: more steps than the process", restore("sr:factor=2", "-steps", "5000"), 1, "5000 sampling steps exceed the 1000 steps of the prior's diffusion process: give at most 1000"},
		{"reproduce: unknown -methods", reproduce("-task", "sr:factor=2", "-methods", "dps,magic"), 2, `-methods: guidance: method spec "magic"`},
		{"reproduce: -task without -methods", append([]string{"reproduce", images, "-task", "sr:factor=2", "-steps", "2", "-out", out, "-quiet"}, model...), 2, "-task sr:factor=2 names no method: give -methods"},
		{"reproduce: methods separated by a space", append([]string{"reproduce", images, "-task", "sr:factor=2", "-methods", "dps", "cadps", "-out", out}, model...), 2, fmt.Sprintf("want at most one image folder, got 2 arguments (%q, \"cadps\")", images)},
		{"reproduce: unknown task", reproduce("-task", "deblur"), 2, `-task: operator spec "deblur": unknown operator "deblur"`},
		{"reproduce: negative -scale", reproduce("-task", "sr:factor=2", "-scale", "-1"), 2, "-scale"},
		{"reproduce: -fid-dims without -fid", reproduce("-task", "sr:factor=2", "-fid-dims", "64"), 2, "-fid-dims sets up -fid: give -fid too"},
		{"merge: -fid-dims without -fid", []string{"merge", "-fid-dims", "64", out}, 2, "-fid-dims sets up -fid: give -fid too"},
		{"merge: missing folder", []string{"merge", out}, 1, "reproduction folder " + out + " does not exist"},
		{"merge: a file for a folder", []string{"merge", image}, 1, "reproduction folder " + image + " is not a folder"},
		{"evaluate: unknown task", evaluate("-tasks", "deblur"), 2, `-tasks: operator spec "deblur"`},
		{"evaluate: missing data", evaluate("-data", data+"-gone"), 1, "no such file"},
		{"trace: unknown -method", trace("-method", "magic"), 2, `-method: guidance: method spec "magic"`},
		{"trace: unknown task", trace("-task", "deblur"), 2, `-task: operator spec "deblur"`},
		{"trace: negative -scale", trace("-scale", "-1"), 2, "-scale"},
		{"denoise: -force without -csv", []string{"denoise", "-data", data, "-force"}, 2, "-force replaces the -csv file: give -csv FILE too"},
		{"gmm: --force without a file", []string{"gmm", "--method", "exact", "--force"}, 2, "--force replaces the --out and --save-problem files: give one of them too"},
		{"gmm table: -force without -json", []string{"gmm", "table", "-force", "x.csv"}, 2, "-force replaces the -json file: give -json FILE too"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(c.args, &stdout, &stderr)
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if code != c.code || len(lines) != 1 || !strings.Contains(lines[0], c.want) {
				t.Errorf("exit %d, stderr %q; want %d and one line containing %q", code, stderr.String(), c.code, c.want)
			}
			if _, err := os.Stat(filepath.Dir(out)); !os.IsNotExist(err) {
				t.Errorf("the refused run left %s (%v)", filepath.Dir(out), err)
				os.RemoveAll(filepath.Dir(out))
			}
		})
	}
}

// TestTaskSpecExitStatus holds every command that takes task specs to
// one rule: a spec wrong on its face (a malformed or out-of-range value, a
// parameter the task lacks or does not take) is refused when the flags
// are checked, with status 2, one line naming the flag and the problem,
// and a pointer to the command's flags, before anything is read or
// written; one that does not fit the images (a factor that does not
// divide their size, a box side above the default of the other end of its
// range) is refused with status 1, before any sampling. A spec that gives
// the images' size (image_size) is judged against it with the flags.
func TestTaskSpecExitStatus(t *testing.T) {
	model := fixtureModel(t, "fixed") // 16×16
	images := imageFolder(t, 1)
	data := testImagesDir(t)
	out := filepath.Join(t.TempDir(), "new", "out")
	commands := []struct {
		name, flag string
		args       func(spec string) []string
	}{
		{"restore", "-task", func(spec string) []string {
			return append([]string{"restore", filepath.Join(images, "img00.png"), "-task", spec, "-method", "dps", "-steps", "2", "-out", out, "-quiet"}, model...)
		}},
		{"reproduce", "-task", func(spec string) []string {
			return append([]string{"reproduce", images, "-task", spec, "-methods", "dps", "-steps", "2", "-out", out, "-quiet"}, model...)
		}},
		{"evaluate", "-tasks", func(spec string) []string {
			return []string{"evaluate", "-data", data, "-tasks", "sr:factor=2;" + spec, "-count", "1", "-batch", "1", "-steps", "2", "-methods", "dps", "-out", out}
		}},
		{"trace", "-task", func(spec string) []string {
			return []string{"trace", "-data", data, "-task", spec, "-count", "1", "-steps", "2", "-out", out + ".csv"}
		}},
	}
	for _, spec := range []struct {
		spec string
		code int
		want string
	}{
		{"sr:factor=abc", 2, `parameter factor: "abc" is not an integer`},
		{"sr:factor=0", 2, "factor must be a positive integer, got 0"},
		{"sr:fator=2", 2, "missing parameter factor"},
		{"sr:factor=2,fator=2", 2, "fator"},
		{"gaussian_blur:intensity=-1", 2, "intensity (σ) must be positive and finite, got -1"},
		{"inpaint_random:fraction=2", 2, "fraction must lie in [0, 1], got 2"},
		{"inpaint_half:side=middle", 2, `side "middle"`},
		{"phase_retrieval:oversample=9", 2, "oversample 9 is above 8"},
		{"inpaint_box:image_size=16,min_size=400", 2, "min_size 400 is above max_size 8 (max_size not given: min(H,W)/2 = 8)"},
		{"sr:factor=3", 1, "factor 3 does not divide"},
		{"inpaint_box:min_size=400", 1, `operator spec "inpaint_box:min_size=400": inpainting: min_size 400 is above max_size`},
	} {
		for _, c := range commands {
			t.Run(c.name+" "+spec.spec, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				code := run(c.args(spec.spec), &stdout, &stderr)
				lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
				want := spec.want
				if spec.code == 2 {
					want = fmt.Sprintf("cadps %s: %s: operator spec %q: ", c.name, c.flag, spec.spec)
					if !strings.Contains(lines[0], spec.want) || !strings.HasSuffix(lines[0], "(run `cadps "+c.name+" -h` for the flags)") {
						t.Errorf("stderr %q, want %q and a pointer to cadps %s -h", stderr.String(), spec.want, c.name)
					}
				}
				if code != spec.code || len(lines) != 1 || !strings.Contains(lines[0], want) {
					t.Errorf("exit %d, stderr %q; want %d and one line containing %q", code, stderr.String(), spec.code, want)
				}
				if _, err := os.Stat(filepath.Dir(out)); !os.IsNotExist(err) {
					t.Errorf("the refused run left %s (%v)", filepath.Dir(out), err)
					os.RemoveAll(filepath.Dir(out))
				}
			})
		}
	}
}

// TestTaskListRefusals: a task given twice, however spelt, is refused
// naming both spellings, and so are two different tasks whose folders
// would be one, naming both tasks and the folder; a final ';' ends a
// -tasks list.
func TestTaskListRefusals(t *testing.T) {
	model := fixtureModel(t, "fixed")
	images := imageFolder(t, 1)
	out := filepath.Join(t.TempDir(), "out")
	reproduce := func(tasks ...string) []string {
		args := append([]string{"reproduce", images, "-methods", "dps", "-steps", "2", "-out", out}, model...)
		for _, task := range tasks {
			args = append(args, "-task", task)
		}
		return args
	}
	evaluate := func(tasks string) []string {
		return []string{"evaluate", "-data", testImagesDir(t), "-count", "1", "-batch", "1", "-steps", "2", "-methods", "dps", "-tasks", tasks, "-out", out}
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"reproduce: a task twice", reproduce("sr:factor=2", "sr: factor=2"), "the same task is given twice (-task sr:factor=2, -task sr: factor=2): give it once"},
		{"reproduce: folders that collide", reproduce("inpaint_file:path=m/a.png", "inpaint_file:path=m_a.png"),
			"-task inpaint_file:path=m/a.png and -task inpaint_file:path=m_a.png are different tasks that would share the task folder inpaint_file_path=m_a.png"},
		{"evaluate: a task twice", evaluate("sr:factor=2; sr: factor=2"), `-tasks: "sr:factor=2" and "sr: factor=2" are the same task: give it once`},
		{"evaluate: parameters in another order", evaluate("sr:factor=2,kernel=box;inpaint_box;sr:kernel=box,factor=2;"), `"sr:factor=2,kernel=box" and "sr:kernel=box,factor=2" are the same task`},
		{"evaluate: folders that collide", evaluate("inpaint_file:path=m/a.png;inpaint_file:path=m_a.png"),
			`-tasks: "inpaint_file:path=m/a.png" and "inpaint_file:path=m_a.png" are different tasks that would share the image folder images/inpaint_file_pathm_a.png`},
		{"evaluate: tasks separated by ','", evaluate("sr:factor=2,inpaint_box"), `parameter "inpaint_box" is not key=value; inpaint_box is a task: separate tasks with ';', not ','`},
		{"evaluate: a task with parameters after ','", evaluate("inpaint_box:size=12, sr:factor=2"), "sr is a task: separate tasks with ';', not ','"},
		{"evaluate: a task without parameters before ','", evaluate("inpaint_box,sr:factor=2"), "; sr is a task: separate tasks with ';', not ','"},
		{"evaluate: two tasks without parameters", evaluate("inpaint_box, gaussian_blur"), "; gaussian_blur is a task: separate tasks with ';', not ','"},
		{"evaluate: a bare word that is no task", evaluate("sr:factor=2,foo"), `parameter "foo" is not key=value (run`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(c.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), c.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("the refused run made %s", out)
				os.RemoveAll(out)
			}
		})
	}
	tasks, err := splitTaskList(" sr:factor=2 ;inpaint_box;")
	if err != nil || !slices.Equal(tasks, []string{"sr:factor=2", "inpaint_box"}) {
		t.Errorf("a list with a final ';': %q, %v", tasks, err)
	}
}

// TestReproduceImageFolder checks reproduce's image list: linked images are
// images, and the image folder is no output folder.
func TestReproduceImageFolder(t *testing.T) {
	images := imageFolder(t, 1)
	linked := filepath.Join(t.TempDir(), "linked.png")
	writeTestImage(t, linked, 16, 2)
	if err := os.Symlink(linked, filepath.Join(images, "img01.png")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, err := runCmd(runReproduce, reproduceArgs(t, images, out, "dps")...)
	if err != nil {
		t.Fatalf("reproduce: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "2 of 2 items") {
		t.Errorf("stdout %q: want both images, the linked one too", stdout)
	}

	link := filepath.Join(t.TempDir(), "images-link")
	if err := os.Symlink(images, link); err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{images, images + string(filepath.Separator) + ".", link} {
		_, _, err := runCmd(runReproduce, reproduceArgs(t, images, o, "dps")...)
		if err == nil || !strings.Contains(err.Error(), "is the image folder") {
			t.Errorf("-out %s: %v, want a refusal", o, err)
		}
	}
	if entries, _ := os.ReadDir(images); len(entries) != 2 {
		t.Errorf("the image folder holds %d entries after the refusals, want its 2 images", len(entries))
	}
}

// TestRestoreRerun reruns restore into one folder: the earlier run's files
// that the new run does not write go, other files stay, and a failed rerun
// changes nothing.
func TestRestoreRerun(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "face.png")
	writeTestImage(t, img, 16, 0)
	out := filepath.Join(dir, "out")
	model := fixtureModel(t, "fixed")
	restoreIn := func(extra ...string) error {
		args := append(append([]string{img, "-steps", "2", "-out", out, "-quiet"}, model...), extra...)
		_, _, err := runCmd(runRestore, args...)
		return err
	}
	if err := restoreIn("-task", "sr:factor=2", "-method", "dps", "-gif"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		entries, err := os.ReadDir(out)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, e := range entries {
			n = append(n, e.Name())
		}
		return n
	}
	first := []string{runs.RestoreLabelFile, runs.RestoreMeasurementFile, "notes.txt", runs.RestoreGIFFile, runs.RestoreProgressFile, runs.RestoreReconFile, runs.RestoreRecordFile}
	if got := names(); !slices.Equal(got, first) {
		t.Fatalf("first run: %v, want %v", got, first)
	}
	record := readFile(t, filepath.Join(out, runs.RestoreRecordFile))
	if err := restoreIn("-task", "sr:factor=2", "-method", "dps", "-scale", "1e38"); err == nil {
		t.Fatal("a diverging rerun succeeded")
	}
	if got := names(); !slices.Equal(got, first) || readFile(t, filepath.Join(out, runs.RestoreRecordFile)) != record {
		t.Errorf("a failed rerun changed the folder: %v", got)
	}
	if err := restoreIn("-method", "unconditional"); err != nil { // no measurement, no GIF
		t.Fatal(err)
	}
	if got, want := names(), []string{runs.RestoreLabelFile, "notes.txt", runs.RestoreProgressFile, runs.RestoreReconFile, runs.RestoreRecordFile}; !slices.Equal(got, want) {
		t.Errorf("after a rerun without measurement and -gif: %v, want %v", got, want)
	}
}

// TestRestoreOthersFiles runs restore into folders that hold files of
// the names it writes: those of an earlier restoration (a record.json of
// a restoration) go unless that record lists other files (or, a record
// without the list, they are names restore writes), and the others stay;
// a folder without a restoration's record is refused, naming such a file
// (a user's own, which the run would replace; record.json first, and as
// damaged where it is empty or not whole JSON), and left as it was; and an
// image that is one of the run's output files is refused before anything
// is written.
func TestRestoreOthersFiles(t *testing.T) {
	model := fixtureModel(t, "fixed")
	img := filepath.Join(t.TempDir(), "face.png")
	writeTestImage(t, img, 16, 0)
	mine := []string{"notes.txt", runs.RestoreMeasurementFile, runs.RestoreGIFFile}
	for _, c := range []struct {
		name    string
		record  string   // record.json before the run, "" for none
		kept    []string // of mine, those still there after an unconditional run
		refused string   // what the refusal says the folder holds, "" when the run is taken
	}{
		{"no record", "", mine, runs.RestoreMeasurementFile + ", which no run of cadps restore made and which it would replace"},
		{"a record that lists its files", `{"image": "face.png", "settings": {"method": "dps"}, "files": ["recon.png", "label.png", "progress.png"]}`, mine, ""},
		{"a record without the list", `{"image": "face.png", "settings": {"method": "dps"}}`, []string{"notes.txt"}, ""},
		{"a record.json that is no restoration's", `{"something": "else"}`, mine, runs.RestoreRecordFile + ", which no run of cadps restore made and which it would replace"},
		{"an empty record.json", "\n", mine, "a record.json that is empty, so which of its files a restoration made is unknown: remove record.json"},
		{"a record.json that is not whole JSON", `{"image": "face.png", "sett`, mine, "a record.json that is damaged (not whole JSON), so which of its files a restoration made is unknown: remove record.json"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			for _, name := range mine {
				if err := os.WriteFile(filepath.Join(out, name), []byte("mine"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if c.record != "" {
				if err := os.WriteFile(filepath.Join(out, runs.RestoreRecordFile), []byte(c.record), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := folderFiles(t, out)
			args := append([]string{img, "-method", "unconditional", "-steps", "2", "-out", out, "-quiet"}, model...)
			_, stderr, err := runCmd(runRestore, args...)
			switch {
			case c.refused != "":
				want := "runs: output folder " + out + " holds " + c.refused
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %v, want one containing %q", err, want)
				}
				if after := folderFiles(t, out); !maps.Equal(after, before) {
					t.Errorf("the refused run changed the folder: %v, was %v", after, before)
				}
				return
			case err != nil:
				t.Fatalf("%v\n%s", err, stderr)
			}
			for _, name := range mine {
				data, err := os.ReadFile(filepath.Join(out, name))
				if want := slices.Contains(c.kept, name); want != (err == nil) || want && string(data) != "mine" {
					t.Errorf("%s: %q, %v; kept: want %v", name, data, err, want)
				}
			}
		})
	}

	for _, name := range []string{runs.RestoreReconFile, runs.RestoreMeasurementFile, runs.RestoreGIFFile, runs.RestoreRecordFile} {
		t.Run("image "+name, func(t *testing.T) {
			out := t.TempDir()
			image := filepath.Join(out, name)
			writeTestImage(t, filepath.Join(out, "x.png"), 16, 1) // an image, whatever its name
			if err := os.Rename(filepath.Join(out, "x.png"), image); err != nil {
				t.Fatal(err)
			}
			before := readFile(t, image)
			for _, o := range []string{out, out + string(filepath.Separator) + "."} {
				args := append([]string{image, "-task", "sr:factor=2", "-method", "dps", "-steps", "2", "-out", o, "-quiet"}, model...)
				_, _, err := runCmd(runRestore, args...)
				if err == nil || !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "is the file "+name+" this run writes") {
					t.Errorf("-out %s: %v, want a usage error naming %s", o, err, name)
				}
			}
			if entries, _ := os.ReadDir(out); len(entries) != 1 || readFile(t, image) != before {
				t.Errorf("the refused run changed the folder: %v", entries)
			}
		})
	}
}

// TestFirstError checks that the sample parts' errors make one line.
func TestFirstError(t *testing.T) {
	a, b := errors.New("a"), errors.New("b")
	for _, c := range []struct {
		errs []error
		want string
	}{
		{[]error{nil, nil}, ""},
		{[]error{nil, a}, "a"},
		{[]error{a, b, nil}, "a (2 of 3 parts failed)"},
	} {
		got := ""
		if err := firstError(c.errs); err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%v: %q, want %q", c.errs, got, c.want)
		}
	}
}

// TestOutputFiles checks the output files of trace, denoise -csv, sample,
// gmm --out and gmm bench --csv and --json: a file in a folder that does
// not exist yet is written (the folders are made) and named on stderr
// (sample names it on stdout), and a folder given as
// the file, an existing one or a name that ends in a separator, is refused
// before the work, by name, leaving nothing behind.
func TestOutputFiles(t *testing.T) {
	data := testImagesDir(t)
	bench := []string{"bench", "--dims", "8", "--dims-y", "1", "--problems", "1", "--methods", "exact", "--samples", "10", "--steps", "2", "--projections", "2"}
	benchCSV := filepath.Join(t.TempDir(), "bench.csv")
	if _, stderr, err := runCmd(runGMM, append(slices.Clone(bench), "--csv", benchCSV)...); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr)
	}
	const exists = " exists: give -force to replace it"
	for _, c := range []struct {
		name string
		run  func([]string, io.Writer, io.Writer) error
		args []string
		// again is the error of a second run into the file it wrote;
		// force, that -force makes that run replace it.
		again string
		force bool
	}{
		{"trace", runTrace, []string{"-data", data, "-count", "1", "-steps", "2", "-method", "dps", "-out"}, exists, true},
		{"denoise", runDenoise, []string{"-data", data, "-count", "1", "-t", "10", "-csv"}, exists, true},
		{"sample", runSample, []string{"-n", "1", "-steps", "2", "-jobs", "1", "-out"}, exists, true},
		{"gmm --out", runGMM, []string{"--method", "exact", "--samples", "10", "--projections", "2", "--out"}, exists, true},
		{"gmm --save-problem", runGMM, []string{"--method", "exact", "--samples", "10", "--projections", "2", "--save-problem"}, exists, true},
		{"gmm bench --csv", runGMM, append(slices.Clone(bench), "--csv"), " exists: resume the bench to extend it", false},
		{"gmm bench --json", runGMM, append(slices.Clone(bench), "--json"), " exists: remove it or choose another file (--resume replaces it", false},
		{"gmm table -json", runGMM, []string{"table", benchCSV, "-json"}, exists, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "new", "sub", "x.png") // sample writes PNG, the others any name
			_, stderr, err := runCmd(c.run, append(slices.Clone(c.args), file)...)
			if err != nil {
				t.Fatalf("into a new folder: %v\n%s", err, stderr)
			}
			if c.name != "sample" && !strings.Contains(stderr, " to "+file+"\n") { // sample names its grid on stdout
				t.Errorf("stderr does not name the file it wrote, %s:\n%s", file, stderr)
			}
			if st, err := os.Stat(file); err != nil || st.Size() == 0 {
				t.Errorf("%s: %v", file, err)
			}
			// A second run is refused before its work and keeps the file;
			// with -force it replaces it.
			if err := os.WriteFile(file, []byte("kept"), 0o644); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, err := runCmd(c.run, append(slices.Clone(c.args), file)...)
			if err == nil || !strings.Contains(err.Error(), file+c.again) {
				t.Errorf("into the existing file: %v, want an error containing %q", err, file+c.again)
			}
			if b, _ := os.ReadFile(file); string(b) != "kept" || stdout != "" || strings.Contains(stderr, " to ") {
				t.Errorf("the refused run touched the file (%q) or did the work: %q, %q", b, stdout, stderr)
			}
			if c.force {
				if _, stderr, err := runCmd(c.run, append(slices.Clone(c.args[:len(c.args)-1]), "-force", c.args[len(c.args)-1], file)...); err != nil {
					t.Errorf("-force: %v\n%s", err, stderr)
				}
				if b, _ := os.ReadFile(file); string(b) == "kept" {
					t.Error("-force did not replace the file")
				}
			}
			root := t.TempDir()
			folder := filepath.Join(root, "x.png")
			if err := os.Mkdir(folder, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, r := range []struct{ path, want string }{
				{folder, "output file " + folder + " is a folder: give a file name"},
				{folder + string(filepath.Separator), "output file " + folder + string(filepath.Separator) + " is a folder: give a file name"},
				{filepath.Join(root, "new") + string(filepath.Separator), "output file " + filepath.Join(root, "new") + string(filepath.Separator) + " names a folder: give a file name"},
			} {
				if c.name == "sample" && strings.HasSuffix(r.path, string(filepath.Separator)) {
					r.want = "-out " + r.path + ": the grid is written as PNG; give a .png name"
				}
				stdout, stderr, err := runCmd(c.run, append(slices.Clone(c.args), r.path)...)
				if err == nil || err.Error() != r.want {
					t.Errorf("%s as the output file: %v, want %q", r.path, err, r.want)
				}
				if stdout != "" || strings.Contains(stderr, "m=1 problem 0") {
					t.Errorf("the refused run did the work: %q, %q", stdout, stderr)
				}
				if entries, _ := os.ReadDir(root); len(entries) != 1 {
					t.Errorf("the refused run left %v", entries)
				}
			}
		})
	}
}
