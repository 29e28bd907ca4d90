package checkpoints

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/internal/zipfile"
)

// LoadTorch reads a PyTorch state dict saved by torch.save in the zip
// format (torch ≥ 1.6; .pt, .pth or .bin files). See ReadTorch.
func LoadTorch(path string) (*StateDict, error) {
	f, size, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadTorch(f, size, path)
}

// ReadTorch parses a PyTorch zip checkpoint of the given size (see
// ReadTorchLegacy for the format before torch 1.6); source names
// it in errors.
//
// The archive holds <name>/data.pkl, a pickle of the state dict, and one
// <name>/data/<key> file per storage. The pickle is interpreted by a minimal
// interpreter that knows only what state dicts use (dicts, OrderedDict,
// tensors, parameters, storages and plain values) and never runs code: any
// other global (argparse.Namespace, a numpy scalar, os.system) is never
// imported or called but stands for an inert placeholder, as does all that
// is built from it.
//
// The top-level object must be a dict whose values are all tensors. A
// checkpoint that wraps its state dict in a dict of other things ({"model":
// {...}, "epoch": 3, "args": Namespace(...)}) is unwrapped when exactly one
// of its values is a dict of tensors (one dict under several keys, as in
// {"model": sd, "ema": sd}, counts once); with several candidates the error
// lists the first keys. A placeholder inside the state dict is an error that
// names its key and its global.
//
// Tensors come back row-major whatever their strides and storage offset;
// tensors sharing a storage get their own bytes. A tensor that covers all of
// its storage takes the storage's bytes without a copy, so memory stays close
// to the file size: all reads and copies together are capped at twice the
// file size, and a corrupt or hostile file is an error, never a panic.
func ReadTorch(r io.ReaderAt, size int64, source string) (*StateDict, error) {
	if err := checkReader(r, size, source); err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("checkpoints: %s is not a valid PyTorch checkpoint: %s", source, fmt.Sprintf(format, a...))
	}
	zr, err := zipfile.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // names are only looked up, never used as paths
		return nil, bad("reading the zip archive: %v", err)
	}
	a := &archive{source: source, files: map[string]*zip.File{}, readBudget: size, copyBudget: size}
	var pkl []string
	for _, f := range zr.File {
		if _, dup := a.files[f.Name]; dup {
			return nil, bad("the archive has two entries named %q", f.Name)
		}
		a.files[f.Name] = f
		if path.Base(f.Name) == "data.pkl" && strings.Count(f.Name, "/") == 1 {
			pkl = append(pkl, f.Name)
		}
	}
	switch len(pkl) {
	case 0:
		return nil, bad("the zip archive has no <name>/data.pkl (a zip file, but not one written by torch.save)")
	case 1:
	default:
		return nil, bad("the zip archive has %d data.pkl entries (%s)", len(pkl), strings.Join(pkl, ", "))
	}
	a.prefix = path.Dir(pkl[0]) + "/"
	if f, ok := a.files[a.prefix+"byteorder"]; ok {
		if f.UncompressedSize64 > 16 {
			return nil, bad("byteorder entry of %d bytes", f.UncompressedSize64)
		}
		b, err := a.read(f)
		if err != nil {
			return nil, err
		}
		switch strings.TrimSpace(string(b)) {
		case "little":
		case "big":
			a.bigEndian = true
		default:
			return nil, bad("byteorder is %s, not little or big", quoteName(string(b)))
		}
	}
	f := a.files[pkl[0]]
	if f.UncompressedSize64 > maxPickleSize {
		return nil, bad("%s is %d bytes (a state dict pickle is at most %d)", f.Name, f.UncompressedSize64, maxPickleSize)
	}
	data, err := a.read(f)
	if err != nil {
		return nil, err
	}
	obj, err := unpickle(data)
	if err != nil {
		return nil, bad("%s: %v", f.Name, err)
	}
	top, err := stateDictOf(obj)
	if err != nil {
		return nil, bad("%v", err)
	}
	sd := NewStateDict(source)
	for i, k := range top.keys {
		name := k.(string) // checked by stateDictOf
		t, err := a.materialise(name, top.values[i].(*pyTensor))
		if err != nil {
			return nil, err
		}
		if err := sd.Add(t); err != nil {
			return nil, err
		}
	}
	return sd, nil
}

