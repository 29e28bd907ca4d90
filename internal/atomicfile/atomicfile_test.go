package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
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

// TestCreateExclusive creates the file once: a second call reports that it
// lost and leaves the first content, and neither leaves a temporary file.
func TestCreateExclusive(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	for k, want := range []bool{true, false} {
		won, err := CreateExclusive(path, "tag", []byte{'0' + byte(k)})
		if err != nil || won != want {
			t.Fatalf("call %d: %v, %v; want %v", k, won, err, want)
		}
	}
	if data, _ := os.ReadFile(path); string(data) != "0" {
		t.Errorf("content %q, want the first call's", data)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
	if _, err := CreateExclusive(filepath.Join(dir, "none", "f"), "", nil); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "none", "f")) {
		t.Errorf("missing folder: error %v, want one naming the path", err)
	}
}

// TestWriteFailure checks that a failing writer leaves neither the
// output nor a temporary file behind, and does not touch an existing file.
func TestWriteFailure(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		existing []byte // nil: no file before
		write    func(w io.Writer) error
		want     []byte // nil: no file after
		wantErr  error
	}{
		{"failure, no previous file", nil, func(w io.Writer) error { w.Write([]byte("partial")); return boom }, nil, boom},
		{"failure keeps previous file", []byte("old"), func(w io.Writer) error { w.Write([]byte("partial")); return boom }, []byte("old"), boom},
		{"success replaces previous file", []byte("old"), func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }, []byte("new"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.bin")
			if tc.existing != nil {
				if err := os.WriteFile(path, tc.existing, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := Write(path, tc.write)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			got, rerr := os.ReadFile(path)
			switch {
			case tc.want == nil && !errors.Is(rerr, os.ErrNotExist):
				t.Errorf("output exists after a failure: %q, %v", got, rerr)
			case tc.want != nil && string(got) != string(tc.want):
				t.Errorf("output %q (%v), want %q", got, rerr, tc.want)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() != filepath.Base(path) {
					t.Errorf("left in the folder: %s", e.Name())
				}
			}
		})
	}
}

// TestTemps checks that Temps finds the temporary files of the targets
// its pattern names, and only those, also in a folder whose name would be
// a pattern.
func TestTemps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run[1]*")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".00001.png.tmp123", ".00001.json.tmp9", ".00002.png.tmp4", ".summary.md.tmp77", ".c.0.host-12.tmp5", "00001.png", ".00001.png"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		base string
		want []string
	}{
		{"00001.*", []string{".00001.json.tmp9", ".00001.png.tmp123"}},
		{"summary.md", []string{".summary.md.tmp77"}},
		{"c.0.host-*", []string{".c.0.host-12.tmp5"}},
		{"*", []string{".00001.json.tmp9", ".00001.png.tmp123", ".00002.png.tmp4", ".c.0.host-12.tmp5", ".summary.md.tmp77"}},
		{"none", nil},
	} {
		got, err := Temps(dir, c.base)
		if err != nil {
			t.Fatalf("Temps(%q): %v", c.base, err)
		}
		var names []string
		for _, g := range got {
			names = append(names, filepath.Base(g))
		}
		if !slices.Equal(names, c.want) {
			t.Errorf("Temps(%q) = %v, want %v", c.base, names, c.want)
		}
	}
	if _, err := Temps(dir, "["); err == nil {
		t.Error("Temps with a malformed pattern: no error")
	}
}

