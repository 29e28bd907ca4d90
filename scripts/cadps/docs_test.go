package main

import (
	"bufio"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The documents whose examples TestDocumentedCommands runs, relative to the
// module root, in this order (later ones may use the files earlier ones
// wrote).
var documents = []string{"README.md", "docs/cli.md"}

// toyFlags are the flags whose values TestDocumentedCommands replaces, so
// that a documented command runs at toy size: -steps 1000 becomes -steps
// 2, and so on (with one dash or two, before a space or an "=").
var toyFlags = map[string]string{"steps": "2", "count": "2", "n": "2", "batch": "2", "draws": "2", "samples": "20"}

// toyFlag matches a flag of toyFlags with its value.
var toyFlag = func() *regexp.Regexp {
	names := slices.Sorted(maps.Keys(toyFlags))
	return regexp.MustCompile(`(\s--?(` + strings.Join(names, "|") + `)[ =])\d+`)
}()

// docBlock is a fenced code block of a document.
type docBlock struct {
	doc   string
	line  int    // the line of its opening fence
	norun string // why it is not run ("" to run it)
	text  string
}

// TestDocumentedCommands runs every command that README.md and docs/cli.md
// show, so that no documented command drifts from the flags:
//
//   - A block fenced as ```sh is a shell script: it runs with bash (-e,
//     pipefail) in a scratch copy of the module (without .git, build/ and
//     out/), with the cadps binary (build/cadps) on PATH, the blocks in
//     document order. Flag values that set the size of a run are made
//     small first (toyFlags: -steps 2, -count 2, -n 2, -batch 2, -draws 2,
//     -samples 20), and what a cadps command names with -out is removed
//     from the copy first, so that a command that made a committed result
//     remakes it at toy size instead of resuming it. A block that reads a
//     system data set (/usr/share/datasets/...) is skipped where it is
//     missing.
//   - A block fenced as ```sh norun: REASON is not run, for REASON (the
//     FFHQ weights or a GPU, which a test machine lacks; `make test`
//     itself). Its cadps commands are still checked: each flag must be one
//     the subcommand defines.
//   - Blocks fenced otherwise (```text for outputs and file layouts, ```go
//     for code) are not commands.
func TestDocumentedCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the documented commands")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	if err := copyTree(root, work); err != nil {
		t.Fatal(err)
	}
	bin := buildCadps(t, filepath.Join(work, "build"))
	flags := map[string][]string{} // subcommand → its flags
	for _, doc := range documents {
		blocks, err := readBlocks(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			name := strings.ReplaceAll(b.doc, "/", "_") + ":" + strconv.Itoa(b.line)
			t.Run(name, func(t *testing.T) {
				for _, cmd := range cadpsCommands(b.text) {
					checkFlags(t, bin, cmd, flags)
				}
				if b.norun != "" {
					t.Skipf("not run: %s", b.norun)
				}
				if strings.Contains(b.text, "/usr/share/datasets/") {
					if _, err := os.Stat("/usr/share/datasets/fashion-mnist"); err != nil {
						t.Skip("needs /usr/share/datasets/fashion-mnist (Debian's fashion-mnist package)")
					}
				}
				script := toyFlag.ReplaceAllStringFunc(b.text, func(m string) string {
					sub := toyFlag.FindStringSubmatch(m)
					return sub[1] + toyFlags[sub[2]]
				})
				for _, cmd := range cadpsCommands(script) {
					if out := flagValue(cmd, "out"); out != "" {
						os.RemoveAll(filepath.Join(work, out))
					}
				}
				start := time.Now()
				cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", script)
				cmd.Dir = work
				cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s line %d:\n%s\nfailed: %v\n%s", b.doc, b.line, script, err, out)
				}
				t.Logf("%.1f s", time.Since(start).Seconds())
			})
		}
	}
}

