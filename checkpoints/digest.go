package checkpoints

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/cadps/toolkit/internal/filehash"
)

// Digest returns the SHA-256 of the file at path as "sha256:" and 64 hex
// digits, and checks the file against its name when the name has the form
// torch.hub gives downloads, NAME-HASH.EXT: HASH, 8 to 64 lower-case hex
// digits after the name's last '-' (6726825d in
// pt_inception-2015-12-05-6726825d.pth), must start the file's SHA-256,
// as torch.hub's check_hash requires. A file whose digest does not start
// with HASH (a truncated or damaged download) is an error naming the file,
// HASH and the digest. A safetensors file is not checked whatever its
// name: it is a conversion, not the PyTorch file the name's hash describes.
func Digest(path string) (string, error) {
	f, size, err := openRegular(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum, err := filehash.SHA256(f)
	if err != nil {
		return "", fmt.Errorf("checkpoints: hashing %s: %w", path, err)
	}
	prefix := hubHash(filepath.Base(path))
	if prefix == "" || strings.HasPrefix(sum, prefix) {
		return "sha256:" + sum, nil
	}
	head := make([]byte, min(size, 32))
	if _, err := f.ReadAt(head, 0); err != nil && err != io.EOF {
		return "", fmt.Errorf("checkpoints: reading %s: %w", path, err)
	}
	if plausibleSafetensors(head, size) {
		return "sha256:" + sum, nil
	}
	return "", fmt.Errorf("checkpoints: %s: its name says its SHA-256 starts with %s, but it is %s (%d bytes): a truncated or damaged download? download it again (or, if that part of the name is no hash, rename the file)",
		path, prefix, sum, size)
}

// hubHash returns the HASH of a file name NAME-HASH.EXT (8 to 64
// lower-case hex digits after the last '-', up to the next '.'), or "".
func hubHash(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return ""
	}
	hash, _, ok := strings.Cut(name[i+1:], ".")
	if !ok || len(hash) < 8 || len(hash) > 64 {
		return ""
	}
	for _, c := range hash {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return ""
		}
	}
	return hash
}
