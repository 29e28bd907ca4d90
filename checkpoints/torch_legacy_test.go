package checkpoints_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
)

// legacyFile builds a legacy torch.save file: the magic number, the
// protocol version, the system information, an OrderedDict built from a
// list of [key, tensor] pairs (Python 2 strings, storages tagged cuda:0 with
// a None view), the key list and the storage records.
func legacyFile(views []view, data map[string][]byte, counts map[string]uint64) []byte {
	out := legacyHead()
	p := (&pk{}).proto().global("collections", "OrderedDict").op(']').mark()
	var keys []string
	for _, v := range views {
		p.op(']').mark().op('U', byte(len(v.name))).op([]byte(v.name)...)
		p.global("torch._utils", "_rebuild_tensor_v2").mark()
		p.mark().str("storage").global("torch", "FloatStorage").str(v.key).str("cuda:0").int(v.numel).op('N', 't', 'Q')
		stride := make([]int64, len(v.size))
		s := int64(1)
		for i := len(v.size) - 1; i >= 0; i-- {
			stride[i] = s
			s *= v.size[i]
		}
		p.int(v.offset).ints(v.size...).ints(stride...).op(0x89, 'N', 't', 'R', 'e')
		keys = append(keys, v.key)
	}
	p.op('e', 0x85, 'R').stop()
	out = append(out, p.b...)
	kl := (&pk{}).proto().op(']').mark()
	for _, k := range keys {
		kl.str(k)
	}
	out = append(out, kl.op('e').stop().b...)
	for _, k := range keys {
		n, ok := counts[k]
		if !ok {
			n = uint64(len(data[k]) / 4)
		}
		out = binary.LittleEndian.AppendUint64(out, n)
		out = append(out, data[k]...)
	}
	return out
}

// legacyHead returns the start of a legacy torch.save file: the magic
// number, the protocol version and the system information.
func legacyHead() []byte {
	var out []byte
	out = append(out, "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."...)
	out = append(out, (&pk{}).proto().int(1001).stop().b...)
	info := (&pk{}).proto().op('}').mark()
	info.op('U', byte(len("little_endian"))).op([]byte("little_endian")...).op(0x88).op('u').stop()
	return append(out, info.b...)
}

func readLegacyBytes(b []byte) (*checkpoints.StateDict, error) {
	return checkpoints.ReadTorchLegacy(bytes.NewReader(b), int64(len(b)), "legacy.pth")
}

func TestLegacyReadsSyntheticFile(t *testing.T) {
	views := []view{
		{name: "a.weight", key: "100", numel: 6, size: []int64{2, 3}},
		{name: "b.bias", key: "7", numel: 4, offset: 1, size: []int64{3}},
	}
	data := map[string][]byte{"100": f32bytes(seq(6)...), "7": f32bytes(9, 8, 7, 6)}
	sd, err := readLegacyBytes(legacyFile(views, data, nil))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(sd.Names, ",") != "a.weight,b.bias" {
		t.Fatalf("names %v", sd.Names)
	}
	b, _ := sd.Tensors["b.bias"].Float32()
	if len(b) != 3 || b[0] != 8 || b[2] != 6 {
		t.Errorf("b.bias = %v, want the view [8 7 6]", b)
	}
	a, _ := sd.Tensors["a.weight"].Float32()
	if want := seq(6); len(a) != 6 || a[5] != want[5] || !equalInts(sd.Tensors["a.weight"].Shape, []int{2, 3}) {
		t.Errorf("a.weight = %v %v", a, sd.Tensors["a.weight"].Shape)
	}
}

func TestLegacyRejectsBadFiles(t *testing.T) {
	views := []view{{name: "w", key: "1", numel: 4, size: []int64{4}}}
	good := legacyFile(views, map[string][]byte{"1": f32bytes(1, 2, 3, 4)}, nil)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"count mismatch", legacyFile(views, map[string][]byte{"1": f32bytes(1, 2, 3, 4)}, map[string]uint64{"1": 5}), "holds 5 elements but the state dict says 4"},
		{"trailing bytes", append(bytes.Clone(good), 0, 0, 0), "3 bytes follow the last storage"},
		{"truncated data", good[:len(good)-2], "reaches past the end of the file"},
		{"bad magic", append([]byte("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x18."), good[15:]...), "magic number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readLegacyBytes(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Every truncation is an error, never a panic or a short tensor.
	for n := range len(good) {
		if _, err := readLegacyBytes(good[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(good))
		}
	}
}

