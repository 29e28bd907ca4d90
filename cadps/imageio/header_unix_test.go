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

// TestLoadPipe checks that Load reads a whole PNG from a named pipe,
// whose length is not known before it is read.
func TestLoadPipe(t *testing.T) {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 300, 200))); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "pipe.png")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("no named pipe: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- os.WriteFile(p, b.Bytes(), 0) }()
	im, err := Load(p)
	if err != nil || im.H != 200 || im.W != 300 {
		t.Errorf("Load = %v, %v; want a 300×200 image", im, err)
	}
	if err := <-done; err != nil {
		t.Errorf("writing the pipe: %v", err)
	}
}

// TestReadHeaderPipe checks that ReadHeader reads a PNG from a named pipe,
// whose length is not known before it is read.
func TestReadHeaderPipe(t *testing.T) {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 300, 200))); err != nil {
		t.Fatal(err)
	}
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
	h, err := ReadHeader(p)
	if err != nil || h != (Header{"PNG", 300, 200}) {
		t.Errorf("ReadHeader = %+v, %v; want a 300×200 PNG", h, err)
	}
	if err := <-done; err != nil {
		t.Logf("writing the pipe: %v", err) // ReadHeader may close it before all is written
	}
}
