package fid_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/metrics/fid"
)

// TestStatsRoundTrip writes statistics and reads them back, with the
// weights' digest and without it (as pytorch-fid's files are); a digest
// of another form is refused.
func TestStatsRoundTrip(t *testing.T) {
	s, err := fid.Statistics([][]float32{{1, 2, 3}, {2, 0, 1}, {0.5, 7, -1}})
	if err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("0123456789abcdef", 4)
	for _, tc := range []struct {
		name, weights, wantErr string
	}{
		{"without weights", "", ""},
		{"with weights", digest, ""},
		{"bad digest", "sha256:" + digest[7:70], `is not "sha256:" and 64 hex digits`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "stats.npz")
			s.Weights = tc.weights
			err := fid.WriteStats(path, s)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("WriteStats: %v, want an error containing %q", err, tc.wantErr)
				}
				if _, err := os.Stat(path); !os.IsNotExist(err) {
					t.Errorf("a refused write left %s (%v)", path, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			back, err := fid.ReadStats(path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(back.Mu, s.Mu) || !slices.Equal(back.Sigma, s.Sigma) || back.Weights != tc.weights {
				t.Fatalf("read back %v %v %q, wrote %v %v %q", back.Mu, back.Sigma, back.Weights, s.Mu, s.Sigma, tc.weights)
			}
		})
	}
}

