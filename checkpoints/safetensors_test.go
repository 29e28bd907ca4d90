package checkpoints_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadps/toolkit/checkpoints"
)

// TestSafetensorsRoundTrip writes state dicts and reads them back.
func TestSafetensorsRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		tensors  []*checkpoints.Tensor
		metadata map[string]string
	}{
		{"empty", nil, nil},
		{"metadata only", nil, map[string]string{"format": "pt"}},
		{"mixed", []*checkpoints.Tensor{
			checkpoints.FromFloat32("z.last.weight", []int{2, 3}, seq(6)),
			{Name: "a.scalar", DType: checkpoints.F64, Shape: []int{}, Data: make([]byte, 8)},
			{Name: "m.empty", DType: checkpoints.F32, Shape: []int{0, 3}, Data: []byte{}},
			{Name: "h", DType: checkpoints.F16, Shape: []int{3}, Data: []byte{0, 0x3c, 0, 0x40, 0, 0xc0}},
			{Name: "ids<&>", DType: checkpoints.I64, Shape: []int{1}, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
			{Name: "u", DType: checkpoints.U8, Shape: []int{3}, Data: []byte{1, 2, 3}},
		}, map[string]string{"format": "pt", "source": "x.pt"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sd := checkpoints.NewStateDict("mem")
			sd.Metadata = tc.metadata
			for _, x := range tc.tensors {
				if err := sd.Add(x); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(t.TempDir(), "out.safetensors")
			if err := checkpoints.SaveSafetensors(path, sd); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if n := binary.LittleEndian.Uint64(raw); (8+n)%8 != 0 {
				t.Errorf("data section starts at %d, not 8-aligned", 8+n)
			}
			got, err := checkpoints.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			sameStateDict(t, got, sd)
			if len(got.Metadata) != len(tc.metadata) {
				t.Errorf("metadata %v, want %v", got.Metadata, tc.metadata)
			}
			for k, v := range tc.metadata {
				if got.Metadata[k] != v {
					t.Errorf("metadata %q = %q, want %q", k, got.Metadata[k], v)
				}
			}
			if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
				t.Errorf("mode %v, %v; want 0644", st.Mode(), err)
			}
		})
	}
}

// TestWriteSafetensorsRefusesBadTensor checks a tensor whose bytes do not
// match its shape is refused, not written.
func TestWriteSafetensorsRefusesBadTensor(t *testing.T) {
	sd := checkpoints.NewStateDict("mem")
	if err := sd.Add(&checkpoints.Tensor{Name: "w", DType: checkpoints.F32, Shape: []int{3}, Data: make([]byte, 8)}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err := checkpoints.WriteSafetensors(&buf, sd)
	if err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Fatalf("error %v, want one naming tensor w", err)
	}
}

