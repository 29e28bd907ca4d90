package runs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cadps/toolkit/cadps/train"
)

// Command names a command of the toolkit that writes an output folder
// (cadps restore, reproduce, evaluate, merge, train): the kind of run a
// folder holds.
type Command string

// The commands that write output folders.
const (
	CommandRestore   Command = "restore"
	CommandReproduce Command = "reproduce"
	CommandEvaluate  Command = "evaluate"
	CommandMerge     Command = "merge"
	CommandTrain     Command = "train"
)

// RestoreRecordFile is the record of a restoration, which marks the
// folder of cadps restore (the other commands' marks are this package's
// SettingsFile, ShardFile, EvalSettingsFile and CSVFile, and package
// train's files).
const RestoreRecordFile = "record.json"

// The images cadps restore writes in its output folder beside
// RestoreRecordFile: the reconstruction, the measurement, the clean image
// it measured (the label), the strip of intermediate estimates, and the
// animation of -gif.
const (
	RestoreReconFile       = "recon.png"
	RestoreMeasurementFile = "measurement.png"
	RestoreLabelFile       = "label.png"
	RestoreProgressFile    = "progress.png"
	RestoreGIFFile         = "progress.gif"
)

// RestoreStagedRecordFile is the record a restoration writes before it
// moves its files into place and renames the record to RestoreRecordFile
// last: a restoration stopped midway leaves it, which marks the folder as
// restore's still.
const RestoreStagedRecordFile = ".record.new.json"

// metricsCSVHeader and summaryHeader start the metrics CSV (CSVFile) and
// the Markdown table (TableFile) that Table.Write writes.
const (
	metricsCSVHeader = "task,method,index,image,status,"
	summaryHeader    = "| task | method | images |"
)

// FolderRun returns the command whose run the folder dir holds and the
// file that says so: reproduce.json or shards.json (reproduce), settings.json
// (evaluate), checkpoint.safetensors, ema.safetensors or losses.csv (train),
// a record.json that is a restoration's record, or the staged record a
// restoration stopped while moving its files into place leaves (restore),
// a metrics.csv or
// a summary.md as a reproduction's tables begin (merge: its tables without
// a reproduction).
// It returns "" for a folder that does not exist or holds none of them.
func FolderRun(dir string) (Command, string) {
	for _, m := range []struct {
		cmd  Command
		file string
		is   func(path string) bool
	}{
		{CommandReproduce, SettingsFile, exists},
		{CommandReproduce, ShardFile, exists},
		{CommandEvaluate, EvalSettingsFile, exists},
		{CommandTrain, train.CheckpointFile, exists},
		{CommandTrain, train.EMAFile, exists},
		{CommandTrain, train.LossFile, exists},
		{CommandRestore, RestoreRecordFile, isRestoreRecord},
		{CommandRestore, RestoreStagedRecordFile, isRestoreRecord},
		// Again: a restoration ending meanwhile renames its staged
		// record to record.json between the two looks above.
		{CommandRestore, RestoreRecordFile, isRestoreRecord},
		{CommandMerge, CSVFile, startsWith(metricsCSVHeader)},
		{CommandMerge, TableFile, startsWith(summaryHeader)},
	} {
		if m.is(filepath.Join(dir, m.file)) {
			return m.cmd, m.file
		}
	}
	return "", ""
}

// CheckOutputFolder is the rule by which every command that writes an
// output folder takes one. cmd may write into dir when dir does not exist,
// when it holds a run of cmd itself (which the command then resumes,
// extends or replaces by its own rules), and merge also into a
// reproduction's folder (whose settings it checks itself). A folder
// holding another command's run (FolderRun) is refused, naming that
// command and the file that says so. A folder holding no run is taken
// unless it holds a file or folder of a name that cmd writes
// (OutputNames): that one, a user's own metrics.csv or recon.png say,
// would be replaced, so it is refused, named; files of other names stay
// beside the run's.
//
// The folder's marks are looked for both before and after its names are
// read, and a mark either look finds counts. A worker of cmd that starts
// meanwhile in the same folder (workers of reproduce started at once)
// writes its mark before its other files, so every name of cmd's that
// the listing holds was either there before or comes with a mark the
// later look finds; a worker of reproduce that fails at its start
// removes its mark (shards.json) when it is all the folder holds, and
// the earlier look found it. A restoration ending meanwhile in the folder
// moves its mark, renaming its staged record to record.json: FolderRun
// looks for record.json again after the staged record, so that one of
// the two is found.
func CheckOutputFolder(dir string, cmd Command) error {
	before, beforeFile := FolderRun(dir)
	entries, readErr := os.ReadDir(dir)
	run, file := FolderRun(dir)
	if run == "" || before == cmd {
		run, file = before, beforeFile
	}
	switch {
	case run == cmd, run == CommandReproduce && cmd == CommandMerge:
		return nil
	case run != "":
		return fmt.Errorf("runs: output folder %s holds a run of cadps %s (%s): cadps %s does not write into another command's folder; use another output folder",
			dir, run, file, cmd)
	}
	if readErr != nil {
		return nil // missing, not a folder, unreadable: left to the checks that make and write it
	}
	if cmd == CommandRestore {
		if err := checkRestoreRecord(dir); err != nil {
			return err
		}
	}
	for _, e := range entries {
		for _, pattern := range OutputNames(cmd) {
			if ok, _ := filepath.Match(pattern, e.Name()); ok {
				return fmt.Errorf("runs: output folder %s holds %s, which no run of cadps %s made and which it would replace: move it away or use another output folder",
					dir, e.Name(), cmd)
			}
		}
	}
	return nil
}