// readBlocks returns the ```sh blocks of a Markdown file.
func readBlocks(path string) ([]docBlock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var blocks []docBlock
	var cur *docBlock
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```sh"):
			info := strings.TrimSpace(strings.TrimPrefix(trimmed, "```sh"))
			cur = &docBlock{doc: filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path), line: n}
			if strings.HasPrefix(info, "norun") {
				cur.norun = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(info, "norun"), ":"))
				if cur.norun == "" {
					cur.norun = "marked norun"
				}
			}
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &docBlock{line: -1} // another kind of block: skipped
		case cur != nil && trimmed == "```":
			if cur.line >= 0 {
				blocks = append(blocks, *cur)
			}
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	return blocks, sc.Err()
}

// subcommand matches a cadps subcommand's name.
var subcommand = regexp.MustCompile(`^[a-z]+$`)

// cadpsCommands returns the words of every cadps command in a script
// (continuation lines joined, comments dropped).
func cadpsCommands(script string) [][]string {
	var cmds [][]string
	joined := strings.ReplaceAll(script, "\\\n", " ")
	for _, line := range strings.Split(joined, "\n") {
		words := shellWords(line)
		for i, w := range words {
			if (w == "cadps" || strings.HasSuffix(w, "build/cadps")) && i+1 < len(words) && subcommand.MatchString(words[i+1]) {
				cmds = append(cmds, words[i:])
				break
			}
		}
	}
	return cmds
}

// shellWords splits a line into words as a shell would for plain words
// and quotes, up to an unquoted comment.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '#' && !inWord && (i == 0 || line[i-1] == ' '):
			return words
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == ';' || r == '|' || r == '&':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			words = append(words, string(r))
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// checkFlags checks that every flag of a cadps command is one its
// subcommand defines (as `cadps SUB -h` lists them).
func checkFlags(t *testing.T, bin string, words []string, known map[string][]string) {
	t.Helper()
	sub := words[1]
	if _, ok := known[sub]; !ok {
		out, _ := exec.Command(filepath.Join(bin, "cadps"), sub, "-h").CombinedOutput()
		for _, m := range regexp.MustCompile(`(?m)^\s+-(\S+)`).FindAllStringSubmatch(string(out), -1) {
			known[sub] = append(known[sub], m[1])
		}
		if strings.Contains(string(out), "unknown command") {
			t.Errorf("the documents use cadps %s, which is not a command", sub)
			return
		}
	}
	for _, w := range words[2:] {
		if w == ";" || w == "|" || w == "&" {
			return
		}
		if !strings.HasPrefix(w, "-") || len(w) < 2 || strings.ContainsAny(w[1:2], "0123456789.") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if name != "h" && !slices.Contains(known[sub], name) && !definesFlag(bin, sub, name) {
			t.Errorf("cadps %s: the documents use flag %s, which it does not define", sub, w)
		}
	}
}

// copyTree copies the module at root into dst, without .git, build/ and
// out/.
func copyTree(root, dst string) error {
	return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == ".git" || rel == "build" || rel == "out" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil // a worktree's .git file
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
}

// flagValue returns the value of -name (or --name) in a command's words.
func flagValue(words []string, name string) string {
	for i, w := range words {
		switch {
		case w == "-"+name || w == "--"+name:
			if i+1 < len(words) {
				return words[i+1]
			}
		case strings.HasPrefix(w, "-"+name+"=") || strings.HasPrefix(w, "--"+name+"="):
			return w[strings.Index(w, "=")+1:]
		}
	}
	return ""
}

// definesFlag asks cadps whether subcommand sub has flag -name, for
// commands whose -h text does not list their flags: given an impossible
// value, an unknown flag fails with "flag provided but not defined".
func definesFlag(bin, sub, name string) bool {
	out, _ := exec.Command(filepath.Join(bin, "cadps"), sub, "-"+name+"=\x01not a value", "/nonexistent/a.png", "/nonexistent/b.png").CombinedOutput()
	return !strings.Contains(string(out), "flag provided but not defined")
}

// buildCadps builds the cadps command into dir and returns dir.
func buildCadps(t *testing.T, dir string) string {
	t.Helper()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "cadps"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}