// TestLinkExclusive checks that a link refused because its path exists
// counts as made when the path is already the file's own link (an NFS
// link whose reply was lost and which was sent again), and as not made
// when the path is another file.
func TestLinkExclusive(t *testing.T) {
	dir := t.TempDir()
	tmp, other := filepath.Join(dir, ".f.tmp1"), filepath.Join(dir, "other")
	for _, p := range []string{tmp, other} {
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name    string
		prepare func(path string) error
		want    bool
	}{
		{"new path", func(string) error { return nil }, true},
		{"its own link, made before", func(path string) error { return os.Link(tmp, path) }, true},
		{"another file", func(path string) error { return os.Link(other, path) }, false},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
		if err := c.prepare(path); err != nil {
			t.Fatal(err)
		}
		got, err := linkExclusive(tmp, path)
		if err != nil || got != c.want {
			t.Errorf("%s: linkExclusive = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

func TestGlobEscape(t *testing.T) {
	for _, name := range []string{"out", "out[1]", "a*b", "what?", `back\slash`, "[x]*?"} {
		ok, err := filepath.Match(GlobEscape(name), name)
		if err != nil || !ok {
			t.Errorf("GlobEscape(%q) = %q does not match the name itself (%v)", name, GlobEscape(name), err)
		}
		if ok, _ := filepath.Match(GlobEscape(name), name+"x"); ok {
			t.Errorf("GlobEscape(%q) = %q matches %q too", name, GlobEscape(name), name+"x")
		}
	}
	if ok, _ := filepath.Match(GlobEscape("out[1]"), "out1"); ok {
		t.Error(`GlobEscape("out[1]") matches "out1"`)
	}
}

// deadPID returns the id of a process that has ended (a child, reaped).
func deadPID(t *testing.T) int {
	t.Helper()
	child := exec.Command("true")
	if err := child.Run(); err != nil {
		t.Skip("no child process:", err)
	}
	return child.Process.Pid
}

// TestRemoveDeadTemps removes, of the temporary files beside a target,
// only those whose name says that a process of this host and process-id
// space that no longer runs wrote them: never a live process's (this
// one's, its parent's), another space's, one whose name names no process
// (older builds'), another target's, or the target itself.
func TestRemoveDeadTemps(t *testing.T) {
	o := owner()
	if o == "" {
		t.Skip("this system cannot name a process's id space")
	}
	space, _, _ := strings.Cut(o, "-")
	dead := deadPID(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "results.csv")
	for _, tc := range []struct {
		name    string
		removed bool
	}{
		{fmt.Sprintf(".results.csv.tmp.%s-%d.123", space, dead), true},
		{fmt.Sprintf(".results.csv.tmp.%s-%d.9", space, os.Getpid()), false},
		{fmt.Sprintf(".results.csv.tmp.%s-%d.9", space, os.Getppid()), false},
		{fmt.Sprintf(".results.csv.tmp.%016x-%d.9", 0, dead), false},
		{".results.csv.tmp123", false},
		{fmt.Sprintf(".results.csv.tmp.%s-x%d.9", space, dead), false},
		{fmt.Sprintf(".results.csv.tmp.%s-%d.9x", space, dead), false},
		{fmt.Sprintf(".results.csv.old.tmp.%s-%d.5", space, dead), false},
		{"results.csv", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			removed := RemoveDeadTemps(target)
			_, err := os.Stat(p)
			switch {
			case tc.removed && (!errors.Is(err, fs.ErrNotExist) || !slices.Equal(removed, []string{p})):
				t.Errorf("removed %v and %s is there (%v), want it removed", removed, tc.name, err)
			case !tc.removed && (err != nil || len(removed) > 0):
				t.Errorf("removed %v (%s: %v), want nothing removed", removed, tc.name, err)
			}
		})
	}
}

// killedWriterEnv makes the test binary a writer of the file it names
// that is killed (TestKilledWriterHelperProcess) while it writes.
const killedWriterEnv = "ATOMICFILE_KILLED_WRITER"

// TestKilledWriterHelperProcess writes the file $ATOMICFILE_KILLED_WRITER
// and never ends its write: TestRemoveTempsOfKilledWriter kills it.
func TestKilledWriterHelperProcess(t *testing.T) {
	path := os.Getenv(killedWriterEnv)
	if path == "" {
		t.Skip("helper process for TestRemoveTempsOfKilledWriter")
	}
	_ = Write(path, func(w io.Writer) error {
		if _, err := io.WriteString(w, "partial"); err != nil {
			return err
		}
		time.Sleep(time.Hour) // killed here
		return nil
	})
}

// TestRemoveTempsOfKilledWriter: the temporary file of a writer killed
// with SIGKILL stays while the writer runs, and RemoveDeadTemps, given
// the file written, or RemoveDeadTempsIn, given its folder, removes it
// once the writer is dead.
func TestRemoveTempsOfKilledWriter(t *testing.T) {
	if owner() == "" {
		t.Skip("this system cannot name a process's id space")
	}
	for _, tc := range []struct {
		name   string
		remove func(dir, target string) []string
	}{
		{"RemoveDeadTemps", func(_, target string) []string { return RemoveDeadTemps(target) }},
		{"RemoveDeadTempsIn", func(dir, _ string) []string { return RemoveDeadTempsIn(dir) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(dir, "model.safetensors")
			cmd := exec.Command(os.Args[0], "-test.run", "^TestKilledWriterHelperProcess$")
			cmd.Env = append(os.Environ(), killedWriterEnv+"="+target)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var temps []string
			for deadline := time.Now().Add(time.Minute); len(temps) == 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				temps, _ = Temps(dir, "model.safetensors")
			}
			if len(temps) != 1 {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("the writer made temporary files %v, want one", temps)
			}
			if removed := tc.remove(dir, target); len(removed) > 0 {
				t.Errorf("removed %v while its writer runs", removed)
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if removed := tc.remove(dir, target); !slices.Equal(removed, temps) {
				t.Errorf("removed %v after the writer was killed, want %v", removed, temps)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("the folder holds %v, want nothing", entries)
			}
		})
	}
}

// TestCreateTempShortNames: on a file system whose names are shorter than
// a temporary file's that names its process (eCryptfs takes 143 bytes),
// the file is made under the shorter name, which names none, so that the
// write still succeeds; elsewhere it names its process.
func TestCreateTempShortNames(t *testing.T) {
	if owner() == "" {
		t.Skip("this system cannot name a process's id space")
	}
	const maxName = 143
	create := func(dir, pattern string) (*os.File, error) {
		if len(pattern)+10 > maxName { // the random part: up to 10 digits
			return nil, &fs.PathError{Op: "open", Path: filepath.Join(dir, pattern), Err: syscall.ENAMETOOLONG}
		}
		return os.CreateTemp(dir, pattern)
	}
	for _, tc := range []struct {
		name  string
		base  string
		owned bool // the name names its process
	}{
		{"a short name", "results.csv", true},
		// One byte too long with its process named (whose pid may have any
		// number of digits), and short enough without.
		{"a name too long with its process's", strings.Repeat("n", maxName-10-len("..png.tmp."+owner()+".")+1) + ".png", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f, err := createTemp(dir, tc.base, create)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			name := filepath.Base(f.Name())
			if owned := strings.HasPrefix(name, "."+tc.base+".tmp."+owner()+"."); owned != tc.owned || len(name) > maxName {
				t.Errorf("made %s (%d bytes), want a name that names its process: %v", name, len(name), tc.owned)
			}
			if temps, _ := Temps(dir, GlobEscape(tc.base)); len(temps) != 1 {
				t.Errorf("Temps finds %v, want the file made", temps)
			}
		})
	}
}

// TestRemoveTemps removes every temporary file of the matching targets,
// in either name form, and nothing else.
func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	gone := []string{".a.png.tmp7", ".a.png.tmp.0123456789abcdef-42.3"}
	kept := []string{".b.png.tmp1", "a.png", ".ab.png.tmp2", ".a.png"}
	for _, name := range append(slices.Clone(gone), kept...) {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	RemoveTemps(dir, GlobEscape("a.png"))
	for _, name := range gone {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there (%v)", name, err)
		}
	}
	for _, name := range kept {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s is gone: %v", name, err)
		}
	}
}
