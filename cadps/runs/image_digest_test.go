package runs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyFile copies the file src to dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunRefusesOtherImageOfSameName resumes a reproduction with another
// image of the same file name (data sets name their images 00000.png
// alike): the run refuses the finished item's record, naming the record
// and both images, instead of counting it as the new image's. A record
// without a digest, as written before records held one, is resumed as
// it is, and the same image in another folder is the same image.
func TestRunRefusesOtherImageOfSameName(t *testing.T) {
	shipped := srReproduction(t, "", 2).Images
	for _, tc := range []struct {
		name string
		// second is the shipped image the rerun's file holds; strip drops
		// the digest from the first run's record.
		second  int
		strip   bool
		refused bool
	}{
		{"another image", 1, false, true},
		{"the same image", 0, false, false},
		{"a record without digest", 1, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			out := filepath.Join(root, "out")
			first, second := filepath.Join(root, "a", "img.png"), filepath.Join(root, "b", "img.png")
			for _, c := range []struct {
				src, dst string
			}{{shipped[0], first}, {shipped[tc.second], second}} {
				if err := os.MkdirAll(filepath.Dir(c.dst), 0o755); err != nil {
					t.Fatal(err)
				}
				copyFile(t, c.src, c.dst)
			}
			rep := srReproduction(t, out, 1)
			rep.Images = []string{first}
			if _, err := rep.Run(); err != nil {
				t.Fatal(err)
			}
			recPath := rep.Items()[0].Path(out, RecordDir)
			if tc.strip {
				stripField(t, recPath, "image_sha256")
			}
			rerun := srReproduction(t, out, 1)
			rerun.Images = []string{second}
			sum, err := rerun.Run()
			if tc.refused {
				if err == nil || !strings.Contains(err.Error(), recPath) || !strings.Contains(err.Error(), first) || !strings.Contains(err.Error(), second) {
					t.Fatalf("rerun with another img.png: %v, want an error naming %s, %s and %s", err, recPath, first, second)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sum.Skipped != 1 || sum.Done != 0 {
				t.Errorf("rerun skipped %d and did %d items, want 1 and 0", sum.Skipped, sum.Done)
			}
		})
	}
}

// stripField removes key from the JSON object in the file at path.
func stripField(t *testing.T, path, key string) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(readText(t, path)), &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc[key]; !ok {
		t.Fatalf("%s has no %s", path, key)
	}
	delete(doc, key)
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMergeRefusesOtherImages merges records of one image index that were
// made from different images, in one folder (two methods) or in two:
// the merge refuses them, naming both records, before it writes anything.
// Records without a digest are not compared.
func TestMergeRefusesOtherImages(t *testing.T) {
	const a, b = "sha256:aa", "sha256:bb"
	for _, tc := range []struct {
		name        string
		first, then string // the two records' digests
		otherFolder bool   // the second record is in a folder of its own
		refused     bool
	}{
		{"two methods, other images", a, b, false, true},
		{"two folders, other images", a, b, true, true},
		{"same image", a, a, true, false},
		{"a record without digest", "", b, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dirA, dirB, out := filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "out")
			dirs := []string{dirA}
			second, method := dirA, "cadps"
			if tc.otherFolder {
				second, method = dirB, "dps"
				dirs = append(dirs, dirB)
			}
			x := Record{Task: "sr", Method: "dps", Status: StatusOK, PSNR: 20, SSIM: 0.5, Image: "a/00000.png", ImageSHA256: tc.first}
			y := Record{Task: "sr", Method: method, Status: StatusOK, PSNR: 21, SSIM: 0.6, Image: "b/00000.png", ImageSHA256: tc.then}
			writeItem(t, dirA, x)
			writeItem(t, second, y)
			_, err := Merge(dirs, out, 8)
			if !tc.refused {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			pathX, pathY := Item{Task: "sr", Method: "dps"}.Path(dirA, RecordDir), Item{Task: "sr", Method: method}.Path(second, RecordDir)
			if err == nil || !strings.Contains(err.Error(), pathX) || !strings.Contains(err.Error(), pathY) {
				t.Fatalf("merge: %v, want an error naming %s and %s", err, pathX, pathY)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a refused merge created %s", out)
			}
		})
	}
}

// TestWorkerHashesEachImageOnce checks that a worker hashes an image once,
// however many of its items it looks at: a second look returns the first
// digest even after the file changed.
func TestWorkerHashesEachImageOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "00000.png")
	if err := os.WriteFile(path, []byte("first"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := &worker{}
	first, err := w.imageDigest(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("second"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := w.imageDigest(path)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("second look: %s, want the first digest %s (hashed once)", again, first)
	}
}
