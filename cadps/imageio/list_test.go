package imageio

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestList lists PNG and JPEG files by extension in any case, follows
// links to files, skips folders (also linked ones), hidden files (macOS's
// "._NAME" AppleDouble files among them) and other files, and names the
// folder when it has none.
func TestList(t *testing.T) {
	mk := func(t *testing.T, dir string, files ...string) {
		t.Helper()
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	link := func(t *testing.T, target, name string) {
		t.Helper()
		if err := os.Symlink(target, name); err != nil {
			t.Skipf("no symbolic links here: %v", err)
		}
	}

	images := t.TempDir()
	mk(t, images, "b.png", "a.JPG", "c.jpeg", "notes.txt", "README.md", "._b.png", ".hidden.jpg")
	if err := os.Mkdir(filepath.Join(images, "sub.png"), 0o755); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	mk(t, elsewhere, "real.png")
	link(t, filepath.Join(elsewhere, "real.png"), filepath.Join(images, "d-link.png"))
	link(t, elsewhere, filepath.Join(images, "e-dirlink.png"))

	empty := t.TempDir()
	mk(t, empty, "notes.txt")
	hidden := t.TempDir()
	mk(t, hidden, "._a.png")
	dangling := t.TempDir()
	mk(t, dangling, "a.png")
	link(t, filepath.Join(dangling, "gone.png"), filepath.Join(dangling, "b.png"))

	for _, c := range []struct {
		name    string
		dir     string
		want    []string
		wantErr string
	}{
		{"images and a link", images, []string{"a.JPG", "b.png", "c.jpeg", "d-link.png"}, ""},
		{"no images", empty, nil, "image folder " + empty + " has no PNG or JPEG files"},
		{"only a hidden image", hidden, nil, "image folder " + hidden + " has no PNG or JPEG files"},
		{"missing folder", filepath.Join(empty, "none"), nil, "no such file"},
		{"dangling link", dangling, nil, "b.png"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := List(c.dir)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("List: %v, %v; want an error containing %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, name := range c.want {
				want = append(want, filepath.Join(c.dir, name))
			}
			if !slices.Equal(got, want) {
				t.Errorf("List = %v, want %v", got, want)
			}
		})
	}
}
