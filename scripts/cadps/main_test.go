package main

import "testing"

func TestArguments(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{{0, "0 arguments"}, {1, "1 argument"}, {3, "3 arguments"}} {
		if got := arguments(c.n); got != c.want {
			t.Errorf("arguments(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
