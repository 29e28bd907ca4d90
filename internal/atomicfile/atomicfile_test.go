package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.txt")
	if err := WriteBytes(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(path, []byte("two")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "two" {
		t.Fatalf("read %q, %v; want the second content", got, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", st.Mode(), err)
	}

	// A failing writer leaves the old file and no temporary file.
	boom := errors.New("boom")
	err = Write(path, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v, want boom naming %s", err, path)
	}
	if got, _ := os.ReadFile(path); string(got) != "two" {
		t.Errorf("after a failed write the file holds %q", got)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, TempPattern("a.txt"))); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}

	// A folder that does not exist is an error naming the path.
	if err := WriteBytes(filepath.Join(dir, "none", "b.txt"), nil); err == nil || !strings.Contains(err.Error(), "b.txt") {
		t.Errorf("missing folder: error %v", err)
	}
}

// TestCheckWritable creates a missing folder, leaves no probe behind, and
// refuses a folder below a file with the path and the cause.
func TestCheckWritable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "out")
	if err := CheckWritable(dir); err != nil {
		t.Fatal(err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("folder holds %v, %v; want it empty", entries, err)
	}
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := CheckWritable(filepath.Join(blocker, "sub"))
	if err == nil || !strings.Contains(err.Error(), "output folder "+filepath.Join(blocker, "sub")+" is not writable: not a directory") {
		t.Errorf("error %v", err)
	}
}

// TestWriteJSON writes indented JSON with a final newline, and reports a
// value JSON cannot hold without touching the file.
func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.json")
	if err := WriteJSON(path, map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "{\n  \"n\": 1\n}\n" {
		t.Fatalf("wrote %q, %v", got, err)
	}
	if err := WriteJSON(path, func() {}); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a function: error %v, want one naming %s", err, path)
	}
	if got, _ := os.ReadFile(path); string(got) != "{\n  \"n\": 1\n}\n" {
		t.Errorf("after a failed write the file holds %q", got)
	}
}
