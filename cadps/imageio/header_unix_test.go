//go:build unix

package imageio

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestPipe checks that Load reads a whole PNG, and ReadHeader its header,
// from a named pipe, whose length is not known before it is read.
func TestPipe(t *testing.T) {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 300, 200))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		read       func(path string) (Header, error)
		readsWhole bool // the writer must finish; ReadHeader may close the pipe first
	}{
		{"Load", func(p string) (Header, error) {
			im, err := Load(p)
			if err != nil {
				return Header{}, err
			}
			return Header{"PNG", im.W, im.H}, nil
		}, true},
		{"ReadHeader", ReadHeader, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "pipe.png")
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Skipf("no named pipe: %v", err)
			}
			done := make(chan error, 1)
			go func() {
				f, err := os.OpenFile(p, os.O_WRONLY, 0)
				if err != nil {
					done <- err
					return
				}
				_, err = f.Write(b.Bytes())
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				done <- err
			}()
			h, err := tc.read(p)
			if err != nil || h != (Header{"PNG", 300, 200}) {
				t.Errorf("%s = %+v, %v; want a 300×200 PNG", tc.name, h, err)
			}
			if err := <-done; err != nil && tc.readsWhole {
				t.Errorf("writing the pipe: %v", err)
			}
		})
	}
}
