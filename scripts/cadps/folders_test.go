package main

import (
	"io"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/runs"
)

// TestOutputFolderOfAnotherCommand makes a folder with each command that
// writes one (restore, reproduce, evaluate, merge, train), then runs every
// other command into it: each is refused before it writes anything, naming
// the command that made the folder and the file that says so, and the
// folder is left as it was. Merge into a reproduction's folder is the
// exception (its own tests cover it), and so is a command into its own
// folder (resumed, by the commands' own tests).
func TestOutputFolderOfAnotherCommand(t *testing.T) {
	root := t.TempDir()
	model := fixtureModel(t, "fixed") // 16×16
	images := imageFolder(t, 1)
	image := filepath.Join(images, "img00.png")
	idx := writeTinyIDX(t, 4)
	type command struct {
		name runs.Command
		run  func([]string, io.Writer, io.Writer) error
		args func(out string) []string
		mark string // the file that marks its folder
	}
	commands := []command{
		{runs.CommandRestore, runRestore, func(out string) []string {
			return append([]string{image, "-task", "sr:factor=2", "-method", "dps", "-steps", "2", "-quiet", "-out", out}, model...)
		}, runs.RestoreRecordFile},
		{runs.CommandReproduce, runReproduce, func(out string) []string {
			return append([]string{images, "-task", "sr:factor=2", "-methods", "dps", "-steps", "2", "-quiet", "-out", out}, model...)
		}, runs.SettingsFile},
		{runs.CommandEvaluate, runEvaluate, func(out string) []string {
			return []string{"-data", testImagesDir(t), "-count", "1", "-batch", "1", "-steps", "2", "-tasks", "inpaint_box:size=12",
				"-methods", "dps", "-keep", "0", "-jobs", "1", "-quiet", "-out", out}
		}, runs.EvalSettingsFile},
		{runs.CommandMerge, runMerge, func(out string) []string {
			return []string{"-quiet", "-out", out, filepath.Join(root, "reproduce")}
		}, runs.CSVFile},
		{runs.CommandTrain, runTrain, func(out string) []string {
			return append(tinyTrainArgs(idx, out), "--steps", "1")
		}, "checkpoint.safetensors"},
	}
	for _, c := range commands { // in order: merge reads the reproduction
		if _, stderr, err := runCmd(c.run, c.args(filepath.Join(root, string(c.name)))...); err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, stderr)
		}
	}
	for _, made := range commands {
		for _, c := range commands {
			if c.name == made.name || made.name == runs.CommandReproduce && c.name == runs.CommandMerge {
				continue
			}
			t.Run(string(c.name)+" into "+string(made.name)+"'s folder", func(t *testing.T) {
				out := filepath.Join(root, string(made.name))
				before := folderFiles(t, out)
				_, _, err := runCmd(c.run, c.args(out)...)
				want := "runs: output folder " + out + " holds a run of cadps " + string(made.name) + " (" + made.mark + "): cadps " + string(c.name) +
					" does not write into another command's folder; use another output folder"
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %v, want one containing %q", err, want)
				}
				if after := folderFiles(t, out); !maps.Equal(after, before) {
					t.Errorf("the refused run changed the folder's files")
				}
			})
		}
	}
	// A shard of a reproduction records the shard count in the folder
	// before it runs, which would mark any folder as a reproduction's: it
	// is refused before that.
	for _, made := range commands {
		if made.name == runs.CommandReproduce {
			continue
		}
		t.Run("reproduce -shard 0/2 into "+string(made.name)+"'s folder", func(t *testing.T) {
			out := filepath.Join(root, string(made.name))
			before := folderFiles(t, out)
			_, _, err := runCmd(runReproduce, append(commands[1].args(out), "-shard", "0/2")...)
			want := "runs: output folder " + out + " holds a run of cadps " + string(made.name) + " (" + made.mark + "): cadps reproduce" +
				" does not write into another command's folder; use another output folder"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want one containing %q", err, want)
			}
			if after := folderFiles(t, out); !maps.Equal(after, before) {
				t.Errorf("the refused run changed the folder's files")
			}
		})
	}
}
