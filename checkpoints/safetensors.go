package checkpoints

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/cadps/toolkit/internal/atomicfile"
)

// maxHeader bounds the JSON header of a safetensors file (the format's own
// limit is 100 MB).
const maxHeader = 100 << 20

type stEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// LoadSafetensors reads a whole safetensors file.
func LoadSafetensors(path string) (*StateDict, error) {
	f, size, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadSafetensors(f, size, path)
}

// ReadMetadata returns the __metadata__ of the safetensors file at path,
// reading only its header (empty when it has none), or nil for a file in
// another format, such as a PyTorch checkpoint.
func ReadMetadata(path string) (map[string]string, error) {
	f, size, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, min(size, 16))
	if _, err := f.ReadAt(head, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("checkpoints: reading %s: %w", path, err)
	}
	if !plausibleSafetensors(head, size) {
		return nil, nil
	}
	raw, _, err := readHeader(f, size, path)
	if err != nil {
		return nil, err
	}
	md := map[string]string{}
	if msg, ok := raw["__metadata__"]; ok {
		if err := json.Unmarshal(msg, &md); err != nil {
			return nil, fmt.Errorf("checkpoints: %s is not a valid safetensors file: __metadata__: %v", path, err)
		}
	}
	return md, nil
}

// readHeader reads the JSON header of a safetensors file of the given size
// and returns its entries by name and the offset where the data starts;
// source names the file in errors.
func readHeader(r io.ReaderAt, size int64, source string) (map[string]json.RawMessage, int64, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("checkpoints: %s is not a valid safetensors file: %s", source, fmt.Sprintf(format, a...))
	}
	var lenBuf [8]byte
	if size < 8 {
		return nil, 0, bad("only %d bytes", size)
	}
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, 0, bad("reading header length: %v", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxHeader || int64(n) > size-8 {
		return nil, 0, bad("header length %d exceeds the file (%d bytes)", n, size)
	}
	hdr := make([]byte, n)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, 0, bad("reading header: %v", err)
	}
	raw, err := parseHeader(hdr)
	if err != nil {
		return nil, 0, bad("%v", err)
	}
	return raw, 8 + int64(n), nil
}

// parseHeader decodes the JSON object of a safetensors header into its
// entries by name. A name given twice and anything but the spaces writers
// pad it with after the object are errors, as in the reference reader.
func parseHeader(hdr []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if tok, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("header JSON: %v", err)
	} else if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("header JSON: %v, not an object", tok)
	}
	raw := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("header JSON: %v", err)
		}
		name, ok := tok.(string)
		if !ok { // Token reports a key that is not a string as an error
			return nil, fmt.Errorf("header JSON: key %v is not a string", tok)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("header JSON: the value of %s: %v", quoteName(name), err)
		}
		if _, dup := raw[name]; dup {
			return nil, fmt.Errorf("the header names %s twice (which entry holds the tensor is ambiguous): rewrite the file with one entry per name", quoteName(name))
		}
		raw[name] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("header JSON: %v", err)
	}
	rest := hdr[dec.InputOffset():]
	if junk := bytes.TrimLeft(rest, " \t\r\n"); len(junk) > 0 {
		return nil, fmt.Errorf("the header's JSON object ends %d bytes before the header does, and the rest is not padding (%q): the header length or the header is corrupt",
			len(rest), junk[:min(len(junk), 16)])
	}
	return raw, nil
}

// checkReader returns an error naming source unless a reader was given
// (r not nil) and size, the file's, is not negative: the Read functions'
// common check of their arguments.
func checkReader(r io.ReaderAt, size int64, source string) error {
	switch {
	case r == nil:
		return fmt.Errorf("checkpoints: reading %s: no reader (nil)", source)
	case size < 0:
		return fmt.Errorf("checkpoints: reading %s: size %d is negative", source, size)
	}
	return nil
}

