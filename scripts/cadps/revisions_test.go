package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/guidance"
)

// TestRevisionsDocumented checks docs/cli.md's list of method revisions
// ("`ddrm` at 2 (…)", "every other method at 0") against
// guidance.Revision of every toolkit method.
func TestRevisionsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(doc)), " ")
	start := strings.Index(text, "`method_revisions`")
	end := strings.Index(text[max(start, 0):], "every other method at 0")
	if start < 0 || end < 0 {
		t.Fatal("docs/cli.md: no list of method revisions from `method_revisions` to \"every other method at 0\"")
	}
	listed := map[string]int{}
	for _, m := range regexp.MustCompile("`([a-z-]+)` (?:is )?at (?:revision )?(\\d+)").FindAllStringSubmatch(text[start:start+end], -1) {
		listed[m[1]], _ = strconv.Atoi(m[2])
	}
	for _, name := range guidance.Names() {
		m, err := guidance.New(name, guidance.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := listed[name], guidance.Revision(m); got != want {
			t.Errorf("docs/cli.md lists %s at revision %d, guidance.Revision says %d", name, got, want)
		}
	}
}
