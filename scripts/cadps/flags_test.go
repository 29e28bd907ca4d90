package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/checkpoints"
)

// TestFlagsAfterArguments holds every command to docs/cli.md's rule that
// flags may come before or after the positional arguments: a flag after
// them is read as a flag, never as one more argument, and a stray
// argument of a command that takes none is named alone.
func TestFlagsAfterArguments(t *testing.T) {
	images := imageFolder(t, 1)
	image := filepath.Join(images, "img00.png")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.safetensors"), filepath.Join(dir, "out.safetensors")
	sd := checkpoints.NewStateDict(in)
	if err := sd.Add(checkpoints.FromFloat32("w", []int{2}, []float32{1, 2})); err != nil {
		t.Fatal(err)
	}
	if err := checkpoints.SaveSafetensors(in, sd); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	const quality = "../../docs/small-prior-quality"
	for _, c := range []struct {
		name       string
		args       []string
		code       int
		wantStdout string // a prefix of stdout, with code 0
		wantStderr string // the end of stderr's one line, otherwise
	}{
		{"metrics -register", []string{"metrics", image, image, "-register", "1"}, 0, `{"psnr":"+Inf","ssim":1,"ssim_uniform7":1,"registered":{"psnr":"+Inf","dy":0,"dx":0,"rot180":false}}`, ""},
		{"fid -batch", []string{"fid", "a.npz", "b.npz", "-batch", "0"}, 2, "", "-batch 0: want at least 1"},
		{"fid -save-stats", []string{"fid", images, "-save-stats", filepath.Join(dir, "s.npz"), "-batch", "0"}, 2, "", "-batch 0: want at least 1"},
		{"convert -force", []string{"convert", in, out, "-force"}, 0, "", ""},
		{"paired -metric", []string{"paired", "-base", quality + ":dps", quality + "-100steps:dps", "-metric", "ssim"}, 0, "SSIM, other − ", ""},
		{"gmm", []string{"gmm", "extra", "-method", "dps"}, 2, "", `unexpected arguments ["extra"]`},
		{"gmm bench", []string{"gmm", "bench", "extra", "-problems", "1"}, 2, "", `unexpected arguments ["extra"]`},
		{"train", []string{"train", "extra", "-steps", "1"}, 2, "", `unexpected arguments ["extra"]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(c.args, &stdout, &stderr)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, c.code, stderr.String())
			}
			if c.code == 0 {
				if !strings.HasPrefix(stdout.String(), c.wantStdout) {
					t.Errorf("stdout %q, want it to start with %q", stdout.String(), c.wantStdout)
				}
				return
			}
			if line := strings.TrimSuffix(stderr.String(), "\n"); strings.Contains(line, "\n") || !strings.HasSuffix(line, c.wantStderr) {
				t.Errorf("stderr %q, want one line ending in %q", stderr.String(), c.wantStderr)
			}
		})
	}
	if got, err := checkpoints.LoadSafetensors(out); err != nil || len(got.Names) != 1 {
		t.Errorf("convert IN OUT -force did not overwrite OUT: %v", err)
	}
}

// TestSeedFlagType: -seed is an unsigned integer in every command and
// says so in -h (`-seed uint`), so that a seed written for one command
// reads the same in another.
func TestSeedFlagType(t *testing.T) {
	for _, name := range [][]string{{"denoise"}, {"evaluate"}, {"gmm"}, {"gmm", "bench"}, {"reproduce"}, {"restore"}, {"sample"}, {"trace"}, {"train"}} {
		t.Run(strings.Join(name, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(append(name, "-h"), io.Discard, &stderr); code != 0 {
				t.Fatalf("-h: exit %d", code)
			}
			if !strings.Contains(stderr.String(), "\n  -seed uint\n") {
				t.Errorf("-h does not list -seed as uint:\n%s", stderr.String())
			}
		})
	}
}

// TestSpecFlagsHelp: -h of every command that takes a noise model or
// method specs says what it accepts: the noise models' forms, and the
// guidance methods' names.
func TestSpecFlagsHelp(t *testing.T) {
	names := strings.Join(guidance.Names(), ", ")
	for _, c := range []struct {
		cmd  []string
		flag string
		want string
	}{
		{[]string{"restore"}, "noise", "gaussian[:sigma=S], poisson[:rate=R] or clean"},
		{[]string{"reproduce"}, "noise", "gaussian[:sigma=S], poisson[:rate=R] or clean"},
		{[]string{"evaluate"}, "noise", "gaussian[:sigma=S], poisson[:rate=R] or clean"},
		{[]string{"trace"}, "noise", "gaussian[:sigma=S], poisson[:rate=R] or clean"},
		{[]string{"restore"}, "method", names},
		{[]string{"trace"}, "method", names},
		{[]string{"gmm"}, "method", names},
		{[]string{"reproduce"}, "methods", names},
		{[]string{"evaluate"}, "methods", names},
		{[]string{"gmm", "bench"}, "methods", names},
	} {
		t.Run(strings.Join(c.cmd, " ")+" -"+c.flag, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(append(c.cmd, "-h"), io.Discard, &stderr); code != 0 {
				t.Fatalf("-h: exit %d", code)
			}
			m := regexp.MustCompile(`(?m)^  -` + c.flag + ` \S+\n\s+(.*)$`).FindStringSubmatch(stderr.String())
			if m == nil || !strings.Contains(m[1], c.want) {
				t.Errorf("-h describes -%s as %q; want it to contain %q", c.flag, m, c.want)
			}
		})
	}
}

// TestFlagTerminator: after "--" every argument is positional, one
// starting with '-' included, as with Go's flag package; a "--" that is
// a flag's value is only that.
func TestFlagTerminator(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeTestImage(t, "-a.png", 16, 0)
	writeTestImage(t, "-b.png", 16, 1)
	for _, c := range []struct {
		name string
		args []string
		code int
		want string // stdout's start, with code 0; stderr's end otherwise
	}{
		{"both arguments after --", []string{"metrics", "--", "-a.png", "-b.png"}, 0, `{"psnr":`},
		{"one argument before --", []string{"metrics", "-register", "1", "-a.png", "--", "-b.png"}, 2, "flag provided but not defined: -a.png (run `cadps metrics -h` for the flags)"},
		{"a flag after -- is an argument", []string{"metrics", "--", "-a.png", "-b.png", "-register", "1"}, 2, `got 4 arguments ("-a.png", "-b.png", "-register", "1")`},
		{"-- as a flag's value", []string{"gmm", "table", "-json", "--", "-a.png"}, 2, "flag provided but not defined: -a.png (run `cadps gmm table -h` for the flags)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(c.args, &stdout, &stderr)
			got := stdout.String()
			if c.code != 0 {
				got = strings.TrimSuffix(stderr.String(), "\n")
			}
			if code != c.code || (c.code == 0 && !strings.HasPrefix(got, c.want)) || (c.code != 0 && !strings.HasSuffix(got, c.want)) {
				t.Errorf("exit %d, output %q; want %d and %q", code, got, c.code, c.want)
			}
		})
	}
}
