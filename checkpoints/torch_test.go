package checkpoints_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cadps/toolkit/checkpoints"
)

// TestUnetFixtures checks that each fixture's model.pt and model.safetensors,
// written by torch and by safetensors from the same state dict, read to the
// same names in the same order, dtypes, shapes and bytes, through both the
// format's own reader and Load.
func TestUnetFixtures(t *testing.T) {
	for name, p := range unetFixtures(t) {
		t.Run(name, func(t *testing.T) {
			pt, err := checkpoints.LoadTorch(p[0])
			if err != nil {
				t.Fatal(err)
			}
			st, err := checkpoints.LoadSafetensors(p[1])
			if err != nil {
				t.Fatal(err)
			}
			if len(pt.Names) < 100 || pt.Names[0] != "time_embed.0.weight" {
				t.Fatalf("%s: %d tensors, first %q: not the UNet state dict", p[0], len(pt.Names), pt.Names[0])
			}
			sameStateDict(t, pt, st)
			for _, path := range p {
				sd, err := checkpoints.Load(path)
				if err != nil {
					t.Fatal(err)
				}
				if sd.Source != path {
					t.Errorf("Source = %q, want %q", sd.Source, path)
				}
				sameStateDict(t, sd, st)
			}
			if pt.Metadata != nil {
				t.Errorf("metadata of a .pt file: %v", pt.Metadata)
			}
		})
	}
}

