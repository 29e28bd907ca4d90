package main

import (
	"bufio"
	"fmt"
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

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
)

// firstDocuments are the documents whose examples TestDocumentedCommands
// runs first, relative to the module root, in this order (later documents
// may use the files earlier ones wrote).
var firstDocuments = []string{"README.md", "docs/cli.md"}

// documents returns the Markdown files whose examples
// TestDocumentedCommands runs, relative to root: firstDocuments, then
// every other .md file under docs/ and every other .md file of the module
// that README.md links to, by name.
func documents(root string) ([]string, error) {
	seen := map[string]bool{}
	for _, d := range firstDocuments {
		seen[d] = true
	}
	var rest []string
	add := func(rel string) {
		if !seen[rel] {
			seen[rel] = true
			rest = append(rest, rel)
		}
	}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			add(filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		return nil, err
	}
	for _, m := range markdownLink.FindAllStringSubmatch(string(readme), -1) {
		rel := filepath.ToSlash(filepath.Clean(m[1]))
		if _, err := os.Stat(filepath.Join(root, rel)); err == nil && !strings.HasPrefix(rel, "../") {
			add(rel)
		}
	}
	slices.Sort(rest)
	return append(slices.Clone(firstDocuments), rest...), nil
}

// markdownLink matches a relative link to a Markdown file.
var markdownLink = regexp.MustCompile(`\]\(([^):#\s]+\.md)(?:#[^)]*)?\)`)

// toyFlags are the flags whose values TestDocumentedCommands replaces, so
// that a documented command runs at toy size: -steps 1000 becomes -steps
// 2, and so on (with one dash or two, before a space or an "=").
var toyFlags = map[string]string{"steps": "2", "count": "2", "n": "2", "batch": "2", "draws": "2", "samples": "20", "problems": "2"}

// toyFlag matches a flag of toyFlags with its value.
var toyFlag = func() *regexp.Regexp {
	names := slices.Sorted(maps.Keys(toyFlags))
	return regexp.MustCompile(`(\s--?(` + strings.Join(names, "|") + `)[ =])\d+`)
}()

// goRunCadps matches `go run ./scripts/cadps`, which the test replaces by
// the cadps binary it built from the same source (a build per command
// would take most of the test's time).
var goRunCadps = regexp.MustCompile(`\bgo run \./scripts/cadps\b`)

// toyScript returns a block's script as the test runs it: cadps from the
// test's build, sizes made small.
func toyScript(text string) string {
	s := goRunCadps.ReplaceAllString(text, "cadps")
	return toyFlag.ReplaceAllStringFunc(s, func(m string) string {
		sub := toyFlag.FindStringSubmatch(m)
		return sub[1] + toyFlags[sub[2]]
	})
}

// docBlock is a fenced code block of a document.
type docBlock struct {
	doc   string
	line  int    // the line of its opening fence
	norun string // why it is not run ("" to run it)
	text  string
}