// stateDictOf returns the dict of tensors in the unpickled object,
// unwrapping one level of wrapper dict if needed.
func stateDictOf(obj any) (*pyDict, error) {
	d, ok := obj.(*pyDict)
	if o, opaque := obj.(*pyOpaque); opaque && !o.tensor {
		return nil, fmt.Errorf("the pickle holds %s, not a state dict; its global is never imported or run, so such a file cannot be read: "+
			"if it is a whole pickled model, save its state_dict() instead (torch.save(model.state_dict(), path))", aPyType(obj))
	}
	if !ok {
		return nil, fmt.Errorf("the pickle holds %s, not a state dict", aPyType(obj))
	}
	if tensorDict(d) == nil {
		return d, nil
	}
	subs, subKeys := subDicts(d)
	var candidates []string
	var found *pyDict
	for i, sub := range subs {
		if len(sub.keys) > 0 && tensorDict(sub) == nil {
			candidates = append(candidates, quoteName(subKeys[i]))
			found = sub
		}
	}
	switch len(candidates) {
	case 1:
		return found, nil
	case 0:
		if isOptimizerState(d) {
			return nil, errors.New("the pickle holds an optimizer's state_dict (keys \"state\" and \"param_groups\"), not a model's weights: " +
				"give the model's checkpoint (guided-diffusion's training writes it beside opt*.pt as model*.pt, and its EMA as ema_*.pt)")
		}
		// A wrapper (a dict without tensors of its own): say why each dict
		// of tensors it holds is not a state dict.
		var why []string
		for i, sub := range subs {
			if holdsTensor(sub) {
				why = append(why, fmt.Sprintf("in %s, %v", quoteName(subKeys[i]), tensorDict(sub)))
			}
		}
		if len(why) > 0 && !holdsTensor(d) {
			return nil, fmt.Errorf("the top-level dict holds no state dict: %s", listSome(why, "; "))
		}
		return nil, fmt.Errorf("the top-level dict is not a state dict: %v", tensorDict(d))
	}
	return nil, fmt.Errorf("the top-level dict wraps %d state dicts (%s): re-save the one you want with torch.save(ckpt[key], path)",
		len(candidates), listSome(candidates, ", "))
}

// subDicts returns the distinct dicts that d holds under str keys, each
// with its first key. A dict held under several keys (a pickle's memo
// lets it repeat one at no cost) is returned once, so that each is
// inspected once.
func subDicts(d *pyDict) ([]*pyDict, []string) {
	var subs []*pyDict
	var keys []string
	seen := map[*pyDict]bool{}
	for i, v := range d.values {
		sub, ok := v.(*pyDict)
		k, isStr := d.keys[i].(string)
		if !ok || !isStr || seen[sub] {
			continue
		}
		seen[sub] = true
		subs = append(subs, sub)
		keys = append(keys, k)
	}
	return subs, keys
}

// maxListedKeys bounds the entries an error about a wrapper dict lists.
const maxListedKeys = 5

// listSome joins up to maxListedKeys of items with sep, and says how many
// more there are.
func listSome(items []string, sep string) string {
	if len(items) <= maxListedKeys {
		return strings.Join(items, sep)
	}
	return fmt.Sprintf("%s%sand %d more", strings.Join(items[:maxListedKeys], sep), sep, len(items)-maxListedKeys)
}

// isOptimizerState reports whether d is a torch.optim optimizer's
// state_dict: a dict of "state" and "param_groups".
func isOptimizerState(d *pyDict) bool {
	var state, groups bool
	for _, k := range d.keys {
		switch k {
		case "state":
			state = true
		case "param_groups":
			groups = true
		}
	}
	return state && groups && len(d.keys) == 2
}