// TestTorchViews builds small checkpoints the way torch.save lays them out
// and checks the tensors read back row-major, whatever their storage layout.
func TestTorchViews(t *testing.T) {
	s12 := f32bytes(seq(12)...)
	tests := []struct {
		name     string
		views    []view
		storages map[string][]byte
		extra    map[string][]byte
		want     []*checkpoints.Tensor
	}{{
		name:     "contiguous",
		views:    []view{{name: "w", key: "0", numel: 12, size: []int64{3, 4}}},
		storages: map[string][]byte{"0": s12},
		want:     []*checkpoints.Tensor{{Name: "w", DType: "F32", Shape: []int{3, 4}, Data: s12}},
	}, {
		name:     "scalar and empty",
		views:    []view{{name: "s", key: "0", numel: 12, offset: 5, size: []int64{}}, {name: "e", key: "0", numel: 12, offset: 12, size: []int64{0, 4}}},
		storages: map[string][]byte{"0": s12},
		want: []*checkpoints.Tensor{
			{Name: "s", DType: "F32", Shape: []int{}, Data: f32bytes(5)},
			{Name: "e", DType: "F32", Shape: []int{0, 4}, Data: []byte{}},
		},
	}, {
		name: "shared storage with offsets", // as q, k, v = qkv.chunk(3) saved
		views: []view{
			{name: "a", key: "0", numel: 12, size: []int64{2, 2}},
			{name: "b", key: "0", numel: 12, offset: 4, size: []int64{2, 2}},
			{name: "c", key: "0", numel: 12, offset: 8, size: []int64{4}},
		},
		storages: map[string][]byte{"0": s12},
		want: []*checkpoints.Tensor{
			{Name: "a", DType: "F32", Shape: []int{2, 2}, Data: f32bytes(0, 1, 2, 3)},
			{Name: "b", DType: "F32", Shape: []int{2, 2}, Data: f32bytes(4, 5, 6, 7)},
			{Name: "c", DType: "F32", Shape: []int{4}, Data: f32bytes(8, 9, 10, 11)},
		},
	}, {
		name: "tied weights",
		views: []view{
			{name: "x", key: "0", numel: 12, size: []int64{12}},
			{name: "y", key: "0", numel: 12, size: []int64{3, 4}},
		},
		storages: map[string][]byte{"0": s12},
		want: []*checkpoints.Tensor{
			{Name: "x", DType: "F32", Shape: []int{12}, Data: s12},
			{Name: "y", DType: "F32", Shape: []int{3, 4}, Data: s12},
		},
	}, {
		name:     "transposed",
		views:    []view{{name: "t", key: "0", numel: 12, size: []int64{4, 3}, stride: []int64{1, 4}}},
		storages: map[string][]byte{"0": s12},
		want:     []*checkpoints.Tensor{{Name: "t", DType: "F32", Shape: []int{4, 3}, Data: f32bytes(0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11)}},
	}, {
		name:     "strided slice with offset",
		views:    []view{{name: "t", key: "0", numel: 12, offset: 1, size: []int64{2, 2}, stride: []int64{6, 2}}},
		storages: map[string][]byte{"0": s12},
		want:     []*checkpoints.Tensor{{Name: "t", DType: "F32", Shape: []int{2, 2}, Data: f32bytes(1, 3, 7, 9)}},
	}, {
		name:     "expanded (stride 0)",
		views:    []view{{name: "t", key: "0", numel: 12, offset: 2, size: []int64{3, 2}, stride: []int64{0, 1}}},
		storages: map[string][]byte{"0": s12},
		want:     []*checkpoints.Tensor{{Name: "t", DType: "F32", Shape: []int{3, 2}, Data: f32bytes(2, 3, 2, 3, 2, 3)}},
	}, {
		name: "other dtypes",
		views: []view{
			{name: "h", storage: "HalfStorage", key: "h", numel: 2, size: []int64{2}},
			{name: "bf", storage: "BFloat16Storage", key: "b", numel: 2, size: []int64{2}},
			{name: "d", storage: "DoubleStorage", key: "d", numel: 1, size: []int64{1}},
			{name: "n", storage: "LongStorage", key: "n", numel: 1, size: []int64{}},
		},
		storages: map[string][]byte{"h": {0, 0x3c, 0, 0xc0}, "b": {0x80, 0x3f, 0, 0x40}, "d": {0, 0, 0, 0, 0, 0, 0xf0, 0x3f}, "n": {7, 0, 0, 0, 0, 0, 0, 0}},
		want: []*checkpoints.Tensor{
			{Name: "h", DType: "F16", Shape: []int{2}, Data: []byte{0, 0x3c, 0, 0xc0}},
			{Name: "bf", DType: "BF16", Shape: []int{2}, Data: []byte{0x80, 0x3f, 0, 0x40}},
			{Name: "d", DType: "F64", Shape: []int{1}, Data: []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}},
			{Name: "n", DType: "I64", Shape: []int{}, Data: []byte{7, 0, 0, 0, 0, 0, 0, 0}},
		},
	}, {
		name:     "big-endian archive",
		views:    []view{{name: "w", key: "0", numel: 2, size: []int64{2}}, {name: "h", storage: "HalfStorage", key: "1", numel: 1, size: []int64{1}}},
		storages: map[string][]byte{"0": {0x3f, 0x80, 0, 0, 0x40, 0, 0, 0}, "1": {0x3c, 0}},
		extra:    map[string][]byte{"archive/byteorder": []byte("big")},
		want: []*checkpoints.Tensor{
			{Name: "w", DType: "F32", Shape: []int{2}, Data: f32bytes(1, 2)},
			{Name: "h", DType: "F16", Shape: []int{1}, Data: []byte{0, 0x3c}},
		},
	}, {
		name:     "little-endian byteorder file and newer torch entries",
		views:    []view{{name: "w", key: "0", numel: 2, size: []int64{2}}},
		storages: map[string][]byte{"0": f32bytes(1, 2)},
		extra:    map[string][]byte{"archive/byteorder": []byte("little"), "archive/.data/serialization_id": []byte("123"), "archive/.format_version": []byte("1")},
		want:     []*checkpoints.Tensor{{Name: "w", DType: "F32", Shape: []int{2}, Data: f32bytes(1, 2)}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := new(pk).proto().stateDict(tc.views...).stop()
			sd, err := readTorchBytes(torchZip(t, p.b, tc.storages, tc.extra))
			if err != nil {
				t.Fatal(err)
			}
			want := checkpoints.NewStateDict("test.pt")
			for _, w := range tc.want {
				if err := want.Add(w); err != nil {
					t.Fatal(err)
				}
			}
			sameStateDict(t, sd, want)
			// Tensors never alias each other's bytes.
			for i, a := range sd.Names {
				for _, b := range sd.Names[i+1:] {
					x, y := sd.Tensors[a].Data, sd.Tensors[b].Data
					if len(x) > 0 && len(y) > 0 && &x[0] == &y[0] {
						t.Errorf("%s and %s share their bytes", a, b)
					}
				}
			}
		})
	}
}