// TestDocumentedCommands runs every command that README.md and the
// documents under docs/ (and any other document README.md links to)
// show, so that no documented command drifts from the toolkit:
//
//   - A block fenced as ```sh is a shell script: it runs with bash (-e,
//     pipefail) in a scratch copy of the module (without .git, build/ and
//     out/, with ../shared beside it as beside the module), with the
//     cadps binary (build/cadps) on PATH, the blocks in document order.
//     `go run ./scripts/cadps` runs that binary. Flag values that set the
//     size of a run are made small first (toyFlags: -steps 2, -count 2,
//     -n 2, -batch 2, -draws 2, -samples 20, -problems 2), and what a
//     cadps command names with -out is removed from the copy first, so
//     that a command that made a committed result remakes it at toy size
//     instead of resuming it. A block that reads a system data set
//     (/usr/share/datasets/...) or ../shared is skipped where it is
//     missing.
//   - A block fenced as ```sh norun: REASON is not run, for REASON, which
//     a reader understands: what it needs that a test machine lacks (a
//     GPU, the FFHQ checkpoint, downloaded weights, PyTorch), or that it
//     takes minutes (a benchmark, a training run, a table at full size, a
//     package's own tests, which `make test` runs anyway).
//   - Every ```sh block, run or not, is checked without running it: its
//     shell syntax (bash -n); every flag of a cadps command is one its
//     subcommand defines, and its task, method and noise specs parse; the
//     packages of a go command exist, and the tests and benchmarks its
//     -run and -bench patterns select exist; every file of the module it
//     names exists (outputs under out/, build/ and runs/ aside).
//   - Blocks fenced otherwise (```text for outputs, usage lines and file
//     layouts, ```go for code, which TestDocumentedGo compiles, ```json,
//     ```yaml) are not commands. A fence without a language, one of
//     another shell (```bash, ```shell, ```console), a ```sh norun
//     without a reason and a ```sh block that starts with a "# needs:"
//     line are errors, so that no command escapes these checks.
func TestDocumentedCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the documented commands")
	}
	t.Parallel() // its commands run in a scratch copy of the module
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := documents(root)
	if err != nil {
		t.Fatal(err)
	}
	scratch := t.TempDir()
	work := filepath.Join(scratch, "module")
	if err := copyTree(root, work); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(filepath.Dir(root), "shared")
	hasShared := false
	if _, err := os.Stat(shared); err == nil {
		hasShared = os.Symlink(shared, filepath.Join(scratch, "shared")) == nil
	}
	bin := buildCadps(t, filepath.Join(work, "build"))
	c := &docChecker{root: root, bin: bin, flags: map[string][]string{}}
	for _, doc := range docs {
		blocks, problems, err := readBlocks(root, doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Error(p)
		}
		for _, b := range blocks {
			name := strings.ReplaceAll(b.doc, "/", "_") + ":" + strconv.Itoa(b.line)
			t.Run(name, func(t *testing.T) {
				c.check(t, b.text)
				if b.norun != "" {
					t.Skipf("not run: %s", b.norun)
				}
				if strings.Contains(b.text, "/usr/share/datasets/") {
					if _, err := os.Stat("/usr/share/datasets/fashion-mnist"); err != nil {
						t.Skip("needs /usr/share/datasets/fashion-mnist (Debian's fashion-mnist package)")
					}
				}
				if strings.Contains(b.text, "../shared/") && !hasShared {
					t.Skip("needs ../shared beside the module")
				}
				runBlock(t, work, bin, b)
			})
		}
	}
}

// runBlock runs a block's toy script in the module copy at work.
func runBlock(t *testing.T, work, bin string, b docBlock) {
	t.Helper()
	script := toyScript(b.text)
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
}

// readBlocks returns the ```sh blocks of the Markdown file doc (relative
// to root), and a description of each fence that breaks the conventions
// of TestDocumentedCommands.
func readBlocks(root, doc string) ([]docBlock, []string, error) {
	f, err := os.Open(filepath.Join(root, doc))
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var blocks []docBlock
	var problems []string
	var cur *docBlock
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			info := strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))
			lang, rest, _ := strings.Cut(info, " ")
			cur = &docBlock{doc: doc, line: n}
			switch lang {
			case "sh":
				if rest != "" {
					reason, ok := strings.CutPrefix(strings.TrimSpace(rest), "norun:")
					if cur.norun = strings.TrimSpace(reason); !ok || cur.norun == "" {
						problems = append(problems, fmt.Sprintf("%s:%d: a ```sh fence takes nothing after it but `norun: REASON`, with a reason", doc, n))
						cur.norun = "malformed fence"
					}
				}
			case "":
				problems = append(problems, fmt.Sprintf("%s:%d: a fence without a language: ```sh for commands, ```text for outputs and usage lines", doc, n))
				cur.line = -1
			case "bash", "shell", "console", "shell-session", "zsh":
				problems = append(problems, fmt.Sprintf("%s:%d: ```%s: documented commands are ```sh blocks", doc, n, lang))
				cur.line = -1
			default:
				cur.line = -1 // another kind of block: not commands
			}
		case cur != nil && trimmed == "```":
			if cur.line >= 0 {
				if first, _, _ := strings.Cut(strings.TrimSpace(cur.text), "\n"); strings.HasPrefix(first, "# needs:") {
					problems = append(problems, fmt.Sprintf("%s:%d: %q: mark a block that cannot run here as ```sh norun: REASON", doc, cur.line, first))
				}
				blocks = append(blocks, *cur)
			}
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	if cur != nil {
		problems = append(problems, fmt.Sprintf("%s:%d: a fence that is never closed", doc, cur.line))
	}
	return blocks, problems, sc.Err()
}