// TestLegacyLinearLayerFiles reads the LPIPS linear-layer files of every
// lpips fixture under every fixture root (legacy format, storages tagged cuda:0) through Load and
// checks them against their safetensors copies.
func TestLegacyLinearLayerFiles(t *testing.T) {
	pairs := 0
	for _, f := range fixtures.All(t) {
		if f.Kind != "lpips" {
			continue
		}
		for key := range f.Files {
			base, ok := strings.CutSuffix(key, "_pt")
			if !ok || !strings.HasPrefix(base, "lin") {
				continue
			}
			pt, err1 := f.Path(key)
			st, err2 := f.Path(base + "_safetensors")
			if err1 != nil || err2 != nil {
				continue
			}
			pairs++
			t.Run(f.Name+"/"+base, func(t *testing.T) {
				a, err := checkpoints.Load(pt)
				if err != nil {
					t.Fatal(err)
				}
				b, err := checkpoints.Load(st)
				if err != nil {
					t.Fatal(err)
				}
				sameStateDict(t, a, b)
			})
		}
	}
	if pairs == 0 {
		roots, _ := fixtures.Roots()
		t.Skipf("no lpips fixture with legacy linear-layer files under %s", strings.Join(roots, ", "))
	}
}

// FuzzReadTorchLegacy checks that no legacy file, however corrupt, panics,
// fails with an error that does not name it, or yields tensors whose bytes
// disagree with their shapes or add up to more than twice its size.
func FuzzReadTorchLegacy(f *testing.F) {
	views := []view{
		{name: "a", key: "1", numel: 6, size: []int64{2, 3}},
		{name: "b", key: "2", numel: 4, offset: 1, size: []int64{3}},
	}
	f.Add(legacyFile(views, map[string][]byte{"1": f32bytes(seq(6)...), "2": f32bytes(1, 2, 3, 4)}, nil))
	f.Add(legacyFile(views[:1], map[string][]byte{"1": f32bytes(seq(6)...)}, map[string]uint64{"1": 1 << 62}))
	f.Fuzz(func(t *testing.T, data []byte) {
		sd, err := readLegacyBytes(data)
		if err != nil {
			if !strings.Contains(err.Error(), "legacy.pth") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		checkTensors(t, sd, 2*len(data))
	})
}

// TestLegacyRepeatedLongStorageKey checks that a one-element tensor with a
// 4 MiB storage key, memoized and used again under 20000 names, loads
// quickly: the storage must not be looked up by its key once per tensor.
func TestLegacyRepeatedLongStorageKey(t *testing.T) {
	key := strings.Repeat("k", 4<<20)
	const names, others = 20000, 16
	p := new(pk).proto().global("collections", "OrderedDict").op(')', 'R')
	p.str("w").tensor(view{key: key, numel: 1, size: []int64{1}}).op('q', 0, 's').mark()
	for i := range others { // enough storages that a lookup by key hashes it
		p.str("s" + strconv.Itoa(i)).tensor(view{key: strconv.Itoa(i), size: []int64{0}})
	}
	for i := range names {
		p.str(strconv.Itoa(i)).op('h', 0)
	}
	keys := new(pk).proto().op(']').str(key).op('a')
	for i := range others {
		keys.str(strconv.Itoa(i)).op('a')
	}
	file := append(legacyHead(), p.op('u').stop().b...)
	file = append(file, keys.stop().b...)
	file = binary.LittleEndian.AppendUint64(file, 1)
	file = append(file, f32bytes(7)...)
	for range others {
		file = binary.LittleEndian.AppendUint64(file, 0)
	}
	start := time.Now()
	sd, err := readLegacyBytes(file)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("ReadTorchLegacy took %v, want well under a second", elapsed)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := len(sd.Names); got != 1+others+names {
		t.Errorf("%d tensors, want %d", got, 1+others+names)
	}
	if v, _ := sd.Tensors[strconv.Itoa(names-1)].Float32(); len(v) != 1 || v[0] != 7 {
		t.Errorf("the last name's tensor is %v, want [7]", v)
	}
}

// TestReadersRefuseBadArguments checks that the three readers return an
// error naming the file for no reader and for a negative size, rather than
// panicking (the legacy reader allocated a buffer of the negative size).
func TestReadersRefuseBadArguments(t *testing.T) {
	readers := []struct {
		name string
		read func(r io.ReaderAt, size int64, source string) (*checkpoints.StateDict, error)
	}{
		{"safetensors", checkpoints.ReadSafetensors},
		{"torch", checkpoints.ReadTorch},
		{"legacy torch", checkpoints.ReadTorchLegacy},
	}
	for _, tc := range []struct {
		name string
		r    io.ReaderAt
		size int64
		want string
	}{
		{"negative size", bytes.NewReader(nil), -10, "reading w.pt: size -10 is negative"},
		{"no reader", nil, 10, "reading w.pt: no reader (nil)"},
	} {
		for _, rd := range readers {
			t.Run(rd.name+"/"+tc.name, func(t *testing.T) {
				var err error
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Fatalf("panicked: %v", p)
						}
					}()
					_, err = rd.read(tc.r, tc.size, "w.pt")
				}()
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one containing %q", err, tc.want)
				}
			})
		}
	}
}