// tensorDict returns nil if d maps strings to tensors, else an error saying
// which entry is not.
func tensorDict(d *pyDict) error {
	for i, k := range d.keys {
		ks, ok := k.(string)
		if !ok {
			return fmt.Errorf("key %d is %s, not a str", i, aPyType(k))
		}
		switch v := d.values[i].(type) {
		case *pyTensor:
		case *pyOpaque:
			if v.tensor {
				return fmt.Errorf("the value of %s is a tensor of %s, a storage type that cannot be read (only float, integer and bool tensors can)", quoteName(ks), v.global)
			}
			return fmt.Errorf("the value of %s is %s, not a tensor (the global %s is never imported or run; a state dict holds only tensors)", quoteName(ks), aPyType(v), v.global)
		default:
			return fmt.Errorf("the value of %s is %s, not a tensor", quoteName(ks), aPyType(v))
		}
	}
	return nil
}

// holdsTensor reports whether any value of d is a tensor.
func holdsTensor(d *pyDict) bool {
	for _, v := range d.values {
		if _, ok := v.(*pyTensor); ok {
			return true
		}
	}
	return false
}

// archive reads the entries of one checkpoint, within a memory budget.
type archive struct {
	source     string
	prefix     string // "<name>/"
	files      map[string]*zip.File
	bigEndian  bool
	readBudget int64 // bytes that entries may still take when read
	copyBudget int64 // bytes that tensor copies may still take
	// storages holds the storages read so far; a storage whose bytes were
	// handed to a tensor without a copy is marked taken. The interpreter
	// keeps one pyStorage per key, so they are told apart without hashing
	// their keys, which the memo lets a pickle repeat at no cost.
	storages map[*pyStorage]*storageData
}

type storageData struct {
	data  []byte
	taken bool
}

// read returns the bytes of one stored entry, after checking its declared
// size against the budget. The zip reader checks the size and CRC as it reads.
func (a *archive) read(f *zip.File) ([]byte, error) {
	if f.Method != zip.Store {
		return nil, fmt.Errorf("checkpoints: %s: entry %s is compressed (method %d); torch.save stores entries uncompressed, re-save the checkpoint with torch.save",
			a.source, f.Name, f.Method)
	}
	n := f.UncompressedSize64
	if n != f.CompressedSize64 || n > uint64(a.readBudget) {
		return nil, fmt.Errorf("checkpoints: %s is not a valid PyTorch checkpoint: entry %s claims %d bytes, more than the file holds", a.source, f.Name, n)
	}
	a.readBudget -= int64(n)
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %s: opening %s: %w", a.source, f.Name, err)
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("checkpoints: %s: reading %s (truncated or corrupt file?): %w", a.source, f.Name, err)
	}
	// Reading to EOF makes the zip reader verify the CRC-32.
	if _, err := rc.Read(make([]byte, 1)); err != io.EOF {
		if err == nil {
			err = errors.New("longer than declared")
		}
		return nil, fmt.Errorf("checkpoints: %s: reading %s (truncated or corrupt file?): %w", a.source, f.Name, err)
	}
	return b, nil
}

// storage returns the bytes of storage s, read once and shared.
func (a *archive) storage(s *pyStorage) (*storageData, error) {
	if d, ok := a.storages[s]; ok {
		return d, nil
	}
	name := a.prefix + "data/" + s.key
	f, ok := a.files[name]
	if !ok {
		return nil, fmt.Errorf("checkpoints: %s is not a valid PyTorch checkpoint: storage %s has no entry %s", a.source, quoteName(s.key), quoteName(name))
	}
	es := uint64(s.dtype.Size())
	if uint64(s.numel) > f.UncompressedSize64/es {
		need := "more than 2^63"
		if uint64(s.numel) <= math.MaxInt64/es {
			need = strconv.FormatUint(uint64(s.numel)*es, 10)
		}
		return nil, fmt.Errorf("checkpoints: %s is not a valid PyTorch checkpoint: storage %s of %d %s elements needs %s bytes but %s has %d",
			a.source, quoteName(s.key), s.numel, s.dtype, need, quoteName(name), f.UncompressedSize64)
	}
	b, err := a.read(f)
	if err != nil {
		return nil, err
	}
	b = b[:uint64(s.numel)*es]
	if a.bigEndian {
		swapBytes(b, int(es))
	}
	if a.storages == nil {
		a.storages = map[*pyStorage]*storageData{}
	}
	d := &storageData{data: b}
	a.storages[s] = d
	return d, nil
}