// docChecker checks blocks without running them.
type docChecker struct {
	root  string              // the module
	bin   string              // the folder of the cadps binary
	flags map[string][]string // "SUB" or "SUB SUBSUB" → the flags -h lists
}

// check reports what is wrong in a block's script without running it.
func (c *docChecker) check(t *testing.T, text string) {
	t.Helper()
	if out, err := exec.Command("bash", "-n", "-c", text).CombinedOutput(); err != nil {
		t.Errorf("not a valid shell script: %v\n%s", err, out)
	}
	script := goRunCadps.ReplaceAllString(text, "cadps")
	for _, cmd := range cadpsCommands(script) {
		c.checkFlags(t, cmd)
		checkSpecs(t, cmd)
	}
	for _, words := range commandLines(script) {
		c.checkGo(t, words)
		c.checkPaths(t, words)
	}
}

// commandLines returns the words of each line of a script (continuation
// lines joined, comments dropped).
func commandLines(script string) [][]string {
	var lines [][]string
	for _, line := range strings.Split(strings.ReplaceAll(script, "\\\n", " "), "\n") {
		if words := shellWords(line); len(words) > 0 {
			lines = append(lines, words)
		}
	}
	return lines
}

// subcommand matches a cadps subcommand's name.
var subcommand = regexp.MustCompile(`^[a-z]+$`)

