// Package filehash computes the SHA-256 digests by which the toolkit
// records which file made a result: checkpoints, weights and images.
package filehash

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
)

// SHA256 streams r (an open file, read to its end) into SHA-256 and
// returns the digest as 64 lower-case hex digits. Its error is r's read
// error as is: the caller, which opened the file, names it.
func SHA256(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
