package runs

import (
	"fmt"
	"strings"
	"testing"
)

func TestCompareSettings(t *testing.T) {
	mismatch := func(k int, old, now any) error { return fmt.Errorf("image %d was %v, now %v", k, old, now) }
	growing, prefix := GrowingList("images", mismatch), PrefixList("images", mismatch)
	doc := func(seed int, imgs ...string) map[string]any {
		m, err := Decode(struct {
			Seed   int      `json:"seed"`
			Images []string `json:"images"`
		}{seed, imgs})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		old, now map[string]any
		growth   Growth
		changed  bool
		err      string
	}{
		{"equal", doc(1, "a", "b"), doc(1, "a", "b"), growing, false, ""},
		{"grown", doc(1, "a"), doc(1, "a", "b"), growing, true, ""},
		{"shrunk", doc(1, "a", "b"), doc(1, "a"), growing, false, "image 1 was b, now <nil>"},
		{"prefix", doc(1, "a", "b"), doc(1, "a"), prefix, false, ""},
		{"prefix grown", doc(1, "a"), doc(1, "a", "b"), prefix, true, ""},
		{"changed element", doc(1, "a", "b"), doc(1, "a", "c"), prefix, false, "image 1 was b, now c"},
		{"other setting", doc(1, "a"), doc(2, "a"), prefix, false, "seed: was 1, now 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed, err := CompareSettings(tc.old, tc.now, tc.growth)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || changed != tc.changed {
				t.Fatalf("changed %v, %v; want %v", changed, err, tc.changed)
			}
		})
	}
}