// cadpsCommands returns the words of every cadps command in a script
// (continuation lines joined, comments dropped), from the word that names
// the binary.
func cadpsCommands(script string) [][]string {
	var cmds [][]string
	for _, words := range commandLines(script) {
		for i, w := range words {
			if (w == "cadps" || strings.HasSuffix(w, "/cadps") && !strings.Contains(w, "=")) && w != "./scripts/cadps" &&
				i+1 < len(words) && subcommand.MatchString(words[i+1]) {
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
		case r == ';' || r == '|' || r == '&' || r == '(' || r == ')':
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

// separator reports whether a word ends a command.
func separator(w string) bool {
	return w == ";" || w == "|" || w == "&" || w == "(" || w == ")"
}

// checkFlags checks that every flag of a cadps command (its words, from
// the binary's name) is one its subcommand defines; bin is the folder of
// the cadps binary, known caches each subcommand's flags.
func checkFlags(t *testing.T, bin string, words []string, known map[string][]string) {
	t.Helper()
	(&docChecker{bin: bin, flags: known}).checkFlags(t, words)
}

// checkFlags checks that every flag of a cadps command is one its
// subcommand (or its sub-subcommand, as `cadps gmm bench`) defines, as
// `cadps SUB -h` lists them.
func (c *docChecker) checkFlags(t *testing.T, words []string) {
	t.Helper()
	sub, args := []string{words[1]}, words[2:]
	if len(args) > 0 && subcommand.MatchString(args[0]) {
		out, _ := exec.Command(filepath.Join(c.bin, "cadps"), words[1], args[0], "-h").CombinedOutput()
		if strings.HasPrefix(string(out), "Usage: cadps "+words[1]+" "+args[0]) {
			sub, args = append(sub, args[0]), args[1:]
		}
	}
	key := strings.Join(sub, " ")
	if _, ok := c.flags[key]; !ok {
		out, _ := exec.Command(filepath.Join(c.bin, "cadps"), append(sub, "-h")...).CombinedOutput()
		if strings.Contains(string(out), "unknown command") {
			t.Errorf("the documents use cadps %s, which is not a command", key)
			return
		}
		c.flags[key] = []string{}
		for _, m := range regexp.MustCompile(`(?m)^\s+-(\S+)`).FindAllStringSubmatch(string(out), -1) {
			c.flags[key] = append(c.flags[key], m[1])
		}
	}
	for _, w := range args {
		if separator(w) {
			return
		}
		if !strings.HasPrefix(w, "-") || len(w) < 2 || strings.ContainsAny(w[1:2], "0123456789.") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if name != "h" && !slices.Contains(c.flags[key], name) && !definesFlag(c.bin, sub, name) {
			t.Errorf("cadps %s: the documents use flag %s, which it does not define", key, w)
		}
	}
}

// checkSpecs checks the task, method and noise specs a cadps command
// gives (-task, -tasks, -method, -methods, -noise) as the command would
// parse them: tasks for the shipped prior's 1×32×32 images, or 3×256×256
// ones with -model ffhq256, -model imagenet256 or -model-config.
func checkSpecs(t *testing.T, words []string) {
	t.Helper()
	shape := []int{1, 1, 32, 32}
	if m := flagValue(words, "model"); m == "ffhq256" || m == "imagenet256" || flagValue(words, "model-config") != "" {
		shape = []int{1, 3, 256, 256}
	}
	for i, w := range words {
		if separator(w) {
			return
		}
		name, value, ok := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if !strings.HasPrefix(w, "-") {
			continue
		}
		if !ok {
			if i+1 >= len(words) {
				continue
			}
			value = words[i+1]
		}
		if strings.ContainsAny(value, "$") {
			continue
		}
		var specs []string
		switch name {
		case "task":
			specs = []string{value}
		case "tasks":
			specs = strings.Split(value, ";")
		case "method":
			if !(words[1] == "gmm" && value == exactMethod) { // gmm's exact posterior draws
				specs = []string{value}
			}
		case "methods":
			if value != "all" {
				specs = slices.DeleteFunc(splitMethodList(value), func(m string) bool { return words[1] == "gmm" && m == exactMethod })
			}
		case "noise":
			if _, err := ops.ParseNoise(value); err != nil {
				t.Errorf("cadps %s -noise %s: %v", words[1], value, err)
			}
		}
		for _, spec := range specs {
			var err error
			if strings.HasPrefix(name, "task") {
				_, err = ops.Parse(spec, shape, 0)
			} else {
				_, err = guidance.ParseSpec(spec, guidance.Options{})
			}
			if err != nil {
				t.Errorf("cadps %s -%s %s: %v", words[1], name, value, err)
			}
		}
	}
}

// checkGo checks a go command of a script's line: the packages it names
// exist, the patterns of go test's -run and -bench select at least one
// test or benchmark of them, and its -o does not name a folder of the
// module (go would write the binary into it, so that the file the later
// commands run is not there).
func (c *docChecker) checkGo(t *testing.T, words []string) {
	t.Helper()
	for i := 0; i+1 < len(words); i++ {
		if words[i] != "go" || (words[i+1] != "test" && words[i+1] != "run" && words[i+1] != "build") {
			continue
		}
		var dirs []string
		patterns := map[string]string{} // "Test" or "Benchmark" → pattern
		for j := i + 2; j < len(words) && !separator(words[j]); j++ {
			w := words[j]
			switch {
			case strings.HasPrefix(w, "./"):
				dir := filepath.Join(c.root, strings.TrimSuffix(strings.TrimPrefix(w, "./"), "/..."))
				if _, err := os.Stat(dir); err != nil {
					t.Errorf("go %s %s: no such package", words[i+1], w)
					continue
				}
				dirs = append(dirs, dir)
				if strings.HasSuffix(w, "/...") {
					dirs = nil // a pattern of packages: only its root is checked
					patterns = nil
				}
			case w == "-o" && j+1 < len(words) && !strings.ContainsAny(words[j+1], "$") && !strings.HasSuffix(words[j+1], "/"):
				if st, err := os.Stat(filepath.Join(c.root, words[j+1])); err == nil && st.IsDir() {
					t.Errorf("go %s -o %s: %s is a folder of the module, so go writes the binary into it, not at %s",
						words[i+1], words[j+1], words[j+1], words[j+1])
				}
			case (w == "-run" || w == "-bench") && j+1 < len(words) && patterns != nil:
				kind := map[string]string{"-run": "Test", "-bench": "Benchmark"}[w]
				patterns[kind] = words[j+1]
			}
		}
		for kind, pattern := range patterns {
			c.checkPattern(t, dirs, kind, pattern)
		}
	}
}

// checkPattern checks that the top level of a go test -run or -bench
// pattern selects a function of its kind in the test files of dirs.
func (c *docChecker) checkPattern(t *testing.T, dirs []string, kind, pattern string) {
	t.Helper()
	top := topLevel(pattern)
	if top == "^$" || len(dirs) == 0 {
		return
	}
	re, err := regexp.Compile(top)
	if err != nil {
		t.Errorf("go test pattern %q: %v", pattern, err)
		return
	}
	def := regexp.MustCompile(`(?m)^func (` + kind + `\w*)\(`)
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range def.FindAllStringSubmatch(string(src), -1) {
				if re.MatchString(m[1]) {
					return
				}
			}
		}
	}
	var pkgs []string
	for _, dir := range dirs {
		rel, err := filepath.Rel(c.root, dir)
		if err != nil {
			rel = dir
		}
		pkgs = append(pkgs, "./"+filepath.ToSlash(rel))
	}
	t.Errorf("go test pattern %q selects no %s function of %s", pattern, kind, strings.Join(pkgs, " "))
}

// topLevel returns the part of a go test pattern before its first slash
// outside parentheses (the pattern of the top-level test or benchmark).
func topLevel(pattern string) string {
	depth := 0
	for i, r := range pattern {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case '/':
			if depth == 0 {
				return pattern[:i]
			}
		}
	}
	return pattern
}

// checkPaths checks that every file of the module a script's line names
// exists: a relative path whose first element is a file or folder at the
// module's top (outputs under out/, build/ and runs/ aside), or under
// ../shared where that exists. A path followed by ":SUFFIX" (cadps
// paired's FOLDER:METHOD) names the path.
func (c *docChecker) checkPaths(t *testing.T, words []string) {
	t.Helper()
	for _, w := range words {
		if i := strings.LastIndex(w, "="); i >= 0 {
			w = w[i+1:]
		}
		w = strings.TrimPrefix(w, "./")
		if !strings.Contains(w, "/") || strings.ContainsAny(w, "$*?~{}<>") || filepath.IsAbs(w) || strings.HasSuffix(w, "/...") {
			continue
		}
		first, _, _ := strings.Cut(w, "/")
		switch first {
		case "out", "build", "runs", ".":
			continue
		case "..":
			if _, err := os.Stat(filepath.Join(c.root, "..", "shared")); err != nil || !strings.HasPrefix(w, "../shared/") {
				continue
			}
		default:
			if _, err := os.Stat(filepath.Join(c.root, first)); err != nil {
				continue
			}
		}
		if _, err := os.Stat(filepath.Join(c.root, w)); err != nil {
			if path, _, ok := strings.Cut(w, ":"); ok {
				if _, err := os.Stat(filepath.Join(c.root, path)); err == nil {
					continue
				}
			}
			t.Errorf("the block names %s, which does not exist", w)
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

// definesFlag asks cadps whether subcommand sub (its words) has flag
// -name, for commands whose -h text does not list their flags: given an
// impossible value, an unknown flag fails with "flag provided but not
// defined".
func definesFlag(bin string, sub []string, name string) bool {
	args := append(slices.Clone(sub), "-"+name+"=\x01not a value", "/nonexistent/a.png", "/nonexistent/b.png")
	out, _ := exec.Command(filepath.Join(bin, "cadps"), args...).CombinedOutput()
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
