package specs

import (
	"reflect"
	"testing"
)

func TestParams(t *testing.T) {
	for _, c := range []struct {
		text string
		want []Param
	}{
		{"", nil},
		{"  \t", nil},
		{"factor=2", []Param{{"factor=2", "factor", "2", true}}},
		{" kernel = box , factor=4 ", []Param{{" kernel = box ", "kernel", "box", true}, {" factor=4 ", "factor", "4", true}}},
		{"a=1,,b", []Param{{"a=1", "a", "1", true}, {"", "", "", false}, {"b", "b", "", false}}},
		{"k=,=v,k=1=2", []Param{{"k=", "k", "", true}, {"=v", "", "v", true}, {"k=1=2", "k", "1=2", true}}},
		{"a=1,a=2", []Param{{"a=1", "a", "1", true}, {"a=2", "a", "2", true}}},
	} {
		if got := Params(c.text); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Params(%q) = %+v, want %+v", c.text, got, c.want)
		}
	}
}

func TestCanonical(t *testing.T) {
	for _, c := range []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"sr", nil, "sr"},
		{"sr", map[string]any{}, "sr"},
		{"sr", map[string]any{"kernel": "box", "factor": "2"}, "sr:factor=2,kernel=box"},
		{"gaussian_blur", map[string]any{"sigma": 3.5, "kernel_size": 61}, "gaussian_blur:kernel_size=61,sigma=3.5"},
		{"x", map[string]any{"b": "", "a": "1=2", "B": "c"}, "x:B=c,a=1=2,b="},
	} {
		if got := Canonical(c.name, c.params); got != c.want {
			t.Errorf("Canonical(%q, %v) = %q, want %q", c.name, c.params, got, c.want)
		}
	}
}
