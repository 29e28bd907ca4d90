package checkpoints_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadps/toolkit/checkpoints"
)

// torchZipNoCRC is torchZip with the CRC-32 fields left at zero, which zip
// readers take as "not recorded": mutations of the pickle then reach the
// interpreter instead of failing the checksum.
func torchZipNoCRC(t testing.TB, pickle []byte, storages map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte) {
		w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Store,
			CompressedSize64: uint64(len(data)), UncompressedSize64: uint64(len(data))})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	add("archive/data.pkl", pickle)
	for _, k := range []string{"0", "1", "2"} {
		if v, ok := storages[k]; ok {
			add("archive/data/"+k, v)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkTensors fails unless every tensor's bytes fit its shape and dtype and
// the tensors together stay within limit bytes.
func checkTensors(t *testing.T, sd *checkpoints.StateDict, limit int) {
	total := 0
	for _, n := range sd.Names {
		x := sd.Tensors[n]
		if x.DType.Size() == 0 || len(x.Data) != x.NumElements()*x.DType.Size() {
			t.Fatalf("tensor %q: %d bytes for %v of %s", n, len(x.Data), x.Shape, x.DType)
		}
		total += len(x.Data)
	}
	if total > limit {
		t.Fatalf("%d tensor bytes from a %d byte limit", total, limit)
	}
}

// fuzzStorages are the storages of FuzzTorch's synthetic checkpoints.
func fuzzStorages() map[string][]byte {
	return map[string][]byte{"0": f32bytes(seq(12)...), "1": {0, 0x3c, 0, 0xc0}, "2": {1, 0, 0, 0, 0, 0, 0, 0}}
}

// FuzzTorch feeds arbitrary bytes to ReadTorch: it must return an error or
// a consistent state dict, never panic, and never produce more than twice
// the file's size in tensor bytes. An input that does not start with "PK" is
// taken as a pickle and stored as data.pkl beside fuzzStorages, so that the
// fuzzer reaches the pickle interpreter without having to keep a zip valid.
func FuzzTorch(f *testing.F) {
	storages := fuzzStorages()
	small := new(pk).proto().stateDict(
		view{name: "w", key: "0", numel: 12, size: []int64{3, 4}},
		view{name: "t", key: "0", numel: 12, offset: 1, size: []int64{2, 2}, stride: []int64{1, 6}},
		view{name: "e", key: "0", numel: 12, size: []int64{3, 2}, stride: []int64{0, 1}},
		view{name: "h", storage: "HalfStorage", key: "1", numel: 2, size: []int64{2}},
		view{name: "n", storage: "LongStorage", key: "2", numel: 1, size: []int64{}},
	).stop().b
	wrapped := new(pk).proto().op('}').mark().str("epoch").int(3).str("model").
		stateDict(view{name: "w", key: "0", numel: 12, size: []int64{12}}).op('u', '.').b
	// Objects beside the state dict that only Python could build: placeholders.
	objects := new(pk).proto().op('}').mark().str("args").global("argparse", "Namespace").op(')', 0x81, '}', 'b').
		str("tags").op(0x8f, '(').str("a").op(0x90).str("b").op('C', 1, 'x').str("big").op(0x8a, 9, 1, 0, 0, 0, 0, 0, 0, 0, 1).
		str("model").stateDict(view{name: "w", key: "0", numel: 12, size: []int64{12}}).op('u', '.').b
	// An OrderedDict made twice from one memoized list of pairs, and one
	// state dict under two keys.
	sharedList := new(pk).proto().op(']', 'q', 0).mark().str("w").op('N', 0x86, 'e').
		global("collections", "OrderedDict").op('h', 0, 0x85, 'R', '0').
		global("collections", "OrderedDict").op('h', 0, 0x85, 'R').stop().b
	twice := new(pk).proto().op('}').mark().str("model").stateDict(view{name: "w", key: "0", numel: 12, size: []int64{12}}).
		op('q', 1).str("ema").op('h', 1, 'u', '.').b
	for _, seed := range [][]byte{small, wrapped, objects, sharedList, twice} {
		f.Add(seed)
	}
	// The files torch.save wrote (testdata/gen.py).
	saved, err := filepath.Glob(filepath.Join("testdata", "*.pt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range saved {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(torchZipNoCRC(f, small, storages))
	f.Add(torchZip(f, small, storages, nil))
	f.Add(torchZipNoCRC(f, small[:len(small)/2], storages))
	f.Add(torchZipNoCRC(f, new(pk).proto().stateDict(view{name: "w", key: "0", numel: 1 << 40, size: []int64{1 << 40}}).stop().b, storages))
	f.Add(torchZipNoCRC(f, new(pk).proto().stateDict(view{name: "w", key: "0", numel: 12, size: []int64{1 << 20, 1 << 20}, stride: []int64{0, 0}}).stop().b, storages))
	f.Add(torchZipNoCRC(f, new(pk).proto().global("os", "system").stop().b, storages))
	f.Add([]byte("PK\x03\x04"))
	// A small checkpoint of the smallest unet fixture's first tensors (real
	// names, shapes and bytes) in torch.save's layout.
	real, err := os.ReadFile(fixturePath(f, smallestUnetFixture(f), "model_pt"))
	if err != nil {
		f.Fatal(err)
	}
	sd, err := readTorchBytes(real)
	if err != nil {
		f.Fatal(err)
	}
	var views []view
	data := map[string][]byte{}
	for i, n := range sd.Names[:3] {
		x := sd.Tensors[n]
		size := make([]int64, len(x.Shape))
		for j, d := range x.Shape {
			size[j] = int64(d)
		}
		key := fmt.Sprint(i)
		views = append(views, view{name: n, key: key, numel: int64(x.NumElements()), size: size})
		data[key] = x.Data
	}
	f.Add(torchZipNoCRC(f, new(pk).proto().stateDict(views...).stop().b, data))
	f.Add(readEntry(f, real, "model/data.pkl")) // the real pickle, as a bare pickle
	// The fixture as torch wrote it, truncated and with a corrupted byte:
	// only in the normal suite, as 4 MB inputs slow fuzzing to a crawl.
	if fl := flag.Lookup("test.fuzz"); fl == nil || fl.Value.String() == "" {
		f.Add(real)
		f.Add(real[:len(real)/2])
		f.Add(real[:len(real)-100])
		bad := bytes.Clone(real)
		bad[200] ^= 0xff // inside data.pkl: the CRC no longer matches
		f.Add(bad)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !bytes.HasPrefix(data, []byte("PK")) {
			data = torchZipNoCRC(t, data, storages)
		}
		sd, err := readTorchBytes(data)
		if err != nil {
			if !strings.Contains(err.Error(), "test.pt") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		checkTensors(t, sd, 2*len(data))
	})
}

// FuzzSafetensors feeds arbitrary bytes to ReadSafetensors: it must return
// an error or a state dict whose tensors fit in the file and that writes
// back and reads again unchanged.
func FuzzSafetensors(f *testing.F) {
	sd := checkpoints.NewStateDict("seed")
	sd.Metadata = map[string]string{"format": "pt"}
	sd.Add(checkpoints.FromFloat32("a", []int{2, 2}, seq(4)))
	sd.Add(&checkpoints.Tensor{Name: "b", DType: checkpoints.F16, Shape: []int{}, Data: []byte{0, 0x3c}})
	sd.Add(&checkpoints.Tensor{Name: "c", DType: checkpoints.I64, Shape: []int{0}, Data: []byte{}})
	var buf bytes.Buffer
	if err := checkpoints.WriteSafetensors(&buf, sd); err != nil {
		f.Fatal(err)
	}
	valid := buf.Bytes()
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add(valid[:20])
	f.Add(safetensorsFile(`{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}`, make([]byte, 16)))
	f.Add(safetensorsFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,9223372036854775807]}}`, make([]byte, 16)))
	f.Add(safetensorsFile(`{"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},"b":{"dtype":"U8","shape":[16],"data_offsets":[0,16]}}`, make([]byte, 16)))
	f.Add(binary.LittleEndian.AppendUint64(nil, 1<<62))
	ioFile, err := os.ReadFile(fixturePath(f, smallestUnetFixture(f), "io"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ioFile)
	f.Fuzz(func(t *testing.T, data []byte) {
		sd, err := checkpoints.ReadSafetensors(bytes.NewReader(data), int64(len(data)), "test.safetensors")
		if err != nil {
			if !strings.Contains(err.Error(), "test.safetensors") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		checkTensors(t, sd, len(data))
		var out bytes.Buffer
		if err := checkpoints.WriteSafetensors(&out, sd); err != nil {
			t.Fatalf("writing back: %v", err)
		}
		again, err := checkpoints.ReadSafetensors(bytes.NewReader(out.Bytes()), int64(out.Len()), "again")
		if err != nil {
			t.Fatalf("reading back: %v", err)
		}
		sameStateDict(t, again, sd)
	})
}

// readEntry returns one entry of a zip archive.
func readEntry(t testing.TB, archive []byte, name string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := zr.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
