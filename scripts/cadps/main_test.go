package main

import "testing"

func TestArguments(t *testing.T) {
	for _, c := range []struct {
		pos  []string
		want string
	}{
		{nil, "0 arguments"},
		{[]string{"a.png"}, `1 argument ("a.png")`},
		{[]string{"images", "cadps"}, `2 arguments ("images", "cadps")`},
		{[]string{"a b", `c"d`, ""}, `3 arguments ("a b", "c\"d", "")`},
		{[]string{"1.png", "2.png", "3.png", "4.png", "5.png"}, `5 arguments ("1.png", "2.png", "3.png", "4.png", "5.png")`},
		{[]string{"1.png", "2.png", "3.png", "4.png", "5.png", "6.png", "7.png"}, `7 arguments ("1.png", "2.png", "3.png", "4.png", "5.png" and 2 more)`},
	} {
		if got := arguments(c.pos); got != c.want {
			t.Errorf("arguments(%q) = %q, want %q", c.pos, got, c.want)
		}
	}
}
