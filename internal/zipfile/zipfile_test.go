package zipfile_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/cadps/toolkit/internal/zipfile"
)

// TestNewReader checks that an archive cut short or damaged at its end is
// said to be truncated, and that other bytes are only not a zip archive.
func TestNewReader(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("a.txt")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hello, world"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	damaged := bytes.Clone(good)
	copy(damaged[bytes.LastIndex(damaged, []byte("PK\x05\x06")):], "XXXX")
	for _, tc := range []struct {
		name      string
		data      []byte
		truncated bool // the error says the file is cut short
		ok        bool
	}{
		{"whole", good, false, true},
		{"cut in half", good[:len(good)/2], true, false},
		{"cut before its last byte", good[:len(good)-1], true, false},
		{"end record damaged", damaged, true, false},
		{"not a zip archive", []byte("GIF89a, not an archive at all"), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zr, err := zipfile.NewReader(bytes.NewReader(tc.data), int64(len(tc.data)))
			if tc.ok {
				if err != nil || len(zr.File) != 1 {
					t.Fatalf("NewReader: %v", err)
				}
				return
			}
			if !errors.Is(err, zip.ErrFormat) {
				t.Fatalf("error %v does not wrap zip.ErrFormat", err)
			}
			if got := strings.Contains(err.Error(), "truncated download?"); got != tc.truncated {
				t.Errorf("error %q: says truncated %v, want %v", err, got, tc.truncated)
			}
		})
	}
}