// TestStatsNumpy checks that numpy reads what WriteStats writes and that
// ReadStats reads what numpy writes (np.savez and np.savez_compressed,
// float32 and Fortran order included); it skips when numpy is missing.
func TestStatsNumpy(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := exec.LookPath(py); err != nil || exec.Command(py, "-c", "import numpy").Run() != nil {
		t.Skip("python3 with numpy is not installed")
	}
	dir := t.TempDir()
	digest := "sha256:" + strings.Repeat("0123456789abcdef", 4)
	s := &fid.Stats{Mu: []float64{0.25, -1.5}, Sigma: []float64{2, 0.5, 0.5, 3}, Weights: digest}
	ours := filepath.Join(dir, "ours.npz")
	if err := fid.WriteStats(ours, s); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, numpy as np
f = np.load(sys.argv[1])
assert f["mu"].dtype == np.float64 and f["mu"].shape == (2,), f["mu"]
assert (f["mu"] == [0.25, -1.5]).all() and (f["sigma"] == [[2, 0.5], [0.5, 3]]).all()
assert f["weights_sha256"][()] == sys.argv[3].encode(), f["weights_sha256"]
mu, sigma = np.array([1.0, 2.0, 3.0]), np.arange(9.0).reshape(3, 3) / 7
np.savez_compressed(sys.argv[2] + "/c.npz", mu=mu, sigma=sigma)
np.savez(sys.argv[2] + "/f32.npz", mu=mu.astype(np.float32), sigma=np.asfortranarray(sigma.astype(np.float32)))
np.savez(sys.argv[2] + "/bad.npz", mu=mu, sigma=np.eye(4))
`
	if out, err := exec.Command(py, "-c", script, ours, dir, digest).CombinedOutput(); err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	for _, name := range []string{"c.npz", "f32.npz"} {
		got, err := fid.ReadStats(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got.Weights != "" {
			t.Errorf("%s: weights %q from a file without them", name, got.Weights)
		}
		if !slices.Equal(got.Mu, []float64{1, 2, 3}) || got.Sigma[1] != float64(float32(1.0/7)) && got.Sigma[1] != 1.0/7 || got.Sigma[3] != float64(float32(3.0/7)) && got.Sigma[3] != 3.0/7 {
			t.Errorf("%s: mu %v sigma %v", name, got.Mu, got.Sigma)
		}
	}
	if _, err := fid.ReadStats(filepath.Join(dir, "bad.npz")); err == nil || !strings.Contains(err.Error(), "mu has shape [3] and sigma [4 4]") {
		t.Errorf("mismatched shapes: error %v", err)
	}
}

func TestReadStatsErrors(t *testing.T) {
	dir := t.TempDir()
	notZip := filepath.Join(dir, "a.npz")
	os.WriteFile(notZip, []byte("hello"), 0o644)
	noSigma := filepath.Join(dir, "b.npz")
	f, _ := os.Create(noSigma)
	zw := zip.NewWriter(f)
	w, _ := zw.Create("mu.npy")
	w.Write([]byte("\x93NUMPY\x01\x00"))
	zw.Close()
	f.Close()
	for path, want := range map[string]string{notZip: "not an .npz file", noSigma: `no array "sigma"`, filepath.Join(dir, "none.npz"): "no such file"} {
		if _, err := fid.ReadStats(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", filepath.Base(path), err, want)
		}
	}
}

// TestReadStatsDuplicate checks that an .npz with two entries of one
// name is refused, naming it, rather than read with the later one.
func TestReadStatsDuplicate(t *testing.T) {
	dir := t.TempDir()
	sigma := [2]any{"sigma.npy", npyF8("2, 2", make([]byte, 32))}
	path := writeNpz(t, dir, "dup.npz", zip.Store, [2]any{"mu.npy", npyF8("2,", make([]byte, 16))}, sigma, sigma)
	want := path + ` has two entries named "sigma.npy"`
	if _, err := fid.ReadStats(path); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want one containing %q", err, want)
	}
}

// TestBadStatsRefused checks that statistics no set of feature vectors can
// have are refused by name, both when read from a file and when passed to
// FrechetDistance.
func TestBadStatsRefused(t *testing.T) {
	good := &fid.Stats{Mu: []float64{0, 1}, Sigma: []float64{1, 0.5, 0.5, 2}}
	nan := math.NaN()
	for _, tc := range []struct {
		name  string
		stats *fid.Stats
		want  string
	}{
		{"NaN mean", &fid.Stats{Mu: []float64{0, nan}, Sigma: good.Sigma}, "mu[1] is NaN"},
		{"infinite covariance", &fid.Stats{Mu: good.Mu, Sigma: []float64{1, math.Inf(1), 0.5, 2}}, "sigma[0,1] is +Inf"},
		{"negative variance", &fid.Stats{Mu: good.Mu, Sigma: []float64{1, 0, 0, -1}}, "sigma[1,1] = -1 is a negative variance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.npz")
			if err := fid.WriteStats(path, tc.stats); err != nil {
				t.Fatal(err)
			}
			if _, err := fid.ReadStats(path); err == nil || !strings.Contains(err.Error(), "bad.npz: "+tc.want) {
				t.Errorf("ReadStats: error %v, want one containing %q", err, tc.want)
			}
			if _, err := fid.FrechetDistance(good, tc.stats); err == nil || !strings.Contains(err.Error(), "the second statistics: "+tc.want) {
				t.Errorf("FrechetDistance: error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// npyF8 encodes a little-endian float64 .npy array of the given shape
// tuple ("2," or "2, 2") whose data is data, as numpy writes it.
func npyF8(shape string, data []byte) []byte {
	header := fmt.Sprintf("{'descr': '<f8', 'fortran_order': False, 'shape': (%s), }", shape)
	header += strings.Repeat(" ", (64-(10+len(header)+1)%64)%64) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(header)), byte(len(header)>>8))
	return append(append(b, header...), data...)
}

// writeNpz writes the named arrays, in order, to the .npz file dir/name,
// compressed or stored, and returns its path.
func writeNpz(t *testing.T, dir, name string, method uint16, arrays ...[2]any) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, a := range arrays {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: a[0].(string), Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(a[1].([]byte)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReadStatsClaimsMore checks that an array larger than its mu allows
// (sigma, of D×D floats) or than a digest takes (weights_sha256) is
// refused, by name, before its bytes are decompressed: 64 MiB of zeros
// fit in a 64 KiB file.
func TestReadStatsClaimsMore(t *testing.T) {
	dir := t.TempDir()
	mu := [2]any{"mu.npy", npyF8("2,", make([]byte, 16))}
	sigma := [2]any{"sigma.npy", npyF8("2, 2", make([]byte, 32))}
	zeros := make([]byte, 64<<20)
	for _, tc := range []struct {
		name string
		path string
		want string
	}{
		{"sigma larger than mu allows", writeNpz(t, dir, "big-sigma.npz", zip.Deflate, mu, [2]any{"sigma.npy", npyF8("2, 4194304", zeros)}),
			"array sigma claims 67108992 bytes, more than a 2×2 float array takes with its header"},
		{"a huge digest", writeNpz(t, dir, "big-digest.npz", zip.Deflate, mu, sigma, [2]any{"weights_sha256.npy", zeros}),
			"array weights_sha256 claims 67108864 bytes, more than a weights digest takes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := fid.ReadStats(tc.path)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tc.path+": "+tc.want) {
				t.Errorf("ReadStats: %v, want an error containing %q", err, tc.want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
				t.Errorf("ReadStats allocated %d MiB before refusing the file", alloc>>20)
			}
		})
	}
}

// TestReadStatsDamaged checks that a statistics file cut short or with a
// flipped byte is said to be damaged, by name.
func TestReadStatsDamaged(t *testing.T) {
	dir := t.TempDir()
	sigmaData := make([]byte, 32)
	sigmaData[0] = 0x40 // 2.0, so that the flipped byte is found
	good := writeNpz(t, dir, "good.npz", zip.Store, [2]any{"mu.npy", npyF8("2,", make([]byte, 16))}, [2]any{"sigma.npy", npyF8("2, 2", sigmaData)})
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fid.ReadStats(good); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(b)
	flipped[bytes.LastIndex(flipped, sigmaData)] ^= 0x01
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"cut in half", b[:len(b)/2], "truncated download?"},
		{"cut before its end record", b[:len(b)-10], "truncated download?"},
		{"a flipped byte", flipped, "reading sigma (a truncated or damaged file?): zip: checksum error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".npz")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := fid.ReadStats(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadStats: %v, want an error naming the file and containing %q", err, tc.want)
			}
		})
	}
}
