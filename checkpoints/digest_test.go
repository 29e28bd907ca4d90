package checkpoints_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadps/toolkit/checkpoints"
)

// TestDigest checks files named as torch.hub names downloads
// (NAME-HASH.EXT) against the start of their SHA-256: a PyTorch file whose
// digest does not start with HASH is refused, naming the file, HASH and
// the digest; names without such a hash, hashes shorter than 8 digits and
// safetensors files are not checked.
func TestDigest(t *testing.T) {
	dir := t.TempDir()
	torch, err := os.ReadFile(filepath.Join("testdata", "legacy_protocol2.pt"))
	if err != nil {
		t.Fatal(err)
	}
	sd := checkpoints.NewStateDict("x")
	if err := sd.Add(&checkpoints.Tensor{Name: "w", DType: checkpoints.F32, Shape: []int{1}, Data: make([]byte, 4)}); err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(dir, "st.safetensors")
	if err := checkpoints.SaveSafetensors(st, sd); err != nil {
		t.Fatal(err)
	}
	safetensors, err := os.ReadFile(st)
	if err != nil {
		t.Fatal(err)
	}
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	torchSum := sum(torch)
	for _, tc := range []struct {
		name, file string
		data       []byte
		wantErr    string
	}{
		{"matching hash", "net-" + torchSum[:8] + ".pth", torch, ""},
		{"whole digest", "net-" + torchSum + ".pt", torch, ""},
		{"hash after other dashes", "pt_inception-2015-12-05-" + torchSum[:10] + ".pth", torch, ""},
		{"wrong hash", "pt_inception-2015-12-05-6726825d.pth", torch,
			"pt_inception-2015-12-05-6726825d.pth: its name says its SHA-256 starts with 6726825d, but it is " + torchSum},
		{"truncated", "net-" + torchSum[:8] + ".pth", torch[:len(torch)/2], "its name says its SHA-256 starts with " + torchSum[:8]},
		{"no hash", "inception.pth", torch, ""},
		{"short hash", "net-6726.pth", torch, ""},
		{"not hex", "alexnet-owt.pth", torch, ""},
		{"upper case", "net-6726825D.pth", torch, ""},
		{"safetensors under a hub name", "alexnet-owt-7be5be79.pth", safetensors, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name, tc.file)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := checkpoints.Digest(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Digest: %q, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if want := "sha256:" + sum(tc.data); err != nil || got != want {
				t.Fatalf("Digest: %q, %v; want %q", got, err, want)
			}
		})
	}
}