// TestNilStateDict checks that a nil state dict, and a name of Names
// without a tensor, are errors naming the problem where they panicked,
// and that SaveSafetensors then leaves no file, not even its temporary
// one, in the folder.
func TestNilStateDict(t *testing.T) {
	listed := checkpoints.NewStateDict("mem")
	listed.Names = []string{"w"}
	for _, tc := range []struct {
		name string
		call func(path string) error
		want string
	}{
		{"Match", func(string) error { return checkpoints.Match(nil, []checkpoints.Spec{{Name: "w"}}, "tiny") }, "no state dict to match against config tiny (nil)"},
		{"WriteSafetensors", func(string) error { return checkpoints.WriteSafetensors(io.Discard, nil) }, "no state dict to write (nil)"},
		{"SaveSafetensors", func(path string) error { return checkpoints.SaveSafetensors(path, nil) }, "no state dict (nil)"},
		{"SaveSafetensors, a name without a tensor", func(path string) error { return checkpoints.SaveSafetensors(path, listed) },
			`mem: tensor "w" is listed in Names but has no tensor`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			err := tc.call(filepath.Join(dir, "w.safetensors"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
			if left, _ := os.ReadDir(dir); len(left) > 0 {
				t.Errorf("left %d files in the folder, first %s", len(left), left[0].Name())
			}
		})
	}
}

// safetensorsFile builds a safetensors file from a raw header and data.
func safetensorsFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

// TestSafetensorsErrors checks hostile and corrupt headers are errors that
// name the problem, including what the reference reader refuses: a name
// given twice, anything but padding after the header's JSON, and data
// that no tensor holds.
func TestSafetensorsErrors(t *testing.T) {
	data16 := make([]byte, 16)
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"too short", []byte{1, 2, 3}, "only 3 bytes"},
		{"header past the end", safetensorsFile("{}", nil)[:9], "exceeds the file"},
		{"bad JSON", safetensorsFile(`{"a":`, nil), "header JSON"},
		{"bad dtype", safetensorsFile(`{"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}`, data16), `unsupported dtype "F8"`},
		{"negative dim", safetensorsFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, data16), "impossible shape"},
		{"huge shape", safetensorsFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,16]}}`, data16), "impossible shape"},
		{"offsets past the end", safetensorsFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,1600000000000]}}`, data16), "places tensor data up to byte 1600000000000 after the header, but the file holds 16 bytes there (90 in all)"},
		{"cut short", safetensorsFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, data16)[:128],
			"up to byte 16 after the header, but the file holds 12 bytes there (128 in all): the file is truncated"},
		{"reversed offsets", safetensorsFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}`, data16), "outside"},
		{"size mismatch", safetensorsFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}`, data16), "16 bytes for shape [3]"},
		{"overlap", safetensorsFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, data16), "overlaps"},
		{"bad metadata", safetensorsFile(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
		{"a name twice", safetensorsFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, data16), `names "a" twice`},
		{"junk after the header", safetensorsFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}} junk`, data16), `the rest is not padding ("junk")`},
		{"a second object after the header", safetensorsFile(`{}{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, data16), "not padding"},
		{"header not an object", safetensorsFile(`[1, 2]`, nil), "not an object"},
		{"gap before the first tensor", safetensorsFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, data16), "starts with 8 bytes that no tensor holds"},
		{"gap between tensors", safetensorsFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, data16), `4 bytes between tensor "a" (ending at 4) and tensor "b" (starting at 8)`},
		{"bytes after the last tensor", safetensorsFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data16), "8 bytes after the last tensor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkpoints.ReadSafetensors(bytes.NewReader(tc.file), int64(len(tc.file)), "bad.safetensors")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range []string{tc.want, "bad.safetensors"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestReadMetadata reads the metadata of safetensors files with and without
// it from their headers alone (the data may be cut off), and nil for a file
// of another format.
func TestReadMetadata(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, md map[string]string) string {
		t.Helper()
		sd := checkpoints.NewStateDict(name)
		if err := sd.Add(checkpoints.FromFloat32("w", []int{1024}, make([]float32, 1024))); err != nil {
			t.Fatal(err)
		}
		sd.Metadata = md
		path := filepath.Join(dir, name)
		if err := checkpoints.SaveSafetensors(path, sd); err != nil {
			t.Fatal(err)
		}
		return path
	}
	with := write("with.safetensors", map[string]string{"format": "cadps-train", "step": "7"})
	without := write("without.safetensors", nil)
	// The header of with.safetensors and a few bytes of its data.
	data, err := os.ReadFile(with)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.safetensors")
	if err := os.WriteFile(cut, data[:8+binary.LittleEndian.Uint64(data)+16], 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "model.pt")
	if err := os.WriteFile(other, []byte("PK\x03\x04 a zip archive, as torch.save writes"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want map[string]string
	}{
		{with, map[string]string{"format": "cadps-train", "step": "7"}},
		{cut, map[string]string{"format": "cadps-train", "step": "7"}},
		{without, map[string]string{}},
		{other, nil},
	} {
		got, err := checkpoints.ReadMetadata(tc.path)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(tc.path), err)
		}
		if (got == nil) != (tc.want == nil) || len(got) != len(tc.want) {
			t.Fatalf("%s: metadata %v, want %v", filepath.Base(tc.path), got, tc.want)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", filepath.Base(tc.path), k, got[k], v)
			}
		}
	}
	if _, err := checkpoints.ReadMetadata(filepath.Join(dir, "none.safetensors")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("a missing file: error %v", err)
	}
}
