package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestPackageTable checks README.md's table of packages against the
// module's import graph: every package it names exists, and each package
// and its own test files import only packages of earlier rows or named
// before it on its own row
// (a package not named is counted with the longest named path above it,
// cadps/metrics/internal/cnn with cadps/metrics; internal/ helpers named
// nowhere are left out).
func TestPackageTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "## The packages")
	if start < 0 {
		t.Fatal(`README.md has no "## The packages" section`)
	}
	section := text[start+len("## The packages"):]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	type place struct{ row, pos int }
	named := map[string]place{}
	row := 0
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cell := strings.Split(line, "|")[1]
		for pos, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cell, -1) {
			named[strings.TrimSuffix(m[1], "/")] = place{row, pos}
		}
		row++
	}
	if len(named) == 0 {
		t.Fatal("the table names no package")
	}

	const module = "github.com/cadps/toolkit/"
	// A package's own test files (TestImports) are held to the same order;
	// external test packages (package p_test) may import anything.
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}}`, "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	// entry returns the named path that counts for package p: p itself or
	// the longest named path above it.
	entry := func(p string) (string, bool) {
		best := ""
		for n := range named {
			if (p == n || strings.HasPrefix(p, n+"/")) && len(n) > len(best) {
				best = n
			}
		}
		return best, best != ""
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		from, ok := entry(pkg)
		if !ok {
			continue
		}
		seen[from] = true
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to, ok := entry(strings.TrimPrefix(imp, module))
			if !ok || to == from {
				continue
			}
			a, b := named[from], named[to]
			if b.row > a.row || b.row == a.row && b.pos > a.pos {
				t.Errorf("%s (listed as %s) imports %s, which README.md's table of packages lists after it", pkg, from, strings.TrimPrefix(imp, module))
			}
		}
	}
	for n := range named {
		if !seen[n] && n != "notebooks" {
			if _, err := os.Stat("../../" + n); err != nil {
				t.Errorf("README.md's table of packages names %s, which does not exist", n)
			}
		}
	}
}

// TestEveryCommandDocumented checks that docs/cli.md, which README.md
// calls the reference of every command, has a section for each one.
func TestEveryCommandDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commands() {
		if !regexp.MustCompile("(?m)^## `cadps " + regexp.QuoteMeta(c.name) + "[` ]").Match(doc) {
			t.Errorf("docs/cli.md has no section \"## `cadps %s …`\"", c.name)
		}
	}
}

// commandFlags returns the flags `cadps NAME -h` lists, each with its
// default as -h prints it ("" when it prints none).
func commandFlags(t *testing.T, c command) map[string]string {
	t.Helper()
	var help bytes.Buffer
	if err := c.run([]string{"-h"}, io.Discard, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("cadps %s -h: %v", c.name, err)
	}
	flags := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  -(\S+)[^\n]*\n\s+([^\n]*)$`).FindAllStringSubmatch(help.String(), -1) {
		def := ""
		if d := regexp.MustCompile(`\(default "?(.*?)"?\)$`).FindStringSubmatch(m[2]); d != nil {
			def = d[1]
		}
		flags[m[1]] = def
	}
	if len(flags) == 0 {
		t.Fatalf("cadps %s -h lists no flags:\n%s", c.name, help.String())
	}
	return flags
}

// cliSections returns docs/cli.md's "## " sections by title.
func cliSections(t *testing.T) map[string]string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	for _, s := range strings.Split(string(doc), "\n## ")[1:] {
		title, _, _ := strings.Cut(s, "\n")
		sections[title] = s
	}
	return sections
}

// commandSection returns the section of docs/cli.md on cadps NAME.
func commandSection(t *testing.T, sections map[string]string, name string) string {
	t.Helper()
	for title, s := range sections {
		if strings.HasPrefix(title, "`cadps "+name+"`") || strings.HasPrefix(title, "`cadps "+name+" ") {
			return s
		}
	}
	t.Fatalf("docs/cli.md has no section on cadps %s", name)
	return ""
}

// namesFlag reports whether text names the flag -name (or --name).
func namesFlag(text, name string) bool {
	return regexp.MustCompile(`(^|[^\w-])--?` + regexp.QuoteMeta(name) + `($|[^\w-])`).MatchString(text)
}

// TestFlagsDocumented checks every command's flags against docs/cli.md:
// each flag `cadps NAME -h` lists (and `cadps gmm bench -h` and `cadps gmm
// table -h`, in the section on gmm) is named in the command's section, or
// in "Choosing the prior", which describes the model and step flags the
// sampling commands share. A command whose section describes flags as
// restore's ("as `restore`", "those of `restore`") states, beside each
// flag that restore has too with another default, its own default: trace
// runs -method dps where restore runs cadps.
func TestFlagsDocumented(t *testing.T) {
	sections := cliSections(t)
	shared := sections["Choosing the prior"]
	if shared == "" {
		t.Fatal(`docs/cli.md has no section "Choosing the prior"`)
	}
	restoreFlags := commandFlags(t, restoreCommand())
	cmds := append(commands(),
		command{name: "gmm bench", run: func(args []string, stdout, stderr io.Writer) error {
			return runGMM(append([]string{"bench"}, args...), stdout, stderr)
		}},
		command{name: "gmm table", run: func(args []string, stdout, stderr io.Writer) error {
			return runGMM(append([]string{"table"}, args...), stdout, stderr)
		}})
	for _, c := range cmds {
		name, _, _ := strings.Cut(c.name, " ") // a sub-subcommand is in its command's section
		section := commandSection(t, sections, name)
		flags := commandFlags(t, c)
		for name := range flags {
			if !namesFlag(section, name) && !namesFlag(shared, name) {
				t.Errorf("docs/cli.md: the section on cadps %s does not name its flag -%s", c.name, name)
			}
		}
		if c.name == "restore" || !strings.Contains(section, "`restore`") {
			continue
		}
		// Table rows and paragraphs, not examples: where a flag and its
		// default are stated together.
		prose := regexp.MustCompile("(?s)```.*?```").ReplaceAllString(section, "")
		var parts []string
		for _, p := range strings.Split(prose, "\n\n") {
			parts = append(parts, strings.Split(p, "\n|")...)
		}
		zero := func(v string) bool { return v == "" || v == "0" || v == "false" } // -h leaves these out, mostly
		for name, def := range flags {
			rdef, ok := restoreFlags[name]
			if !ok || rdef == def || zero(def) {
				continue
			}
			value := regexp.MustCompile(`(^|[^\w:=.-])` + regexp.QuoteMeta(def) + `($|[^\w:=.-])`)
			if !slices.ContainsFunc(parts, func(p string) bool { return namesFlag(p, name) && value.MatchString(p) }) {
				t.Errorf("docs/cli.md: the section on cadps %s does not give -%s's default %q (restore's is %q) beside it", c.name, name, def, rdef)
			}
		}
	}
}