// swapBytes reverses the bytes of each element of size es in place.
func swapBytes(b []byte, es int) {
	if es == 1 {
		return
	}
	for i := 0; i+es <= len(b); i += es {
		slices.Reverse(b[i : i+es])
	}
}

// materialise returns the tensor named name: its view of its storage,
// row-major.
func (a *archive) materialise(name string, t *pyTensor) (*Tensor, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("checkpoints: %s is not a valid PyTorch checkpoint: tensor %s: %s", a.source, quoteName(name), fmt.Sprintf(format, args...))
	}
	s := t.storage
	es := int64(s.dtype.Size())
	// A view may hold more elements than its storage (stride 0 repeats
	// elements), but never more than the memory budget allows.
	limit := max(s.numel, a.copyBudget/es)
	shape := make([]int, len(t.size))
	numel := int64(1)
	for i, d := range t.size {
		shape[i] = int(d)
		if numel == 0 || d == 0 {
			numel = 0
			continue
		}
		if numel > limit/d {
			return nil, bad("shape %v has more elements than the file can hold", t.size)
		}
		numel *= d
	}
	if numel == 0 || slices.Contains(t.size, 0) {
		return &Tensor{Name: name, DType: s.dtype, Shape: shape, Data: []byte{}}, nil
	}
	// The last element sits at offset + sum((size_i-1)*stride_i); each term is
	// checked against the storage size before it is added.
	last := t.offset
	if last >= s.numel {
		return nil, bad("storage offset %d is outside its storage of %d elements", t.offset, s.numel)
	}
	for i, d := range t.size {
		st := t.stride[i]
		if d > 1 && st > 0 && (st > s.numel || d-1 > (s.numel-last)/st) {
			return nil, bad("shape %v with strides %v and offset %d reaches past its storage of %d elements", t.size, t.stride, t.offset, s.numel)
		}
		last += (d - 1) * st
	}
	if last >= s.numel {
		return nil, bad("shape %v with strides %v and offset %d reaches past its storage of %d elements", t.size, t.stride, t.offset, s.numel)
	}
	sd, err := a.storage(s)
	if err != nil {
		return nil, err
	}
	nbytes := numel * es
	if contiguous(t.size, t.stride) {
		lo := t.offset * es
		if lo == 0 && nbytes == int64(len(sd.data)) && !sd.taken {
			sd.taken = true
			return &Tensor{Name: name, DType: s.dtype, Shape: shape, Data: sd.data}, nil
		}
		if err := a.charge(name, nbytes); err != nil {
			return nil, err
		}
		return &Tensor{Name: name, DType: s.dtype, Shape: shape, Data: slices.Clone(sd.data[lo : lo+nbytes])}, nil
	}
	if err := a.charge(name, nbytes); err != nil {
		return nil, err
	}
	out := make([]byte, nbytes)
	gather(out, sd.data, t.size, t.stride, t.offset, es)
	return &Tensor{Name: name, DType: s.dtype, Shape: shape, Data: out}, nil
}

// charge takes n bytes of copies from the budget.
func (a *archive) charge(name string, n int64) error {
	if n > a.copyBudget {
		return fmt.Errorf("checkpoints: %s is not a valid PyTorch checkpoint: tensor %s: copying its %d bytes would take more memory than the file's size allows (views of shared storages add up past it)", a.source, quoteName(name), n)
	}
	a.copyBudget -= n
	return nil
}

// contiguous reports whether strides are the row-major strides of size
// (dimensions of size 1 may have any stride).
func contiguous(size, stride []int64) bool {
	want := int64(1)
	for i := len(size) - 1; i >= 0; i-- {
		if size[i] != 1 && stride[i] != want {
			return false
		}
		want *= size[i]
	}
	return true
}