// checkRestoreRecord refuses the record.json of a folder that holds no
// restoration (FolderRun found no restoration's record in it) before the
// images beside it are named: an empty one or one that is not whole JSON,
// which a restoration wrote and a crash or a full disk damaged, as such,
// saying what to do; another file of that name as one that restore would
// replace. A record.json that is not a file is left to CheckOutputFolder's
// listing.
func checkRestoreRecord(dir string) error {
	path := filepath.Join(dir, RestoreRecordFile)
	if st, err := os.Lstat(path); err != nil || !st.Mode().IsRegular() {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil // unreadable: left to the checks that write it
	}
	damage := ""
	switch {
	case restoreRecordData(data):
		return nil // a restoration's record, put in place since FolderRun looked: its run
	case len(bytes.TrimSpace(data)) == 0:
		damage = "is empty"
	case !json.Valid(data):
		damage = "is damaged (not whole JSON)"
	default:
		return fmt.Errorf("runs: output folder %s holds %s, which no run of cadps %s made and which it would replace: move it away or use another output folder",
			dir, RestoreRecordFile, CommandRestore)
	}
	return fmt.Errorf("runs: output folder %s holds a %s that %s, so which of its files a restoration made is unknown: remove %s and a restoration's images beside it (%s, %s, …), or use another output folder",
		dir, RestoreRecordFile, damage, RestoreRecordFile, RestoreReconFile, RestoreLabelFile)
}

// OutputNames returns the names (filepath.Match patterns) of the files
// and folders that cmd writes directly in its output folder, those that
// mark its runs (FolderRun) included; a reproduction also writes a folder
// per task, named by its label.
func OutputNames(cmd Command) []string {
	tables := []string{CSVFile, TableFile, GridFile("*")}
	switch cmd {
	case CommandRestore:
		return []string{RestoreReconFile, RestoreMeasurementFile, RestoreLabelFile, RestoreProgressFile, RestoreGIFFile, RestoreRecordFile}
	case CommandReproduce:
		return append([]string{SettingsFile, ShardFile}, tables...)
	case CommandEvaluate:
		return []string{EvalSettingsFile, EvalResultsFile, EvalTableFile, EvalImagesDir}
	case CommandMerge:
		return tables
	case CommandTrain:
		return []string{train.CheckpointFile, train.EMAFile, train.LossFile, train.LossPlotFile}
	}
	return nil
}

// exists reports whether path names something (a dangling link too).
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// isRestoreRecord reports whether path is a restoration's record: a JSON
// object with the image restored and settings naming the method.
func isRestoreRecord(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false // missing, a folder, unreadable: no record
	}
	return restoreRecordData(data)
}

// restoreRecordData reports whether data is a restoration's record
// (isRestoreRecord).
func restoreRecordData(data []byte) bool {
	var rec struct {
		Image    *string `json:"image"`
		Settings struct {
			Method string `json:"method"`
		} `json:"settings"`
	}
	return json.Unmarshal(data, &rec) == nil && rec.Image != nil && rec.Settings.Method != ""
}

// startsWith returns a test of whether a file starts with prefix.
func startsWith(prefix string) func(path string) bool {
	return func(path string) bool {
		f, err := os.Open(path)
		if err != nil {
			return false
		}
		defer f.Close()
		head := make([]byte, len(prefix))
		_, err = io.ReadFull(f, head)
		return err == nil && string(head) == prefix
	}
}
