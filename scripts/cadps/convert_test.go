package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/train"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
)

// unetFixtures returns the unet fixtures that list both model.pt and
// model.safetensors (made from the same state dict by torch and by
// safetensors); it skips when there is none.
func unetFixtures(t *testing.T) []*fixtures.Fixture {
	t.Helper()
	return fixtures.OfKind(t, "unet", func(f *fixtures.Fixture) bool {
		_, pt := f.Files["model_pt"]
		_, st := f.Files["model_safetensors"]
		return pt && st
	})
}

// weightFiles returns a unet fixture's model.pt and model.safetensors.
func weightFiles(t *testing.T, f *fixtures.Fixture) (pt, st string) {
	t.Helper()
	pt, err := f.Path("model_pt")
	if err != nil {
		t.Fatal(err)
	}
	st, err = f.Path("model_safetensors")
	if err != nil {
		t.Fatal(err)
	}
	return pt, st
}

// TestConvertFixtures converts each unet fixture's model.pt and
// model.safetensors and compares the result with the model.safetensors made
// from the same state dict by safetensors.
func TestConvertFixtures(t *testing.T) {
	for _, f := range unetFixtures(t) {
		t.Run(f.Name, func(t *testing.T) { testConvert(t, f) })
	}
}

func testConvert(t *testing.T, f *fixtures.Fixture) {
	pt, ref := weightFiles(t, f)
	want, err := checkpoints.LoadSafetensors(ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{pt, ref} {
		t.Run(filepath.Base(in), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.safetensors")
			var stdout, stderr bytes.Buffer
			if err := convertCommand().run([]string{in, out}, &stdout, &stderr); err != nil {
				t.Fatal(err)
			}
			got, err := checkpoints.LoadSafetensors(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Names) != len(want.Names) {
				t.Fatalf("%d tensors, want %d", len(got.Names), len(want.Names))
			}
			for i, n := range want.Names {
				g, w := got.Tensors[got.Names[i]], want.Tensors[n]
				if got.Names[i] != n || g.DType != w.DType || !equalShape(g.Shape, w.Shape) || !bytes.Equal(g.Data, w.Data) {
					t.Fatalf("tensor %d: got %q %s %v, want %q %s %v (or different bytes)", i, got.Names[i], g.DType, g.Shape, n, w.DType, w.Shape)
				}
			}
			if got.Metadata["format"] != "pt" || got.Metadata["source"] != filepath.Base(in) {
				t.Errorf("metadata %v, want format pt and source %s", got.Metadata, filepath.Base(in))
			}
			st, _ := os.Stat(out)
			line := stdout.String()
			for _, s := range []string{fmt.Sprintf("%d tensors", len(want.Names)), thousands(int64(want.NumParameters())) + " parameters",
				thousands(st.Size()) + " bytes", filepath.Base(in)} {
				if !strings.Contains(line, s) {
					t.Errorf("summary %q does not contain %q", line, s)
				}
			}
			if strings.Count(line, "\n") != 1 {
				t.Errorf("summary is not one line: %q", line)
			}
		})
	}
}

