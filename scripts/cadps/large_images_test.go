package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestLargeTestImages checks that evaluate and denoise refuse -data images
// larger than the shipped prior's 32×32 with one line naming -data (not
// the training package), the image and the remedy, as restore names its
// IMAGE, with exit status 1 and no output folder.
func TestLargeTestImages(t *testing.T) {
	dir := t.TempDir()
	folder := filepath.Join(dir, "faces")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	image := filepath.Join(folder, "a.png")
	writeTestImage(t, image, 64, 0)
	idx := filepath.Join(dir, "big-idx3-ubyte.gz")
	writeIDXImages(t, idx, 2, 40, 40, 7)
	out := filepath.Join(dir, "out")
	const remedy = ", but the model takes 32×32 images, or smaller ones, which are padded (resize or crop the images to at most 32×32 first)\n"

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"evaluate, image folder", []string{"evaluate", "-data", folder, "-count", "1", "-out", out},
			"cadps evaluate: -data: image " + image + " is 64×64" + remedy},
		{"evaluate, IDX file", []string{"evaluate", "-data", idx, "-count", "1", "-out", out},
			"cadps evaluate: -data: the images of " + idx + " are 40×40" + remedy},
		{"denoise, image folder", []string{"denoise", "-data", folder, "-count", "1"},
			"cadps denoise: -data: image " + image + " is 64×64" + remedy},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(c.args, &stdout, &stderr); code != 1 || stderr.String() != c.want {
				t.Errorf("exit %d, stderr\n%q\nwant 1 and\n%q", code, stderr.String(), c.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("the refused run left %s (%v)", out, err)
			}
		})
	}
}