// gather copies the strided view of src (elements of es bytes) into out,
// row-major. Bounds were checked by the caller.
func gather(out, src []byte, size, stride []int64, offset, es int64) {
	idx := make([]int64, len(size))
	pos := offset // element offset in src of the current index
	for o := int64(0); o < int64(len(out)); o += es {
		copy(out[o:o+es], src[pos*es:(pos+1)*es])
		for d := len(size) - 1; d >= 0; d-- {
			idx[d]++
			pos += stride[d]
			if idx[d] < size[d] {
				break
			}
			pos -= stride[d] * size[d]
			idx[d] = 0
		}
	}
}

// openRegular opens path for reading and returns its size; a directory or
// an empty file is an error naming the file.
func openRegular(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("checkpoints: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("checkpoints: %w", err)
	}
	if st.IsDir() {
		f.Close()
		return nil, 0, fmt.Errorf("checkpoints: %s is a directory, not a checkpoint file", path)
	}
	if st.Size() == 0 {
		f.Close()
		return nil, 0, fmt.Errorf("checkpoints: %s is empty (0 bytes), not a checkpoint", path)
	}
	return f, st.Size(), nil
}

// legacyMagicLong is LONG1 of the magic number 0x1950a86a20f9469cfc6c that
// starts torch.save's legacy (non-zip) format.
const legacyMagicLong = "\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"

// legacyMagicEnd returns where the magic number of a legacy torch.save file
// ends in head, its first bytes, or 0 when head does not start with it. The
// first pickle of such a file is PROTO 2 to 5 (torch.save's
// pickle_protocol), a FRAME from protocol 4 on, LONG1 of the magic number
// and STOP, which the caller checks.
func legacyMagicEnd(head []byte) int {
	if len(head) < 2 || head[0] != 0x80 || head[1] < 2 || head[1] > 5 {
		return 0
	}
	i := 2
	if len(head) > i && head[i] == 0x95 { // FRAME and its 8-byte length
		i += 9
	}
	if len(head) < i+len(legacyMagicLong) || string(head[i:i+len(legacyMagicLong)]) != legacyMagicLong {
		return 0
	}
	return i + len(legacyMagicLong)
}

// Load reads a checkpoint of either format, chosen by content, not by file
// name: a zip archive ("PK\x03\x04") is read as a PyTorch checkpoint (see
// ReadTorch), a pickle starting with torch.save's magic number as a legacy
// PyTorch checkpoint (before torch 1.6, or _use_new_zipfile_serialization
// =False; see ReadTorchLegacy), anything else as safetensors (see
// ReadSafetensors).
func Load(path string) (*StateDict, error) {
	f, size, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, min(size, 32))
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), head); err != nil {
		return nil, fmt.Errorf("checkpoints: reading %s: %w", path, err)
	}
	switch {
	case strings.HasPrefix(string(head), "PK\x03\x04"):
		return ReadTorch(f, size, path)
	case strings.HasPrefix(string(head), "PK\x05\x06"):
		return nil, fmt.Errorf("checkpoints: %s is an empty zip archive, not a PyTorch checkpoint", path)
	case plausibleSafetensors(head, size):
		return ReadSafetensors(f, size, path)
	case legacyMagicEnd(head) > 0:
		return ReadTorchLegacy(f, size, path)
	case head[0] == 0x80: // a pickle: PROTO
		return nil, fmt.Errorf("checkpoints: %s is a pickle but not a PyTorch checkpoint (no torch.save magic number)", path)
	case len(head) >= 9 && head[8] == '{':
		n := binary.LittleEndian.Uint64(head)
		return nil, fmt.Errorf("checkpoints: %s looks like a truncated safetensors file: its header is %d bytes long, but the file holds %d bytes in all", path, n, size)
	}
	return nil, fmt.Errorf("checkpoints: %s is not a PyTorch zip checkpoint or safetensors file (it starts with %q)", path, head[:min(len(head), 8)])
}

// plausibleSafetensors reports whether head, the first bytes of a file of
// the given size, can start a safetensors file: a header length that fits,
// then '{'.
func plausibleSafetensors(head []byte, size int64) bool {
	if len(head) < 9 {
		return false
	}
	n := binary.LittleEndian.Uint64(head)
	return n >= 2 && n <= uint64(size-8) && head[8] == '{'
}