// TestConvertErrors checks refusals: existing output, bad arguments, a bad
// input (which leaves no output behind).
func TestConvertErrors(t *testing.T) {
	pt, st := weightFiles(t, unetFixtures(t)[0])
	want, err := checkpoints.LoadSafetensors(st)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	existing := filepath.Join(dir, "exists.safetensors")
	if err := os.WriteFile(existing, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.pt")
	if err := os.WriteFile(garbage, []byte("this is not a checkpoint at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
		file  string // must not exist afterwards
	}{
		{name: "no arguments", args: nil, usage: true, want: "want an input and an output file"},
		{name: "three arguments", args: []string{pt, "a", "b"}, usage: true, want: "got 3 arguments"},
		{name: "unknown flag", args: []string{"-bogus", pt, "x"}, usage: true, want: "bogus"},
		{name: "existing output", args: []string{pt, existing}, want: "exists: give -force to replace it"},
		{name: "output is the input", args: []string{"-force", pt, pt}, want: "is the input file"},
		{name: "output not named .safetensors", args: []string{pt, filepath.Join(dir, "o3.pt")}, usage: true, want: "convert writes safetensors; name it NAME.safetensors", file: filepath.Join(dir, "o3.pt")},
		{name: "missing input", args: []string{filepath.Join(dir, "none.pt"), filepath.Join(dir, "o1.safetensors")}, want: "none.pt", file: filepath.Join(dir, "o1.safetensors")},
		{name: "bad input into a new folder", args: []string{garbage, filepath.Join(dir, "new", "o.safetensors")}, want: "garbage.pt is not a PyTorch", file: filepath.Join(dir, "new")},
		{name: "bad input", args: []string{garbage, filepath.Join(dir, "o2.safetensors")}, want: "garbage.pt is not a PyTorch zip checkpoint or safetensors file", file: filepath.Join(dir, "o2.safetensors")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := convertCommand().run(tc.args, &stdout, &stderr)
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.As(err, new(usageError)); got != tc.usage {
				t.Errorf("usage error = %v, want %v (%v)", got, tc.usage, err)
			}
			if !strings.Contains(err.Error()+stderr.String(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if tc.file != "" {
				if _, err := os.Stat(tc.file); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists after a failure", tc.file)
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q after a failure", stdout.String())
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("existing output changed to %q", b)
	}
	// -force overwrites.
	var stdout, stderr bytes.Buffer
	if err := convertCommand().run([]string{"-force", pt, existing}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if sd, err := checkpoints.LoadSafetensors(existing); err != nil || len(sd.Names) != len(want.Names) {
		t.Fatalf("after -force: %v", err)
	}
	// The output's folder is made.
	made := filepath.Join(dir, "made", "sub", "o.safetensors")
	if err := convertCommand().run([]string{pt, made}, &stdout, &stderr); err != nil {
		t.Fatalf("into a new folder: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestThousands(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {93563910, "93,563,910"}, {-1234567, "-1,234,567"}} {
		if got := thousands(tc.n); got != tc.want {
			t.Errorf("thousands(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestConvertKeepsTrainingCheckpoint converts the shipped prior's training
// checkpoint (safetensors to safetensors): it keeps its "cadps-train"
// format and configuration, so the copy still resumes, and gains the source
// name.
func TestConvertKeepsTrainingCheckpoint(t *testing.T) {
	in := "../../cadps/prior/small/train-state/checkpoint.safetensors"
	want, err := train.PeekCheckpoint(in)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "copy.safetensors")
	var stdout, stderr bytes.Buffer
	if err := convertCommand().run([]string{in, out}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	got, err := train.PeekCheckpoint(out)
	if err != nil {
		t.Fatalf("the converted checkpoint: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("configuration %+v, want %+v", got, want)
	}
	sd, err := checkpoints.LoadSafetensors(out)
	if err != nil {
		t.Fatal(err)
	}
	if sd.Metadata["source"] != "checkpoint.safetensors" {
		t.Errorf("source %q, want checkpoint.safetensors", sd.Metadata["source"])
	}
}

// TestConvertKeepsSource checks the "source" metadata of the output: the
// input's name, unless the input is a safetensors file that records its
// own origin already, which is kept.
func TestConvertKeepsSource(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, md map[string]string) string {
		t.Helper()
		sd := checkpoints.NewStateDict(name)
		if err := sd.Add(checkpoints.FromFloat32("w", []int{2}, []float32{1, 2})); err != nil {
			t.Fatal(err)
		}
		sd.Metadata = md
		path := filepath.Join(dir, name)
		if err := checkpoints.SaveSafetensors(path, sd); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name, in, want string
	}{
		{"a converted file", write("converted.safetensors", map[string]string{"format": "pt", "source": "ffhq_10m.pt"}), "ffhq_10m.pt"},
		{"no source", write("plain.safetensors", map[string]string{"format": "pt"}), "plain.safetensors"},
		{"no metadata", write("bare.safetensors", nil), "bare.safetensors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.safetensors")
			var stdout, stderr bytes.Buffer
			if err := convertCommand().run([]string{tc.in, out}, &stdout, &stderr); err != nil {
				t.Fatal(err)
			}
			md, err := checkpoints.ReadMetadata(out)
			if err != nil {
				t.Fatal(err)
			}
			if md["source"] != tc.want || md["format"] != "pt" {
				t.Errorf("metadata %v, want source %q and format pt", md, tc.want)
			}
		})
	}
}

// TestConvertStripPrefix converts a state dict saved from a DataParallel
// model: -strip-prefix module. removes the prefix from every name, and a
// prefix that some name lacks is refused with nothing written.
func TestConvertStripPrefix(t *testing.T) {
	dir := t.TempDir()
	sd := checkpoints.NewStateDict("dp.safetensors")
	for _, n := range []string{"module.input_blocks.0.0.weight", "module.out.2.bias"} {
		if err := sd.Add(checkpoints.FromFloat32(n, []int{2}, []float32{1, 2})); err != nil {
			t.Fatal(err)
		}
	}
	in := filepath.Join(dir, "dp.safetensors")
	if err := checkpoints.SaveSafetensors(in, sd); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, prefix string
		want         []string // the names written; nil: refused
		errText      string
	}{
		{"module.", "module.", []string{"input_blocks.0.0.weight", "out.2.bias"}, ""},
		{"a prefix some name lacks", "module.input_blocks.", nil, `tensor "module.out.2.bias" does not start with "module.input_blocks."`},
		{"a whole name", "module.out.2.bias", nil, "does not start with"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.safetensors")
			var stdout, stderr bytes.Buffer
			err := convertCommand().run([]string{"-strip-prefix", tc.prefix, in, out}, &stdout, &stderr)
			if tc.want == nil {
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("error %v, want one saying %q", err, tc.errText)
				}
				if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s was written (%v)", out, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := checkpoints.LoadSafetensors(out)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Names, tc.want) {
				t.Errorf("names %q, want %q", got.Names, tc.want)
			}
			for _, n := range tc.want {
				if _, err := got.Get(n); err != nil {
					t.Error(err)
				}
			}
		})
	}
}