// ReadSafetensors parses a safetensors file of the given size; source names
// it in errors. Every offset is checked against the size before anything is
// allocated, so a corrupt or hostile file is an error, never a panic or a
// huge allocation.
func ReadSafetensors(r io.ReaderAt, size int64, source string) (*StateDict, error) {
	if err := checkReader(r, size, source); err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("checkpoints: %s is not a valid safetensors file: %s", source, fmt.Sprintf(format, a...))
	}
	raw, dataStart, err := readHeader(r, size, source)
	if err != nil {
		return nil, err
	}
	dataSize := size - dataStart
	sd := NewStateDict(source)
	type item struct {
		name string
		e    stEntry
	}
	var items []item
	for name, msg := range raw {
		if name == "__metadata__" {
			md := map[string]string{}
			if err := json.Unmarshal(msg, &md); err != nil {
				return nil, bad("__metadata__: %v", err)
			}
			sd.Metadata = md
			continue
		}
		var e stEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, bad("entry %s: %v", quoteName(name), err)
		}
		items = append(items, item{name, e})
	}
	// A file cut short: its header places data past its end.
	var end int64
	for _, it := range items {
		end = max(end, it.e.DataOffsets[1])
	}
	if end > dataSize {
		return nil, bad("its header places tensor data up to byte %d after the header, but the file holds %d bytes there (%d in all): the file is truncated (an incomplete download? compare its size with the original's) or its header is corrupt",
			end, dataSize, size)
	}
	for _, it := range items {
		if msg := it.e.check(it.name, dataSize); msg != "" {
			return nil, bad("%s", msg)
		}
	}
	// File order: by data offset (JSON object order is not kept by Go maps).
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i].e.DataOffsets, items[j].e.DataOffsets
		if a != b { // empty tensors first at equal starts, as writers place them
			return a[0] < b[0] || a[0] == b[0] && a[1] < b[1]
		}
		return items[i].name < items[j].name
	})
	// The tensors cover the data section exactly, in offset order, as the
	// reference reader requires: no overlap (so the tensors' bytes together
	// never exceed the file), no gap and nothing after the last tensor.
	var prevHi int64
	for i, it := range items {
		lo, hi := it.e.DataOffsets[0], it.e.DataOffsets[1]
		switch {
		case lo < prevHi:
			return nil, bad("tensor %s at [%d,%d) overlaps tensor %s", quoteName(it.name), lo, hi, quoteName(items[i-1].name))
		case lo > prevHi && i == 0:
			return nil, bad("the data section starts with %d bytes that no tensor holds (the first, %s, starts at %d): the file is corrupt or was not written by a safetensors writer", lo, quoteName(it.name), lo)
		case lo > prevHi:
			return nil, bad("%d bytes between tensor %s (ending at %d) and tensor %s (starting at %d) belong to no tensor: the file is corrupt or was not written by a safetensors writer",
				lo-prevHi, quoteName(items[i-1].name), prevHi, quoteName(it.name), lo)
		}
		prevHi = hi
	}
	if prevHi != dataSize {
		return nil, bad("%d bytes after the last tensor belong to no tensor (the data section is %d bytes, the tensors cover %d): the file is corrupt or was not written by a safetensors writer",
			dataSize-prevHi, dataSize, prevHi)
	}
	for _, it := range items {
		lo, hi := it.e.DataOffsets[0], it.e.DataOffsets[1]
		data := make([]byte, hi-lo)
		if _, err := r.ReadAt(data, dataStart+lo); err != nil && !(err == io.EOF && int64(len(data)) == 0) {
			return nil, bad("reading tensor %s: %v", quoteName(it.name), err)
		}
		shape := it.e.Shape
		if shape == nil {
			shape = []int{}
		}
		if err := sd.Add(&Tensor{Name: it.name, DType: it.e.DType, Shape: shape, Data: data}); err != nil {
			return nil, err
		}
	}
	return sd, nil
}

// check returns why the entry of tensor name cannot be read from a data
// section of dataSize bytes (an unsupported dtype, an impossible shape,
// offsets outside the data or not matching the shape), or "".
func (e stEntry) check(name string, dataSize int64) string {
	es := e.DType.Size()
	if es == 0 {
		return fmt.Sprintf("tensor %s has unsupported dtype %s", quoteName(name), quoteName(string(e.DType)))
	}
	count := int64(1)
	if slices.Contains(e.Shape, 0) {
		count = 0 // an empty tensor, whatever its other dimensions
	}
	for _, d := range e.Shape {
		if d < 0 || (count > 0 && count > dataSize/int64(d)) {
			return fmt.Sprintf("tensor %s has impossible shape %v", quoteName(name), e.Shape)
		}
		count *= int64(d)
	}
	lo, hi := e.DataOffsets[0], e.DataOffsets[1]
	if lo < 0 || hi < lo || hi > dataSize {
		return fmt.Sprintf("tensor %s has offsets [%d,%d) outside the %d data bytes", quoteName(name), lo, hi, dataSize)
	}
	if hi-lo != count*int64(es) {
		return fmt.Sprintf("tensor %s: %d bytes for shape %v of %s", quoteName(name), hi-lo, e.Shape, e.DType)
	}
	return ""
}

// WriteSafetensors writes sd to w in safetensors format, tensors in sd.Names order.
// A nil sd, or a name of sd.Names without a tensor, is an error, returned
// before anything is written.
func WriteSafetensors(w io.Writer, sd *StateDict) error {
	if sd == nil {
		return errors.New("checkpoints: no state dict to write (nil)")
	}
	header := map[string]any{}
	if len(sd.Metadata) > 0 {
		header["__metadata__"] = sd.Metadata
	}
	var off int64
	for _, name := range sd.Names {
		t := sd.Tensors[name]
		if t == nil {
			return fmt.Errorf("checkpoints: %s: tensor %s is listed in Names but has no tensor", sd.Source, quoteName(name))
		}
		// A shape whose count overflows would be written, and refused by
		// every reader as impossible.
		if _, err := t.checkData(); err != nil {
			return fmt.Errorf("checkpoints: %w", err)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[name] = stEntry{DType: t.DType, Shape: shape, DataOffsets: [2]int64{off, off + int64(len(t.Data))}}
		off += int64(len(t.Data))
	}
	hdr, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("checkpoints: encoding header: %w", err)
	}
	for len(hdr)%8 != 0 { // align the data section, as the reference writer does
		hdr = append(hdr, ' ')
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for _, name := range sd.Names {
		if _, err := w.Write(sd.Tensors[name].Data); err != nil {
			return err
		}
	}
	return nil
}

// SaveSafetensors writes sd to path atomically: to a temporary file in the
// same folder, then renamed, so that a crash never leaves a partial file.
func SaveSafetensors(path string, sd *StateDict) error {
	if sd == nil {
		return fmt.Errorf("checkpoints: writing %s: no state dict (nil)", path)
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { return WriteSafetensors(w, sd) }); err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	return nil
}
