package checkpoints

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// ReadTorchLegacy parses a state dict in PyTorch's legacy (pre-zip)
// serialisation, as torch.save wrote it before torch 1.6 or with
// _use_new_zipfile_serialization=False; source names the file in errors.
//
// Such a file is five consecutive pickles (of any protocol from 2 to 5)
// followed by raw storage data: the magic number 0x1950a86a20f9469cfc6c,
// the protocol version (1001), a dict describing the writer's machine (byte
// order, type sizes), the state dict itself, and the list of storage keys;
// then, for each key of that list in order, an 8-byte element count and
// the storage's elements, both little-endian whatever the writer's machine
// (its little_endian entry is ignored, as torch.load ignores it). The
// pickles are read by the same restricted interpreter as ReadTorch
// (nothing is executed; Python 2 byte strings are accepted as text). The
// device a storage was saved from ("cuda:0", "cpu") is ignored: every
// tensor is read into host memory.
//
// As for ReadTorch, tensors come back row-major, and all reads are bounded
// by the file's size.
func ReadTorchLegacy(r io.ReaderAt, size int64, source string) (*StateDict, error) {
	if err := checkReader(r, size, source); err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("checkpoints: %s is not a valid legacy PyTorch checkpoint: %s", source, fmt.Sprintf(format, a...))
	}
	head := make([]byte, min(size, maxPickleSize))
	if _, err := r.ReadAt(head, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("checkpoints: reading %s: %w", source, err)
	}
	end := legacyMagicEnd(head)
	if end == 0 || len(head) <= end || head[end] != '.' {
		return nil, bad("it does not start with the legacy magic number")
	}
	u := &unpickler{memo: map[uint32]any{}, storages: map[string]*pyStorage{}}
	pos := end + 1
	next := func(what string) (any, error) {
		u.data, u.pos, u.stack, u.marks = head, pos, nil, nil
		clear(u.memo)
		obj, err := u.run()
		if err != nil {
			if u.pos >= len(head) && size > int64(len(head)) {
				return nil, bad("the %s pickle does not end within the first %d bytes", what, maxPickleSize)
			}
			return nil, bad("the %s pickle: %v", what, err)
		}
		pos = u.pos
		return obj, nil
	}
	if v, err := next("protocol version"); err != nil {
		return nil, err
	} else if n, ok := v.(int64); !ok || n != 1001 {
		return nil, bad("protocol version is %s, not 1001", aPyType(v))
	}
	// The system information says whether the writer's machine was
	// little-endian, but the legacy writer stores every count and element
	// little-endian on any machine (torch's writeFileRaw converts them),
	// and torch.load never reads the flag: a file whose flag says big-endian
	// still holds little-endian data, so the flag is ignored here too.
	if info, err := next("system information"); err != nil {
		return nil, err
	} else if _, ok := info.(*pyDict); !ok {
		return nil, bad("the system information is %s, not a dict", aPyType(info))
	}
	obj, err := next("state dict")
	if err != nil {
		return nil, err
	}
	top, err := stateDictOf(obj)
	if err != nil {
		return nil, bad("%v", err)
	}
	keysObj, err := next("storage key list")
	if err != nil {
		return nil, err
	}
	keys, ok := keysObj.(*pyList)
	if !ok {
		return nil, bad("the storage key list is %s", aPyType(keysObj))
	}
	a := &archive{source: source, copyBudget: size, storages: map[*pyStorage]*storageData{}}
	if err := a.readLegacyStorages(r, size, int64(pos), keys.items, u.storages, u.opaqueStorages); err != nil {
		return nil, err
	}
	sd := NewStateDict(source)
	for i, k := range top.keys {
		t, err := a.materialise(k.(string), top.values[i].(*pyTensor)) // types checked by stateDictOf
		if err != nil {
			return nil, err
		}
		if err := sd.Add(t); err != nil {
			return nil, err
		}
	}
	return sd, nil
}

// readLegacyStorages reads the storage records that follow the pickles,
// from offset off, into a.storages. Every key must name a storage a tensor
// refers to (its element type is known only from there), with the element
// count the pickle recorded. The records of storages in opaque, of types
// that cannot be read, are skipped when their element size is known.
func (a *archive) readLegacyStorages(r io.ReaderAt, size, off int64, keys []any, refs map[string]*pyStorage, opaque map[string]opaqueStorage) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("checkpoints: %s is not a valid legacy PyTorch checkpoint: %s", a.source, fmt.Sprintf(format, args...))
	}
	skipped := map[string]bool{}
	for _, k := range keys {
		key, ok := k.(string)
		if !ok {
			return bad("a storage key is %s, not a str", aPyType(k))
		}
		s, ok := refs[key]
		if !ok {
			o, ok := opaque[key]
			switch {
			case !ok:
				return bad("storage %s is listed but no tensor uses it", quoteName(key))
			case o.elemSize == 0:
				return bad("storage %s is a %s, a type that cannot be read (only float, integer and bool storages can), and the storages after it cannot be found without its size: "+
					"load the file with torch.load and re-save the state dict without it", quoteName(key), o.typ)
			}
			if _, dup := skipped[key]; dup {
				return bad("storage %s is listed twice", quoteName(key))
			}
			skipped[key] = true
			// Its tensors are placeholders: the record is skipped.
			next, err := a.legacyRecord(r, size, off, key, o.numel, o.elemSize, o.typ)
			if err != nil {
				return err
			}
			off = next + o.numel*o.elemSize
			continue
		}
		if _, dup := a.storages[s]; dup {
			return bad("storage %s is listed twice", quoteName(key))
		}
		es := int64(s.dtype.Size())
		next, err := a.legacyRecord(r, size, off, key, s.numel, es, string(s.dtype))
		if err != nil {
			return err
		}
		off = next
		b := make([]byte, s.numel*es)
		if _, err := r.ReadAt(b, off); err != nil && !(err == io.EOF && len(b) == 0) {
			return fmt.Errorf("checkpoints: reading storage %s of %s: %w", quoteName(key), a.source, err)
		}
		off += int64(len(b))
		a.storages[s] = &storageData{data: b}
	}
	var missing []string
	for key, s := range refs {
		if _, ok := a.storages[s]; !ok {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		for i, key := range missing {
			missing[i] = quoteName(key)
		}
		return bad("storages %s are used by tensors but not stored", listSome(missing, ", "))
	}
	if off != size {
		return bad("%d bytes follow the last storage", size-off)
	}
	return nil
}

// legacyRecord checks the element count at offset off that starts the
// record of storage key, of numel elements of es bytes (of type typ), and
// that its elements lie within the file; it returns where they start.
func (a *archive) legacyRecord(r io.ReaderAt, size, off int64, key string, numel, es int64, typ string) (int64, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("checkpoints: %s is not a valid legacy PyTorch checkpoint: %s", a.source, fmt.Sprintf(format, args...))
	}
	var nb [8]byte
	if off > size-8 {
		return 0, bad("the file ends before storage %s (truncated?)", quoteName(key))
	}
	if _, err := r.ReadAt(nb[:], off); err != nil {
		return 0, fmt.Errorf("checkpoints: reading %s: %w", a.source, err)
	}
	off += 8
	if n := binary.LittleEndian.Uint64(nb[:]); n != uint64(numel) {
		return 0, bad("storage %s holds %d elements but the state dict says %d", quoteName(key), n, numel)
	}
	if numel > (size-off)/es {
		return 0, bad("storage %s of %d %s elements reaches past the end of the file (truncated?)", quoteName(key), numel, typ)
	}
	return off, nil
}
