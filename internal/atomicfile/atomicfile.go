// Package atomicfile writes files so that a reader, or a run killed at any
// moment, only ever sees the old file or the whole new one: the content goes
// to a temporary file in the same folder (".NAME.tmp…"), which is synced,
// made world-readable and renamed over the target; the folder is then
// synced too, so that a file written before another (an item's images
// before its record) is not lost to a machine's crash while the later one
// survives. A run killed while it writes (kill -9) leaves the temporary
// file, whose name names its process (tempName), so that a later write
// may remove it once that process is dead (RemoveDeadTemps).
//
// It is the one writer every package of the toolkit uses for results,
// images and checkpoints.
package atomicfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/cadps/toolkit/internal/process"
)

// tempPattern matches the temporary files for a target named base:
// ".base.tmp" and a suffix (tempName). A run killed while writing leaves
// such a file (see Temps).
func tempPattern(base string) string { return "." + base + ".tmp*" }

// tempName is the os.CreateTemp pattern of this process's temporary file
// for a target named base: ".base.tmp.OWNER.N" (N random), where OWNER
// (owner) names the process, so that RemoveDeadTemps can tell a file that
// a killed writer left from one that a live writer is still writing; or
// ".base.tmpN" where the process cannot be named or the name would be
// too long.
func tempName(base string) string {
	if o := owner(); o != "" && len(base) <= maxOwnedBase {
		return "." + base + ".tmp." + o + ".*"
	}
	return tempPattern(base)
}

// maxOwnedBase is the longest target name whose temporary files name
// their owner: the owner's 24 characters or so must not push the name
// past the file systems' 255 bytes.
const maxOwnedBase = 200

// owner names this process in its temporary files' names: SPACE-PID, with
// SPACE a digest of the host's name and of the space its process ids
// belong to (process.FullSpace: the kernel's boot and the pid namespace),
// as 16 hex digits; "" where that space cannot be told whole, so that
// no process of another machine or namespace takes a live writer's file
// for its own dead one's.
func owner() string {
	space := process.FullSpace()
	if space == "" {
		return ""
	}
	host, _ := os.Hostname()
	h := fnv.New64a()
	h.Write([]byte(host))
	h.Write([]byte{0})
	h.Write([]byte(space))
	return fmt.Sprintf("%016x-%d", h.Sum64(), os.Getpid())
}

