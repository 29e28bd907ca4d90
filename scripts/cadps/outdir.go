package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/cadps/toolkit/internal/atomicfile"
)

// outputDir is an output folder made for a run by makeOutputDir.
type outputDir struct {
	// dir is the folder as the run names it.
	dir string
	// made are the folders this process itself created (its os.Mkdir of
	// them succeeded), innermost first.
	made []string
	// own are the files the run itself created in dir before its work
	// (see created).
	own []string
}

// makeOutputDir makes dir and its missing parents and checks that a file
// can be created in it (atomicfile.CheckWritable). Call it after every
// check of the input, right before the work, and defer undo with the run's
// error, so that a refused or failed run leaves no folder behind.
//
// The folders are made one by one, outermost first, along dir as it is
// written (so a/../b makes a, as the system resolves it): a folder counts
// as made by this run only when its own os.Mkdir succeeded, never when
// another process made it meanwhile, so that undo never removes a folder
// a concurrent run made. A dangling symbolic link on the way is named.
func makeOutputDir(dir string) (_ *outputDir, err error) {
	o := &outputDir{dir: dir}
	defer func() {
		if err != nil { // a refused folder: remove what was made of it
			o.removeMade()
		}
	}()
	for _, p := range pathPrefixes(dir) {
		st, lerr := os.Lstat(p)
		switch {
		case lerr == nil && st.Mode()&fs.ModeSymlink != 0:
			if _, serr := os.Stat(p); errors.Is(serr, fs.ErrNotExist) {
				target, _ := os.Readlink(p)
				return nil, fmt.Errorf("output folder %s: %s is a symbolic link to %s, which does not exist", dir, p, target)
			}
		case lerr == nil:
		case errors.Is(lerr, fs.ErrNotExist):
			merr := os.Mkdir(p, 0o755)
			if merr == nil {
				o.made = append([]string{p}, o.made...)
			} else if !errors.Is(merr, fs.ErrExist) { // ErrExist: another process made it
				return nil, fmt.Errorf("output folder %s is not writable: %w", dir, pathCause(merr))
			}
		default:
			return nil, fmt.Errorf("output folder %s is not writable: %w", dir, pathCause(lerr))
		}
	}
	if err := atomicfile.CheckWritable(dir); err != nil {
		return nil, err
	}
	return o, nil
}

// pathPrefixes returns the paths of the folders along p, outermost first,
// ending with p itself: "a/../b" gives a, a/.., a/../b. The root and a
// volume name are not among them.
func pathPrefixes(p string) []string {
	var out []string
	start := len(filepath.VolumeName(p))
	for i := start + 1; i < len(p); i++ {
		if os.IsPathSeparator(p[i]) && !os.IsPathSeparator(p[i-1]) {
			out = append(out, p[:i])
		}
	}
	if p != "" && !(len(p) == start+1 && os.IsPathSeparator(p[start])) {
		out = append(out, p)
	}
	return out
}

// pathCause returns the error a *fs.PathError wraps ("permission
// denied"), for messages that name the path themselves.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// addForceFlag adds -force to a command that writes output files named on
// its command line; checkNewFiles honours it.
func addForceFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("force", false, "replace output files that exist (without it, an existing output file is refused)")
}

// checkNewFiles refuses, unless force, each path that is not empty and
// names something that exists: a command never replaces a result it did
// not write in this run without being told to. Call it before the work, so
// that a long run learns at once; the files themselves are written
// atomically (atomicfile), so that a replaced file is never half-written.
func checkNewFiles(force bool, paths ...string) error {
	if force {
		return nil
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() { // a folder is makeOutputFileDir's to name
			return fmt.Errorf("output file %s exists: give -force to replace it", p)
		}
	}
	return nil
}

// makeOutputFileDir is makeOutputDir for the folder of the output file
// path, which must name a file: a path that ends in a separator (or in .
// or ..) or that is an existing folder is refused. It also removes the
// temporary files of path that killed runs left there
// (atomicfile.RemoveDeadTemps).
func makeOutputFileDir(path string) (*outputDir, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("output file %s is a folder: give a file name", path)
	}
	dir, base := filepath.Split(path)
	if base == "" || base == "." || base == ".." {
		return nil, fmt.Errorf("output file %s names a folder: give a file name", path)
	}
	if dir == "" {
		dir = "."
	}
	o, err := makeOutputDir(dir)
	if err != nil {
		return nil, err
	}
	atomicfile.RemoveDeadTemps(path)
	return o, nil
}

// created records that the run itself created the file name in the
// output folder before its work (reproduce's shards.json, when its
// worker recorded the shard count): undo may remove it.
func (o *outputDir) created(name string) {
	o.own = append(o.own, name)
}

// undo, when the run failed (*err is not nil), removes the files the run
// recorded as created when they are all the output folder holds (whether
// the run made the folder or found it, empty, as a job script's mkdir or
// a volume's mount leaves it), and then the folders that makeOutputDir
// created and that are empty, innermost first. A folder that holds
// anything else is kept, and so are its parents; so is every folder that
// existed before the run or that another process made.
func (o *outputDir) undo(err *error) {
	if o == nil || *err == nil {
		return
	}
	o.removeMade()
}

// removeMade removes the files the run created and the folders it made,
// as undo describes.
func (o *outputDir) removeMade() {
	if len(o.own) > 0 {
		entries, rerr := os.ReadDir(o.dir)
		if rerr == nil && !slices.ContainsFunc(entries, func(e os.DirEntry) bool { return !slices.Contains(o.own, e.Name()) }) {
			for _, e := range entries {
				os.Remove(filepath.Join(o.dir, e.Name()))
			}
		}
	}
	for _, d := range o.made {
		// Gone already: another undo of this run (a signal's stop, while
		// the run returns its error) is under way; both go on outwards.
		if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return // not empty: keep it and its parents
		}
	}
}

// outputDirs are the folders of several output files
// (signalStop.makeOutputFileDirs).
type outputDirs []*outputDir

// makeOutputFileDirs is makeOutputFileDir, as a run that listens already
// makes it (signalStop.makeOutputFileDir), for each path that is not
// empty; when one is refused, the folders made for the others are removed
// again.
func (s *signalStop) makeOutputFileDirs(paths ...string) (dirs outputDirs, err error) {
	defer dirs.undo(&err)
	for _, p := range paths {
		if p == "" {
			continue
		}
		d, err := s.makeOutputFileDir(p)
		if err != nil {
			return dirs, err
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}

// undo is outputDir.undo for each folder.
func (ds outputDirs) undo(err *error) {
	for _, d := range ds {
		d.undo(err)
	}
}