// TestTorchPickleForms checks the other ways a state dict may be pickled:
// parameters instead of tensors, a wrapper dict, a plain dict, protocol 4
// opcodes and the text UNICODE opcode, and objects beside the state dict
// that only Python could build, which are placeholders, never imported.
func TestTorchPickleForms(t *testing.T) {
	w := view{name: "w", key: "0", numel: 3, size: []int64{3}}
	storages := map[string][]byte{"0": f32bytes(1, 2, 3)}
	param := func(p *pk) *pk {
		p.global("torch._utils", "_rebuild_parameter").mark().tensor(w).op(0x88)
		return p.global("collections", "OrderedDict").op(')', 'R', 't', 'R')
	}
	tests := []struct {
		name   string
		pickle func(p *pk)
		names  []string
	}{
		{"OrderedDict with _metadata state", func(p *pk) {
			p.stateDict(w)
			p.op('}').str("_metadata").global("collections", "OrderedDict").op(')', 'R')
			p.str("").op('}').str("version").int(1).op('s', 's', 's', 'b')
		}, []string{"w"}},
		{"parameters", func(p *pk) {
			p.op('}').str("w")
			param(p).op('s')
		}, []string{"w"}},
		{"plain dict with DICT", func(p *pk) {
			p.mark().str("b").tensor(w).str("a").tensor(w).op('d')
		}, []string{"b", "a"}},
		{"wrapped in a checkpoint dict", func(p *pk) {
			p.op('}').mark()
			p.str("epoch").int(70000).str("lr").op('G', 0x3f, 0x1a, 0x36, 0xe2, 0xeb, 0x1c, 0x43, 0x2d)
			p.str("ok").op(0x88).str("none").op('N').str("steps").op(']').mark().int(1).int(-5).op(0x8a, 1, 0xff, 'e')
			p.str("model").stateDict(w)
			p.str("optimizer").op('}').str("state").op('}').op('s')
			p.op('u')
		}, []string{"w"}},
		{"objects beside the state dict", func(p *pk) {
			p.op('}').mark()
			// argparse.Namespace(lr=0.1): NEWOBJ, then BUILD with its __dict__.
			p.str("args").global("argparse", "Namespace").op(')', 0x81).op('}').str("lr").op('G', 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a, 's', 'b')
			// numpy.float64(0.5), protocol 2: scalar(dtype('f8'), _codecs.encode(...)).
			p.str("best").global("numpy.core.multiarray", "scalar").global("numpy", "dtype").str("f8").op(0x89, 0x88, 0x87, 'R')
			p.mark().int(3).str("<").op('N', 'N', 'N').int(-1).int(-1).int(0).op('t', 'b')
			p.global("_codecs", "encode").str("\x00\x00\x00\x00\x00\x00\u00e0?").str("latin1").op(0x86, 'R', 0x86, 'R')
			// The same, protocol 4: bytes as SHORT_BINBYTES, BINBYTES and BINBYTES8.
			p.str("bytes").mark().op('C', 2, 'a', 'b', 'B', 1, 0, 0, 0, 'c', 0x8e, 0, 0, 0, 0, 0, 0, 0, 0, 0x96, 1, 0, 0, 0, 0, 0, 0, 0, 'd', 't')
			// A defaultdict (SETITEMS on a placeholder) and a list subclass (APPENDS).
			p.str("counts").global("collections", "defaultdict").global("builtins", "int").op(0x85, 'R').mark().str("a").int(2).op('u')
			p.str("history").global("mylib", "History").op(')', 'R').mark().int(1).int(2).op('e').int(3).op('a')
			// NEWOBJ_EX with keyword arguments.
			p.str("kw").global("mylib", "Config").op(')', '}', 0x92)
			// Sets, a tuple key, ints past 64 bits, POP, POP_MARK and DUP.
			p.str("tags").op(0x8f).mark().str("ema").str("ffhq").op(0x90)
			p.str("frozen").mark().int(1).op(0x91)
			p.str("by_pair").op('}').int(0).int(1).op(0x86).str("x").op('s')
			p.str("seed").op(0x8a, 11, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)
			p.str("big").op(0x8b, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80)
			p.str("minus").op(0x8b, 9, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff).op('N', '0', '(', 'N', '1', '2', '0')
			// A tensor of a storage type that is not read, beside the state dict.
			p.str("phase").tensor(view{name: "phase", storage: "ComplexFloatStorage", key: "9", numel: 1, size: []int64{1}})
			p.str("model").stateDict(w).op('u')
		}, []string{"w"}},
		{"one state dict under two keys", func(p *pk) {
			// {"model": sd, "ema": sd}, the same dict twice through the memo.
			p.op('}').mark().str("model").stateDict(w).op('q', 1).str("ema").op('h', 1, 'u')
		}, []string{"w"}},
		{"protocol 4 opcodes", func(p *pk) {
			p.op(0x95, 0, 0, 0, 0, 0, 0, 0, 0)
			p.op(0x8c, 11)
			p.b = append(p.b, "collections"...)
			p.op(0x94, 0x8c, 11)
			p.b = append(p.b, "OrderedDict"...)
			p.op(0x94, 0x93, 0x94, ')', 'R', 0x94)
			p.op('V')
			p.b = append(p.b, "w\\u00e9\n"...)
			p.op(0x94).tensor(w).op(0x94, 's')
		}, []string{"wé"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := new(pk).proto()
			tc.pickle(p)
			p.stop()
			sd, err := readTorchBytes(torchZip(t, p.b, storages, nil))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sd.Names, tc.names) {
				t.Fatalf("names %q, want %q", sd.Names, tc.names)
			}
			for _, n := range sd.Names {
				if got := sd.Tensors[n].Data; !bytes.Equal(got, storages["0"]) {
					t.Errorf("%s: bytes % x", n, got)
				}
			}
		})
	}
}

