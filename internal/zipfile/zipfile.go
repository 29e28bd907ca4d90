// Package zipfile opens zip archives that users download (PyTorch
// checkpoints, numpy .npz files), saying when one is cut short.
package zipfile

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
)

// localHeader starts every zip archive that holds a file: the signature
// of its first entry's local header.
const localHeader = "PK\x03\x04"

// NewReader is zip.NewReader, except that when the archive's directory,
// which zip keeps at the end of the file, cannot be read although the file
// starts as a zip archive, the error says that the file is truncated or
// damaged. Such an error still wraps zip.ErrFormat. As with zip.NewReader,
// an error wrapping zip.ErrInsecurePath comes with a usable reader.
func NewReader(r io.ReaderAt, size int64) (*zip.Reader, error) {
	zr, err := zip.NewReader(r, size)
	if err == nil || !errors.Is(err, zip.ErrFormat) {
		return zr, err
	}
	var head [len(localHeader)]byte
	if _, herr := r.ReadAt(head[:], 0); herr == nil && string(head[:]) == localHeader {
		return nil, fmt.Errorf("%w (the file starts as a zip archive but its end is missing or damaged: a truncated download? compare its size with the original's)", err)
	}
	return nil, err
}
