package jsondiff

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestFirst(t *testing.T) {
	cases := []struct {
		a, b, want string
	}{
		{`{"a":1,"b":2}`, `{"b":3,"a":1}`, `b: was 2, now 3`},
		{`{"runs":[{"m":"x"},{"m":"y"}]}`, `{"runs":[{"m":"x"},{"m":"z"}]}`, `runs[1].m: was "y", now "z"`},
		{`{"runs":[{"m":"x","r":2}]}`, `{"runs":[{"m":"x"}]}`, `runs[0].r: was 2, now absent`},
		{`{"a":1}`, `{"a":1,"b":[1,2]}`, `b: was absent, now 2 entries`},
		{`{"l":[1,2]}`, `{"l":[1,2,3]}`, `l: was 2 entries, now 3 entries`},
		{`{"s":"` + strings.Repeat("é", 100) + `"}`, `{"s":""}`, `s: was "` + strings.Repeat("é", 76) + `..., now ""`},
		{`{"s":"` + strings.Repeat("é", 100) + `"}`, `{"s":"` + strings.Repeat("é", 99) + `"}`,
			`s: was "…` + strings.Repeat("é", 16) + `é", now "…` + strings.Repeat("é", 16) + `"`},
		// Long strings that differ after the shown part show the part
		// that differs, after context characters of their common start.
		{`{"lpips":"alex: backbone my-finetuned-alexnet-backbone.safetensors sha256 0123456789abcdef, linear layers v0.1 (shipped)"}`,
			`{"lpips":"alex: backbone my-finetuned-alexnet-backbone.safetensors sha256 fedcba9876543210, linear layers v0.1 (shipped)"}`,
			`lpips: was "…etensors sha256 0123456789abcdef, linear layers v0.1 (shipped)", now "…etensors sha256 fedcba9876543210, linear layers v0.1 (shipped)"`},
		{`{"s":"` + strings.Repeat("a", 200) + `x` + strings.Repeat("b", 100) + `"}`, `{"s":"` + strings.Repeat("a", 200) + `y"}`,
			`s: was "…` + strings.Repeat("a", 16) + `x` + strings.Repeat("b", 58) + `..., now "…` + strings.Repeat("a", 16) + `y"`},
		{`1`, `2`, `the document: was 1, now 2`},
		{`{"a":[1,{"b":null}]}`, `{"a":[1,{"b":null}]}`, `they differ`},
	}
	for _, c := range cases {
		var a, b any
		if err := json.Unmarshal([]byte(c.a), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(c.b), &b); err != nil {
			t.Fatal(err)
		}
		if got := First(a, b); got != c.want {
			t.Errorf("First(%s, %s) = %s, want %s", c.a, c.b, got, c.want)
		}
	}
}
