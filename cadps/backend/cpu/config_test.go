package cpu

import (
	"strings"
	"testing"
)

// TestNewConfig checks the backend's configuration: the options it knows
// are taken, and an unknown one, one given twice, two of one kind and a
// value for an option without one are errors naming them.
func TestNewConfig(t *testing.T) {
	for _, c := range []struct {
		config, wantErr string
	}{
		{"", ""},
		{"ops_parallel,parallelism=-1", ""},
		{" parallelism=2 , dotgeneral_large ,", ""},
		{"parallelism=2,parallelism=3", `"parallelism=2" and "parallelism=3" set the same thing`},
		{"ops_sequential,ops_parallel", `"ops_sequential" and "ops_parallel" set the same thing`},
		{"dotgeneral_small,dotgeneral_check", `"dotgeneral_small" and "dotgeneral_check" set the same thing`},
		{"ops_parallel=1", `option "ops_parallel" takes no value`},
		{"parallelism=two", "needs an int"},
		{"paralelism=2", `unknown configuration option "paralelism"`},
		{"=2", `unknown configuration option ""`},
	} {
		b, err := New(c.config)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("New(%q): %v", c.config, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("New(%q): error %v, want one saying %s", c.config, err, c.wantErr)
		}
		if err == nil {
			b.Finalize()
		}
	}
}