// TestLoadErrors checks that every kind of bad file is an error that names
// the file and the problem.
func TestLoadErrors(t *testing.T) {
	f32 := map[string][]byte{"0": f32bytes(seq(4)...)}
	good := new(pk).proto().stateDict(view{name: "w", key: "0", numel: 4, size: []int64{4}}).stop().b
	goodZip := torchZip(t, good, f32, nil)
	sd := func(views ...view) []byte { return torchZip(t, new(pk).proto().stateDict(views...).stop().b, f32, nil) }
	raw := func(build func(p *pk)) []byte {
		p := new(pk).proto()
		build(p)
		return torchZip(t, p.stop().b, f32, nil)
	}
	crcBroken := slices.Clone(goodZip)
	i := bytes.LastIndex(crcBroken, f32bytes(3))
	crcBroken[i+3] ^= 0x40
	var deflated bytes.Buffer
	{
		zw := zip.NewWriter(&deflated)
		fw, _ := zw.Create("archive/data.pkl")
		fw.Write(good)
		zw.Close()
	}
	noPkl := func() []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		fw, _ := zw.Create("readme.txt")
		fw.Write([]byte("hello"))
		zw.Close()
		return b.Bytes()
	}()
	deepMarks := raw(func(p *pk) {
		for range 2000 {
			p.mark()
		}
	})
	hugeString := raw(func(p *pk) { p.op('X', 0xff, 0xff, 0xff, 0x7f, 'a') })

	tests := []struct {
		name string
		data []byte // nil: no file
		dir  bool
		want []string
	}{
		{name: "missing file", want: []string{"no such file"}},
		{name: "directory", dir: true, want: []string{"is a directory"}},
		{name: "empty file", data: []byte{}, want: []string{"is empty"}},
		{name: "wrong magic", data: []byte("GIF89a, certainly not a checkpoint"), want: []string{"not a PyTorch zip checkpoint or safetensors file"}},
		{name: "legacy torch pickle", data: []byte("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.rest"), want: []string{"not a valid legacy PyTorch checkpoint", "protocol version"}},
		{name: "truncated zip", data: goodZip[:len(goodZip)/2], want: []string{"not a valid PyTorch checkpoint", "zip", "truncated download?"}},
		{name: "empty zip", data: []byte("PK\x05\x06" + strings.Repeat("\x00", 18)), want: []string{"empty zip archive"}},
		{name: "zip without data.pkl", data: noPkl, want: []string{"no <name>/data.pkl"}},
		{name: "corrupt storage bytes", data: crcBroken, want: []string{"data/0", "checksum"}},
		{name: "compressed entry", data: deflated.Bytes(), want: []string{"compressed"}},
		{name: "disallowed global in the state dict", data: raw(func(p *pk) {
			p.op('}').str("w").global("os", "system").str("touch pwned").op(0x85, 'R', 's')
		}), want: []string{`the value of "w" is an object of os.system, not a tensor`, "never imported or run"}},
		{name: "legacy storage global", data: raw(func(p *pk) {
			p.op('}').str("w").global("torch.storage", "_load_from_bytes").op('C', 2, 'x', 'y', 0x85, 'R', 's')
		}), want: []string{`the value of "w" is an object of torch.storage._load_from_bytes`}},
		{name: "a pickled model", data: raw(func(p *pk) {
			p.global("__main__", "Net").op(')', 0x81).op('}').str("training").op(0x88, 's', 'b')
		}), want: []string{"holds an object of __main__.Net, not a state dict", "state_dict()"}},
		{name: "a state dict with a placeholder, wrapped", data: raw(func(p *pk) {
			p.op('}').mark().str("epoch").int(3).str("model").op('}').mark()
			p.str("w").tensor(view{name: "w", key: "0", numel: 4, size: []int64{4}})
			p.str("cfg").global("argparse", "Namespace").op(')', 0x81).op('}', 'b', 'u', 'u')
		}), want: []string{`in "model", the value of "cfg" is an object of argparse.Namespace`}},
		{name: "a tensor of an unreadable storage type", data: sd(view{name: "w", storage: "ComplexFloatStorage", key: "0", numel: 2, size: []int64{2}}),
			want: []string{`the value of "w" is a tensor of torch.ComplexFloatStorage`, "cannot be read"}},
		{name: "many distinct globals", data: raw(func(p *pk) {
			for i := range 4097 {
				p.global("m"+strconv.Itoa(i), "f").op('0')
			}
		}), want: []string{"more than 4096 distinct globals"}},
		{name: "a long global name", data: raw(func(p *pk) {
			p.op('}').str("w").global(strings.Repeat("m", 100000), "f").op('s')
		}), want: []string{`the value of "w" is an object of ` + strings.Repeat("m", 64) + "....f, not a tensor"}},
		{name: "instance of a non-placeholder", data: raw(func(p *pk) { p.global("collections", "OrderedDict").op(')', 0x81) }), want: []string{"NEWOBJ", "creating an instance of a global collections.OrderedDict"}},
		{name: "adding to a non-set", data: raw(func(p *pk) { p.op(']', '(', 'N', 0x90) }), want: []string{"ADDITEMS", "not a set"}},
		{name: "unsupported opcode", data: raw(func(p *pk) { p.op('i') }), want: []string{"opcode INST", "not supported"}},
		{name: "pickle without STOP", data: torchZip(t, good[:len(good)-1], f32, nil), want: []string{"without STOP"}},
		{name: "string longer than the pickle", data: hugeString, want: []string{"BINUNICODE", "remain"}},
		{name: "nested marks", data: deepMarks, want: []string{"nested marks"}},
		{name: "stack too deep", data: raw(func(p *pk) { p.b = append(p.b, bytes.Repeat([]byte{'N'}, 1<<20+1)...) }), want: []string{"opcode NONE", "stack deeper than 1048576"}},
		{name: "too many values", data: raw(func(p *pk) { p.op(']'); p.b = append(p.b, bytes.Repeat([]byte("(Ne"), 600000)...) }), want: []string{"more than 1048576 values"}},
		{name: "memo too large", data: raw(func(p *pk) {
			p.op('N')
			for i := range 1<<20 + 1 {
				p.op('r')
				p.b = binary.LittleEndian.AppendUint32(p.b, uint32(i))
			}
		}), want: []string{"LONG_BINPUT", "memo larger than"}},
		{name: "unknown memo", data: raw(func(p *pk) { p.op('h', 9) }), want: []string{"memo index 9"}},
		{name: "stack underflow", data: raw(func(p *pk) { p.op('s') }), want: []string{"SETITEM", "underflow"}},
		{name: "calling a storage class", data: raw(func(p *pk) { p.global("torch", "FloatStorage").op(')', 'R') }), want: []string{"cannot be called"}},
		{name: "top level is a list", data: raw(func(p *pk) { p.op(']') }), want: []string{"holds a list, not a state dict"}},
		{name: "non-tensor value", data: raw(func(p *pk) { p.op('}').str("w").int(3).op('s') }), want: []string{`value of "w" is an int`}},
		{name: "two wrapped state dicts", data: raw(func(p *pk) {
			p.op('}').mark().str("model").stateDict(view{name: "w", key: "0", numel: 4, size: []int64{4}})
			p.str("ema").stateDict(view{name: "w", key: "0", numel: 4, size: []int64{4}}).op('u')
		}), want: []string{`wraps 2 state dicts ("model", "ema")`}},
		{name: "seven wrapped state dicts", data: raw(func(p *pk) {
			p.op('}').mark()
			for _, k := range []string{"a", "b", "c", "d", "e", "f", "g"} {
				p.str(k).stateDict(view{name: "w", key: "0", numel: 4, size: []int64{4}})
			}
			p.op('u')
		}), want: []string{`wraps 7 state dicts ("a", "b", "c", "d", "e", and 2 more)`}},
		{name: "an optimizer's state", data: raw(func(p *pk) {
			p.op('}').mark().str("state").op('}').mark().int(0).op('}').mark()
			p.str("exp_avg").tensor(view{name: "m", key: "0", numel: 4, size: []int64{4}}).op('u', 'u')
			p.str("param_groups").op(']').op('}').mark().str("params").ints(0).op('u', 'a', 'u')
		}), want: []string{"not a valid PyTorch checkpoint", `an optimizer's state_dict (keys "state" and "param_groups"), not a model's weights`, "model*.pt", "ema_*.pt"}},
		{name: "numel larger than the storage file", data: sd(view{name: "w", key: "0", numel: 5, size: []int64{5}}), want: []string{`storage "0" of 5 F32 elements needs 20 bytes but "archive/data/0" has 16`}},
		{name: "huge numel", data: sd(view{name: "w", key: "0", numel: 1 << 62, size: []int64{1 << 40}}), want: []string{"needs more than 2^63 bytes"}},
		{name: "view past its storage", data: sd(view{name: "w", key: "0", numel: 4, offset: 2, size: []int64{3}}), want: []string{`tensor "w"`, "reaches past its storage"}},
		{name: "offset past its storage", data: sd(view{name: "w", key: "0", numel: 4, offset: 4, size: []int64{1}}), want: []string{"offset 4 is outside"}},
		{name: "huge shape", data: sd(view{name: "w", key: "0", numel: 4, size: []int64{1 << 30, 1 << 30, 1 << 30}, stride: []int64{0, 0, 0}}), want: []string{"more elements than the file can hold"}},
		{name: "expand past the memory budget", data: sd(view{name: "w", key: "0", numel: 4, size: []int64{1 << 20}, stride: []int64{0}}), want: []string{"more elements than the file can hold"}},
		{name: "missing storage entry", data: sd(view{name: "w", key: "7", numel: 4, size: []int64{4}}), want: []string{`storage "7" has no entry "archive/data/7"`}},
		{name: "storage with two types", data: sd(view{name: "w", key: "0", numel: 4, size: []int64{4}}, view{name: "v", storage: "HalfStorage", key: "0", numel: 4, size: []int64{4}}), want: []string{`storage "0" is referenced as 4 F32 and as 4 F16`}},
		{name: "duplicate key", data: sd(view{name: "w", key: "0", numel: 4, size: []int64{4}}, view{name: "w", key: "0", numel: 4, size: []int64{4}}), want: nil}, // a dict keeps the last value: not an error
		{name: "bad byteorder", data: torchZip(t, good, f32, map[string][]byte{"archive/byteorder": []byte("middle")}), want: []string{"byteorder"}},
		{name: "safetensors header past the end", data: append(binary.LittleEndian.AppendUint64(nil, 1<<20), "{}"...), want: []string{"looks like a truncated safetensors file", "header is 1048576 bytes long", "holds 10 bytes"}},
		{name: "bad safetensors JSON", data: append(binary.LittleEndian.AppendUint64(nil, 4), "{ab}"...), want: []string{"not a valid safetensors file", "JSON"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ckpt.pt")
			switch {
			case tc.dir:
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
			case tc.data != nil:
				if err := os.WriteFile(path, tc.data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := checkpoints.Load(path)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range append(tc.want, path) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// TestLoadLongNames checks that errors quote at most the first 100 bytes
// of a key read from a pickle, cut at a character boundary, and give its
// length.
func TestLoadLongNames(t *testing.T) {
	f32 := map[string][]byte{"0": f32bytes(seq(4)...)}
	notTensor := func(key string) []byte {
		p := new(pk).proto()
		p.global("collections", "OrderedDict").op(')', 'R').str(key).str("not a tensor").op('s')
		return torchZip(t, p.stop().b, f32, nil)
	}
	missingStorage := func(key string) []byte {
		return torchZip(t, new(pk).proto().stateDict(view{name: "w", key: key, numel: 4, size: []int64{4}}).stop().b, f32, nil)
	}
	long := strings.Repeat("k", 1<<20)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"key of 100 bytes", notTensor(long[:100]), `the value of "` + long[:100] + `" is a str`},
		{"key of 1 MiB", notTensor(long), `the value of "` + long[:100] + `"… (1048576 bytes) is a str`},
		{"key of 2-byte characters", notTensor(strings.Repeat("é", 51)), `the value of "` + strings.Repeat("é", 50) + `"… (102 bytes) is a str`},
		{"storage key of 1 MiB", missingStorage(long), `storage "` + long[:100] + `"… (1048576 bytes) has no entry "archive/data/` + long[:87] + `"… (1048589 bytes)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ckpt.pt")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := checkpoints.Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %.300v…, want an error containing %q", err, tc.want)
			}
			if n := len(err.Error()); n > 1000 {
				t.Errorf("error of %d bytes, want at most 1000", n)
			}
		})
	}
}

// TestLoadBombs checks that files whose headers claim far more than their
// bytes hold, or whose pickle makes much from little through its memo, are
// refused by name without allocating what they claim.
func TestLoadBombs(t *testing.T) {
	f32 := map[string][]byte{"0": f32bytes(seq(4)...)}
	w := view{name: "w", key: "0", numel: 4, size: []int64{4}}
	sd := func(views ...view) []byte { return torchZip(t, new(pk).proto().stateDict(views...).stop().b, f32, nil) }
	// An OrderedDict built again and again from one memoized list of
	// 10000 pairs: 10 million entries from 100 KB, before a state dict.
	sharedList := new(pk).proto().op(']', 'q', 0).mark()
	for i := range 10000 {
		sharedList.int(int64(i)).op('N', 0x86)
	}
	sharedList.op('e', '0')
	for range 1000 {
		sharedList.global("collections", "OrderedDict").op('h', 0, 0x85, 'R', '0')
	}
	sharedList.stateDict(w).stop()
	// A list appended to itself through the memo, and lists nested deeply.
	memoLoop := new(pk).proto().op(']', 'q', 0)
	for range 1000 {
		memoLoop.op('h', 0, 'a')
	}
	nested := new(pk).proto()
	nested.b = append(nested.b, bytes.Repeat([]byte{']'}, 100000)...)
	nested.b = append(nested.b, bytes.Repeat([]byte{'a'}, 99999)...)
	// A storage entry whose zip header claims 2^40 bytes.
	var claims bytes.Buffer
	{
		zw := zip.NewWriter(&claims)
		add := func(name string, data []byte, size uint64) {
			fw, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Store, CompressedSize64: size, UncompressedSize64: size})
			if err != nil {
				t.Fatal(err)
			}
			fw.Write(data)
		}
		pkl := new(pk).proto().stateDict(view{name: "w", key: "0", numel: 1 << 38, size: []int64{1 << 38}}).stop().b
		add("archive/data.pkl", pkl, uint64(len(pkl)))
		add("archive/data/0", f32bytes(seq(4)...), 1<<40)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// One memoized 4 MiB string, pushed again for 2 bytes as the key of
	// 20000 dict items, or of 20000 storage references: each would hash
	// the whole key.
	const longKey = 4 << 20
	keyAgain := new(pk).proto().op('}').str(strings.Repeat("k", longKey)).op('q', 0, '0').mark()
	for range 20000 {
		keyAgain.op('h', 0, 'N')
	}
	keyAgain.op('u')
	storageAgain := new(pk).proto().op(']').str(strings.Repeat("k", longKey)).op('q', 0, '0').mark()
	storageAgain.global("torch", "FloatStorage").op('q', 1, '0')
	for i := range 16 { // enough storages that the lookup hashes its key
		storageAgain.mark().str("storage").op('h', 1).str(strconv.Itoa(i)).str("cpu").int(4).op('t', 'Q')
	}
	for range 20000 {
		storageAgain.mark().str("storage").op('h', 1, 'h', 0).str("cpu").int(4).op('t', 'Q')
	}
	storageAgain.op('e')
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"a 4 MiB key set again and again", torchZip(t, keyAgain.stop().b, f32, nil), "keys of more than 268435456 bytes in all"},
		{"a 4 MiB storage key referenced again and again", torchZip(t, storageAgain.stop().b, f32, nil), "keys of more than 268435456 bytes in all"},
		{"an OrderedDict of a shared list, again and again", torchZip(t, sharedList.b, f32, nil), "collections.OrderedDict of 10000 pairs: more than 1048576 values"},
		{"a list appended to itself", torchZip(t, memoLoop.stop().b, f32, nil), "holds a list, not a state dict"},
		{"lists nested 100000 deep", torchZip(t, nested.stop().b, f32, nil), "holds a list, not a state dict"},
		{"a FloatStorage of 2^40 elements", sd(view{name: "w", key: "0", numel: 1 << 40, size: []int64{1 << 40}}),
			`storage "0" of 1099511627776 F32 elements needs 4398046511104 bytes but "archive/data/0" has 16`},
		{"a storage entry claiming 2^40 bytes", claims.Bytes(), "entry archive/data/0 claims 1099511627776 bytes, more than the file holds"},
		{"a view of 2^60 elements", sd(view{name: "w", key: "0", numel: 4, size: []int64{1 << 30, 1 << 30}, stride: []int64{0, 1}}), "more elements than the file can hold"},
		{"a safetensors header of 2^63 bytes", append(binary.LittleEndian.AppendUint64(nil, 1<<63), `{"w":{}}`...), "header is 9223372036854775808 bytes long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "bomb.pt", tc.data)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := checkpoints.Load(path)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			if elapsed > 2*time.Second {
				t.Errorf("Load took %v, want a quick refusal", elapsed)
			}
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load: %v, want an error naming the file and containing %q", err, tc.want)
			}
			// A pickle may build at most 2^20 values, a few hundred MB.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 512<<20 {
				t.Errorf("Load allocated %d MiB from a %d byte file", alloc>>20, len(tc.data))
			}
		})
	}
}

// TestLoadDispatch checks Load picks the format by content, whatever the
// file name, including safetensors files whose first byte (the low byte of
// the header length) is a pickle's PROTO opcode.
func TestLoadDispatch(t *testing.T) {
	pad := func(h string, n int) string { return h + strings.Repeat(" ", n-len(h)) }
	hdr := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	torch := torchZip(t, new(pk).proto().stateDict(view{name: "a", key: "0", numel: 2, size: []int64{2}}).stop().b,
		map[string][]byte{"0": f32bytes(1, 2)}, nil)
	tests := []struct {
		name, file string
		data       []byte
	}{
		{"torch named .safetensors", "x.safetensors", torch},
		{"safetensors named .pt", "x.pt", safetensorsFile(hdr, f32bytes(1, 2))},
		{"safetensors header of 128 bytes", "x.safetensors", safetensorsFile(pad(hdr, 0x80), f32bytes(1, 2))},
		{"safetensors header of 640 bytes", "x.safetensors", safetensorsFile(pad(hdr, 0x280), f32bytes(1, 2))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sd, err := checkpoints.Load(writeTemp(t, tc.file, tc.data))
			if err != nil {
				t.Fatal(err)
			}
			got, err := sd.Tensors["a"].Float32()
			if err != nil || !slices.Equal(got, []float32{1, 2}) {
				t.Fatalf("a = %v, %v", got, err)
			}
		})
	}
}
