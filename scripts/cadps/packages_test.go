package main

import (
	"os"
	"os/exec"
	"regexp"
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
