package filehash

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestSHA256 checks the digest against known values, across reads of
// every size, and that a read error is returned as it is.
func TestSHA256(t *testing.T) {
	readErr := errors.New("read failed")
	for _, tc := range []struct {
		name string
		r    io.Reader
		want string
		err  error
	}{
		{"empty", strings.NewReader(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", nil},
		{"abc", strings.NewReader("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", nil},
		{"abc one byte at a time", iotest.OneByteReader(strings.NewReader("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", nil},
		{"a million a", strings.NewReader(strings.Repeat("a", 1_000_000)), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", nil},
		{"read error", io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(readErr)), "", readErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SHA256(tc.r)
			if got != tc.want || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Errorf("SHA256 = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}
