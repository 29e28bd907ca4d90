package main

import (
	"bytes"
	"cmp"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/metrics/fid"
)

// repeatedPrefix returns the first prefix ("name: ") that msg carries
// twice in a row, as in "yaml: yaml: line 1", or "" when none is.
func repeatedPrefix(msg string) string {
	parts := strings.Split(msg, ": ")
	for k := 1; k < len(parts)-1; k++ {
		if parts[k] == parts[k-1] && parts[k] != "" && !strings.ContainsAny(parts[k], " \t") {
			return parts[k]
		}
	}
	return ""
}

func TestRepeatedPrefix(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"restore: a.yaml: yaml: yaml: line 1: bad", "yaml"},
		{"convert: convert: output o exists", "convert"},
		{"restore: task: operator spec \"sr:factor=3\": super_resolution: factor 3", ""},
		{"imageio: a.png: not a PNG", ""},
		{"x: y: y z: y z: w", ""}, // a phrase, not a prefix
	} {
		if got := repeatedPrefix(tc.msg); got != tc.want {
			t.Errorf("repeatedPrefix(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}

// TestErrorPrefixesOnce runs refusals of several commands as the cadps
// command prints them: each is one line, "cadps COMMAND: " once, then
// what the command says (want), with the package prefix of the library
// that refused, if any, once and no prefix given twice in a row. The
// command's own errors carried its name again ("cadps convert: convert:
// output …", "cadps fid: fid: …", "cadps denoise: cadps denoise reads
// …"), and a YAML file that does not parse read "yaml: yaml: …", over two
// lines when its top level is not a mapping.
func TestErrorPrefixesOnce(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	weights := filepath.Join("..", "..", "cadps", "prior", "small", "fmnist32.safetensors")
	exists := write("exists.safetensors", "x")
	stem := writeWeights(t, filepath.Join(dir, "stem.safetensors"), 1.3, fid.Params(1))
	two := writeRandomImages(t, filepath.Join(dir, "two"), 2, 1, [2]int{32, 32})
	one := writeRandomImages(t, filepath.Join(dir, "one"), 1, 2, [2]int{32, 32})
	unparsed := write("unparsed.yaml", "a: [1,\n")
	list := write("list.yaml", "- a\n- b\n")
	image := filepath.Join(testImagesDir(t), "9-boot.png")
	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		name string
		args []string
		want string // the line's start
	}{
		{"convert onto an existing file", []string{"convert", weights, exists},
			"cadps convert: output file " + exists + " exists: give -force to replace it"},
		{"convert onto a folder", []string{"convert", weights, dir + "/"},
			"cadps convert: output " + dir + "/ is a directory"},
		{"convert with a prefix the names lack", []string{"convert", "-strip-prefix", "module.", weights, filepath.Join(dir, "new.safetensors")},
			"cadps convert: -strip-prefix: "},
		{"fid of a file", []string{"fid", "-weights", stem, "-dims", "64", stem, two},
			"cadps fid: " + stem + " is neither a folder of images nor an .npz file"},
		{"fid of one image", []string{"fid", "-weights", stem, "-dims", "64", one, two},
			"cadps fid: " + one + " holds 1 images"},
		{"denoise with a colour prior", append([]string{"denoise", "-data", testImagesDir(t)}, fixtureModel(t, "fixed")...),
			"cadps denoise: the prior "},
		{"diffusion config that does not parse", []string{"restore", image, "-task", "sr:factor=2", "-diffusion-config", unparsed, "-out", out},
			"cadps restore: restore: " + unparsed + ": yaml: line "},
		{"task config that is a list", []string{"restore", image, "-task-config", list, "-out", out},
			"cadps restore: restore: " + list + ": yaml: line 1: cannot unmarshal !!seq into map"},
		{"model config that is a list", []string{"restore", image, "-task", "sr:factor=2", "-model-config", list, "-out", out},
			"cadps restore: restore: model config " + list + ": yaml: line 1: cannot unmarshal !!seq into map"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code == 0 {
				t.Fatalf("exit 0, want a refusal")
			}
			msg := strings.TrimSuffix(stderr.String(), "\n")
			if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, tc.want) {
				t.Errorf("stderr %q, want one line starting %q", msg, tc.want)
			}
			rest := strings.TrimPrefix(msg, "cadps "+tc.args[0]+": ")
			if p := repeatedPrefix(rest); p != "" || strings.HasPrefix(rest, "cadps ") {
				t.Errorf("stderr %q names %q twice", msg, cmp.Or(p, tc.args[0]))
			}
		})
	}
}
