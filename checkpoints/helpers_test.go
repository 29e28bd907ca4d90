package checkpoints_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
)

// pk builds pickles opcode by opcode, as torch.save would write them.
type pk struct{ b []byte }

func (p *pk) op(b ...byte) *pk { p.b = append(p.b, b...); return p }
func (p *pk) proto() *pk       { return p.op(0x80, 2) }
func (p *pk) mark() *pk        { return p.op('(') }
func (p *pk) stop() *pk        { return p.op('.') }
func (p *pk) global(module, name string) *pk {
	p.op('c')
	p.b = append(p.b, module+"\n"+name+"\n"...)
	return p
}
func (p *pk) str(s string) *pk {
	p.op('X')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
	return p
}
func (p *pk) int(n int64) *pk {
	switch {
	case n >= 0 && n < 256:
		return p.op('K', byte(n))
	case n >= 0 && n < 65536:
		p.op('M')
		p.b = binary.LittleEndian.AppendUint16(p.b, uint16(n))
	case n >= math.MinInt32 && n <= math.MaxInt32:
		p.op('J')
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(int32(n)))
	default:
		p.op(0x8a, 8)
		p.b = binary.LittleEndian.AppendUint64(p.b, uint64(n))
	}
	return p
}
func (p *pk) ints(v ...int64) *pk {
	p.mark()
	for _, x := range v {
		p.int(x)
	}
	return p.op('t')
}

// view describes one tensor of a test checkpoint.
type view struct {
	name    string
	storage string // storage class, "FloatStorage" if empty
	key     string // storage key
	numel   int64  // storage size in elements
	offset  int64
	size    []int64
	stride  []int64 // row-major if nil
}

// tensor appends _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()).
func (p *pk) tensor(v view) *pk {
	st := v.storage
	if st == "" {
		st = "FloatStorage"
	}
	stride := v.stride
	if stride == nil {
		stride = make([]int64, len(v.size))
		s := int64(1)
		for i := len(v.size) - 1; i >= 0; i-- {
			stride[i] = s
			s *= v.size[i]
		}
	}
	p.global("torch._utils", "_rebuild_tensor_v2").mark()
	p.mark().str("storage").global("torch", st).str(v.key).str("cpu").int(v.numel).op('t', 'Q')
	p.int(v.offset).ints(v.size...).ints(stride...).op(0x89)
	p.global("collections", "OrderedDict").op(')', 'R')
	return p.op('t', 'R')
}

// stateDict appends OrderedDict() with the given tensors.
func (p *pk) stateDict(views ...view) *pk {
	p.global("collections", "OrderedDict").op(')', 'R')
	if len(views) == 0 {
		return p
	}
	p.mark()
	for _, v := range views {
		p.str(v.name).tensor(v)
	}
	return p.op('u')
}

// torchZip builds a torch.save zip archive from a pickle and storage files.
func torchZip(t testing.TB, pickle []byte, storages map[string][]byte, extra map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	add("archive/data.pkl", pickle)
	for k, v := range storages {
		add("archive/data/"+k, v)
	}
	for k, v := range extra {
		add(k, v)
	}
	add("archive/version", []byte("3\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// f32bytes returns v as little-endian float32 bytes.
func f32bytes(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// seq returns 0, 1, ..., n-1.
func seq(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i)
	}
	return v
}

// writeTemp writes data to a file in a test's temporary folder.
func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readTorchBytes parses an in-memory checkpoint.
func readTorchBytes(b []byte) (*checkpoints.StateDict, error) {
	return checkpoints.ReadTorch(bytes.NewReader(b), int64(len(b)), "test.pt")
}

// bothWeightFiles reports whether a unet fixture lists both model.pt and
// model.safetensors (written by torch and by safetensors from the same
// state dict).
func bothWeightFiles(f *fixtures.Fixture) bool {
	_, pt := f.Files["model_pt"]
	_, st := f.Files["model_safetensors"]
	return pt && st
}

// unetFixtures returns, by fixture name, the model.pt and
// model.safetensors paths of the unet fixtures that list both; it skips
// when there is none.
func unetFixtures(t testing.TB) map[string][2]string {
	t.Helper()
	out := map[string][2]string{}
	for _, f := range fixtures.OfKind(t, "unet", bothWeightFiles) {
		pt, err1 := f.Path("model_pt")
		st, err2 := f.Path("model_safetensors")
		if err1 != nil || err2 != nil {
			t.Fatalf("fixture %s: %v %v", f.Name, err1, err2)
		}
		out[f.Name] = [2]string{pt, st}
	}
	return out
}

// smallestUnetFixture returns the unet fixture listing both weight files
// whose model.pt is the smallest (a seed for the fuzzers).
func smallestUnetFixture(t testing.TB) *fixtures.Fixture {
	t.Helper()
	var best *fixtures.Fixture
	var bestSize int64
	for _, f := range fixtures.OfKind(t, "unet", bothWeightFiles) {
		p, err := f.Path("model_pt")
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if best == nil || st.Size() < bestSize {
			best, bestSize = f, st.Size()
		}
	}
	return best
}

// fixturePath returns the path of a fixture's file, failing the test when
// it lists none under key.
func fixturePath(t testing.TB, f *fixtures.Fixture, key string) string {
	t.Helper()
	p, err := f.Path(key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sameStateDict fails unless a and b hold the same names in the same
// order, with the same dtypes, shapes and bytes.
func sameStateDict(t testing.TB, a, b *checkpoints.StateDict) {
	t.Helper()
	if len(a.Names) != len(b.Names) {
		t.Fatalf("%s has %d tensors, %s has %d", a.Source, len(a.Names), b.Source, len(b.Names))
	}
	for i, n := range a.Names {
		if b.Names[i] != n {
			t.Fatalf("tensor %d: %s has %q, %s has %q", i, a.Source, n, b.Source, b.Names[i])
		}
		x, y := a.Tensors[n], b.Tensors[n]
		if x.DType != y.DType || !equalInts(x.Shape, y.Shape) {
			t.Fatalf("%s: %s %v vs %s %v", n, x.DType, x.Shape, y.DType, y.Shape)
		}
		if !bytes.Equal(x.Data, y.Data) {
			t.Fatalf("%s: bytes differ", n)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
