package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// summaryHeader heads the tables `cadps gmm table` prints.
const summaryHeader = "| d | m | method | SW₂ | energy | weight TV | s/run | failed |"

// gmmTableCommand matches a documented `cadps gmm table` command line.
var gmmTableCommand = regexp.MustCompile(`(?m)^go run \./scripts/cadps gmm table (.*)$`)

// TestDocumentedBenchTables checks the exact-posterior tables of the docs
// against the files they come from: every row of a table headed like
// `cadps gmm table`'s summary must be a row that the page's own
// `go run ./scripts/cadps gmm table` commands print (values, s/run and
// failures alike), and every cell of a paired table headed
// "| d | m | METHOD | ..." must be the Δ SW₂ cell that
// `cadps gmm table -paired dps,METHOD` prints for its d and m.
func TestDocumentedBenchTables(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, c := range []struct {
		doc          string
		rows, paired int // at least this many summary rows and paired cells checked
	}{
		{"docs/methods.md", 54, 27},
		{"docs/posterior-fidelity.md", 90, 27},
	} {
		t.Run(filepath.Base(c.doc), func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join(root, c.doc))
			if err != nil {
				t.Fatal(err)
			}
			printed := map[string]bool{}  // every line the page's commands print
			paired := map[string]string{} // "METHOD d m" → Δ SW₂ cell
			commands := gmmTableCommand.FindAllStringSubmatch(string(text), -1)
			if len(commands) == 0 {
				t.Fatalf("%s shows no `go run ./scripts/cadps gmm table` command", c.doc)
			}
			for _, m := range commands {
				args := strings.Fields(m[1])
				method := ""
				for i, a := range args {
					switch {
					case a == "-paired" && i+1 < len(args):
						_, method, _ = strings.Cut(args[i+1], ",")
					case strings.HasSuffix(a, ".csv"):
						args[i] = filepath.Join(root, a)
					case strings.HasSuffix(a, ".json"):
						args[i] = filepath.Join(t.TempDir(), filepath.Base(a))
					}
				}
				var out bytes.Buffer
				if err := gmmCommand().run(append([]string{"table"}, args...), &out, io.Discard); err != nil {
					t.Fatalf("cadps gmm table %s: %v", m[1], err)
				}
				for _, line := range strings.Split(out.String(), "\n") {
					printed[line] = true
					if cells := tableCells(line); method != "" && len(cells) == 5 && isInt(cells[0]) {
						paired[method+" "+cells[0]+" "+cells[1]] = cells[2]
					}
				}
			}
			var rows, pairs int
			var header []string
			summary := strings.Join(tableCells(summaryHeader), "|")
			for n, line := range strings.Split(string(text), "\n") {
				if strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| ---") {
					continue
				}
				cells := tableCells(line)
				switch {
				case cells == nil:
					header = nil
				case len(cells) > 1 && cells[0] == "d" && cells[1] == "m":
					header = cells
				case header == nil || !isInt(cells[0]):
				case strings.Join(header, "|") == summary:
					rows++
					if !printed[line] {
						t.Errorf("%s:%d: %q is not a row that the page's gmm table commands print", c.doc, n+1, line)
					}
				case len(header) == len(cells) && methodColumns(header[2:]):
					for k, method := range header[2:] {
						got, ok := paired[method+" "+cells[0]+" "+cells[1]]
						pairs++
						if !ok || got != cells[k+2] {
							t.Errorf("%s:%d: %s at d = %s, m = %s: the page says %q, `gmm table -paired dps,%s` prints %q", c.doc, n+1, method, cells[0], cells[1], cells[k+2], method, got)
						}
					}
				}
			}
			if rows < c.rows || pairs < c.paired {
				t.Errorf("%s: checked %d summary rows and %d paired cells, want at least %d and %d", c.doc, rows, pairs, c.rows, c.paired)
			}
		})
	}
}

// methodName matches a method's name as a column heading.
var methodName = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// methodColumns reports whether every heading names a method.
func methodColumns(headings []string) bool {
	for _, h := range headings {
		if !methodName.MatchString(h) {
			return false
		}
	}
	return len(headings) > 0
}

// tableCells returns the trimmed cells of a Markdown table row, nil for a
// line that is not one.
func tableCells(line string) []string {
	if !strings.HasPrefix(line, "|") {
		return nil
	}
	parts := strings.Split(strings.Trim(line, "|"), "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// isInt reports whether s is a decimal integer.
func isInt(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
