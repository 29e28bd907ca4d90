package imageio

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// listed reports whether [List] takes a file of extension ext (with its
// dot, in lower case).
func listed(ext string) bool {
	switch ext {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// List returns the paths of the PNG and JPEG files in dir (by extension:
// .png, .jpg, .jpeg, in any case), sorted by name. Hidden files, whose
// names start with ".", are skipped, as a shell's * skips them: macOS
// writes "._NAME" AppleDouble files beside images on other file systems,
// which are not images. Symbolic links are
// followed: a link to a file counts as that file, a link to a folder is
// skipped like a folder, and a dangling link is an error naming it.
// Subfolders are not searched. A folder with no such file is an error
// naming the folder.
func List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("imageio: image folder: %w", err)
	}
	var out []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if !listed(ext) || e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if e.Type()&os.ModeSymlink != 0 {
			st, err := os.Stat(path)
			if err != nil {
				return nil, fmt.Errorf("imageio: image folder %s: %w", dir, err)
			}
			if !st.Mode().IsRegular() {
				continue
			}
		} else if !e.Type().IsRegular() {
			continue // a device, pipe or socket
		}
		out = append(out, path)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("imageio: image folder %s has no PNG or JPEG files", dir)
	}
	return out, nil
}