// RemoveDeadTemps removes the temporary files that writes of path by
// processes of this host and process-id space left when they were killed
// (kill -9, a node's out-of-memory killer), and returns their paths. A
// file whose process is still alive, one of another host or space, and
// one whose name names no process (written by a build before names
// recorded it, or where the process could not be named) are left alone:
// they may be deleted by hand once no run writes path. Call it before a
// write of path that may follow a killed one, as a command's output file.
func RemoveDeadTemps(path string) []string {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	o := owner()
	if o == "" || base == "" {
		return nil
	}
	space, _, _ := strings.Cut(o, "-")
	matches, _ := Temps(dir, GlobEscape(base))
	var removed []string
	for _, m := range matches {
		rest, ok := strings.CutPrefix(filepath.Base(m), "."+base+".tmp.")
		if !ok {
			continue
		}
		who, random, ok := strings.Cut(rest, ".")
		if !ok || !allDigits(random) {
			continue
		}
		s, pidText, ok := strings.Cut(who, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || s != space || err != nil || !allDigits(pidText) || pid <= 0 || int64(pid) > math.MaxInt32 || pid == os.Getpid() || process.Alive(pid) {
			continue
		}
		if st, err := os.Lstat(m); err == nil && st.Mode().IsRegular() && os.Remove(m) == nil {
			removed = append(removed, m)
		}
	}
	return removed
}

// RemoveDeadTempsIn removes, as RemoveDeadTemps does for one path, the
// temporary files in dir that writes of any file there by processes of
// this host and process-id space left when they were killed, and returns
// their paths: for a caller that writes many files in dir (the images of
// a run) under a claim on the folder.
func RemoveDeadTempsIn(dir string) []string {
	matches, _ := Temps(dir, "*")
	var removed []string
	seen := map[string]bool{}
	for _, m := range matches {
		name := filepath.Base(m)
		i := strings.LastIndex(name, ".tmp.")
		if i < 2 || seen[name[1:i]] {
			continue
		}
		seen[name[1:i]] = true
		removed = append(removed, RemoveDeadTemps(filepath.Join(dir, name[1:i]))...)
	}
	return removed
}

// allDigits reports whether s is a non-empty run of decimal digits.
func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// RemoveTemps removes every temporary file in dir of the targets whose
// base name matches base (a filepath.Match pattern, as for Temps), whoever
// wrote it: for callers that hold those files exclusively (a claim), so
// that such a file is a killed run's. Files of other runs' targets, and
// ones a live writer may be writing, need RemoveDeadTemps instead.
func RemoveTemps(dir, base string) {
	matches, _ := Temps(dir, base)
	for _, m := range matches {
		os.Remove(m)
	}
}

// GlobEscape quotes the filepath.Match metacharacters of a name, so that a
// folder or file named "out[1]" matches only itself in a pattern.
func GlobEscape(name string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`).Replace(name)
}

// Temps returns the paths (dir joined with each name) of the temporary
// files in dir that a write of this package leaves behind when its
// process is killed, for the targets whose base name matches base, a
// filepath.Match pattern (for CreateExclusive's, the name is
// "target.tag"). dir is a folder's name as it is, not a pattern.
// Callers that know nobody else is writing such a file may remove it.
func Temps(dir, base string) ([]string, error) {
	pattern := tempPattern(base)
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("atomicfile: temporary files of %q: %w", base, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("atomicfile: temporary files: %w", err)
	}
	var out []string
	for _, e := range entries {
		if ok, _ := filepath.Match(pattern, e.Name()); ok {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}

// Write creates or replaces path with what write produces. On any failure
// the temporary file is removed, path is left as it was, and the error
// names path.
func Write(path string, write func(io.Writer) error) error {
	tmp, err := writeTemp(path, "", write)
	if err == nil {
		if err = os.Rename(tmp, path); err != nil {
			os.Remove(tmp)
		}
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	syncDir(path)
	return nil
}

// syncDir syncs the folder of path, so that a rename or link into it is
// on disk. It is best effort: some systems refuse to sync a folder
// (EINVAL), and a file system that cannot has made the change durable
// already or never will; the file itself is synced either way.
func syncDir(path string) {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// CreateExclusive creates path with data unless it exists, atomically even
// on NFS: the data goes to a temporary file, which is then hard-linked to
// path (a link never replaces a file). It reports whether this call created
// path. tag, when not empty, goes into the temporary file's name
// (".base.tag.tmp…"), e.g. so that a later process can tell the file of a
// killed writer from that of a live one.
func CreateExclusive(path, tag string, data []byte) (bool, error) {
	tmp, err := writeTemp(path, tag, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("creating %s: %w", path, err)
	}
	defer os.Remove(tmp)
	created, err := linkExclusive(tmp, path)
	if err != nil {
		return false, fmt.Errorf("creating %s: %w", path, err)
	}
	return created, nil
}

// linkExclusive links path to the file tmp unless path exists, and
// reports whether it did. A link refused because path exists is still
// this call's when path is tmp's file: over NFS, a link whose reply was
// lost is sent again, and the repeat finds the link the first one made.
func linkExclusive(tmp, path string) (bool, error) {
	err := os.Link(tmp, path)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return false, err
	}
	ti, terr := os.Stat(tmp)
	pi, perr := os.Lstat(path)
	return terr == nil && perr == nil && os.SameFile(ti, pi), nil
}

// writeTemp writes what write produces to a new temporary file in path's
// folder, named by tempName (base, then "."+tag when tag is set), made
// world-readable, synced and closed, and returns its name. On failure it
// removes the file.
func writeTemp(path, tag string, write func(io.Writer) error) (tmp string, err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if tag != "" {
		base += "." + tag
	}
	f, err := createTemp(dir, base, os.CreateTemp)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close() // may already be closed; the error that matters is err
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriter(f)
	if err = write(bw); err != nil {
		return "", err
	}
	if err = bw.Flush(); err != nil {
		return "", err
	}
	// CreateTemp makes the file private (0600); results are not secret.
	if err = f.Chmod(0o644); err != nil {
		return "", err
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	if err = f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// createTemp creates, with create (os.CreateTemp), the temporary file
// in dir for a target named base: named by tempName, or, where the file
// system refuses that name as too long (eCryptfs takes 143 bytes, not
// 255), by the shorter tempPattern, which names no process.
func createTemp(dir, base string, create func(dir, pattern string) (*os.File, error)) (*os.File, error) {
	pattern := tempName(base)
	f, err := create(dir, pattern)
	if err != nil && errors.Is(err, syscall.ENAMETOOLONG) && pattern != tempPattern(base) {
		return create(dir, tempPattern(base))
	}
	return f, err
}

// WriteBytes creates or replaces path with data, as Write does.
func WriteBytes(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(data))
		return err
	})
}

// CheckWritable creates dir if needed and checks that a file can be
// created in it, so that a long run learns before it starts that it could
// not write its results. The error names dir and the innermost cause
// ("permission denied").
func CheckWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output folder %s is not writable: %w", dir, cause(err))
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("output folder %s is not writable: %w", dir, cause(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// cause returns the innermost error err wraps (e.g. "permission denied"
// out of a *fs.PathError), for messages that name the path themselves.
func cause(err error) error {
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return err
		}
		err = inner
	}
}

// WriteJSON creates or replaces path with v as indented JSON and a final
// newline, as Write does.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return WriteBytes(path, append(data, '\n'))
}
