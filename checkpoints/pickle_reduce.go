package checkpoints

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// binString reads the argument of SHORT_BINSTRING (short) or BINSTRING: a
// length and that many bytes, which must be UTF-8.
func (u *unpickler) binString(short bool) (string, error) {
	var n int
	if short {
		b, ok := u.read(1)
		if !ok {
			return "", fmt.Errorf("truncated: the pickle ends inside the opcode's argument")
		}
		n = int(b[0])
	} else {
		b, ok := u.read(4)
		if !ok {
			return "", fmt.Errorf("truncated: the pickle ends inside the opcode's argument")
		}
		n = int(int32(binary.LittleEndian.Uint32(b)))
	}
	b, ok := u.read(n)
	if !ok {
		return "", fmt.Errorf("string of %d bytes but only %d bytes remain", n, len(u.data)-u.pos)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("string is not valid UTF-8")
	}
	return string(b), nil
}

// setItems adds key/value pairs from a flat list to d.
func (u *unpickler) setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("odd number of values (%d) for key/value pairs", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if err := u.setItem(d, items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// setItem sets d[key] = value, charging the key's bytes against
// maxKeyBytes first.
func (u *unpickler) setItem(d *pyDict, key, value any) error {
	if err := u.chargeKey(key); err != nil {
		return err
	}
	d.set(key, value)
	return nil
}

// reduce evaluates an allow-listed callable on its arguments. Calling a
// placeholder makes another placeholder, without looking at the arguments,
// and so does rebuilding a tensor or parameter from a placeholder storage
// or tensor.
func (u *unpickler) reduce(f, a any) (any, error) {
	if o, ok := f.(*pyOpaque); ok {
		return o.made(), nil
	}
	g, ok := f.(pyGlobal)
	if !ok {
		return nil, fmt.Errorf("calling %s", aPyType(f))
	}
	args, ok := a.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("arguments of %s are %s, not a tuple", g, aPyType(a))
	}
	if strings.HasPrefix(g.name, "_rebuild_") && len(args) > 0 {
		if o, ok := args[0].(*pyOpaque); ok && o.tensor {
			return o.made(), nil
		}
	}
	switch g.String() {
	case "collections.OrderedDict":
		switch len(args) {
		case 0:
			return newPyDict(), nil
		case 1: // legacy torch.save: OrderedDict([[key, value], ...])
			return u.orderedDictOf(args[0])
		}
		return nil, fmt.Errorf("collections.OrderedDict with %d arguments", len(args))
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		// (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
		if g.name == "_rebuild_tensor" && len(args) != 4 || g.name != "_rebuild_tensor" && (len(args) < 6 || len(args) > 7) {
			return nil, fmt.Errorf("%s with %d arguments", g, len(args))
		}
		return newTensor(g, args)
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		// (data, requires_grad, backward_hooks[, state])
		if len(args) < 3 || len(args) > 4 {
			return nil, fmt.Errorf("%s with %d arguments", g, len(args))
		}
		t, ok := args[0].(*pyTensor)
		if !ok {
			return nil, fmt.Errorf("%s of %s, not a tensor", g, aPyType(args[0]))
		}
		return t, nil
	}
	return nil, fmt.Errorf("%s cannot be called", g)
}

// orderedDictOf builds a dict from a list of [key, value] pairs. The
// entries count against maxPickleItems, as the list may be a memoized one
// that the pickle passes many times.
func (u *unpickler) orderedDictOf(v any) (*pyDict, error) {
	l, ok := v.(*pyList)
	if !ok {
		return nil, fmt.Errorf("collections.OrderedDict of %s, not a list of pairs", aPyType(v))
	}
	if err := u.charge(len(l.items)); err != nil {
		return nil, fmt.Errorf("collections.OrderedDict of %d pairs: %w", len(l.items), err)
	}
	d := newPyDict()
	for i, item := range l.items {
		var pair []any
		switch p := item.(type) {
		case *pyList:
			pair = p.items
		case pyTuple:
			pair = p
		}
		if len(pair) != 2 {
			return nil, fmt.Errorf("collections.OrderedDict: item %d is %s, not a [key, value] pair", i, aPyType(item))
		}
		if err := u.setItem(d, pair[0], pair[1]); err != nil {
			return nil, fmt.Errorf("collections.OrderedDict: item %d: %w", i, err)
		}
	}
	return d, nil
}

// newTensor checks the arguments of _rebuild_tensor_v2 and returns the view.
func newTensor(g pyGlobal, args pyTuple) (*pyTensor, error) {
	s, ok := args[0].(*pyStorage)
	if !ok {
		return nil, fmt.Errorf("%s: storage is %s", g, aPyType(args[0]))
	}
	off, ok := args[1].(int64)
	if !ok || off < 0 {
		return nil, fmt.Errorf("%s: storage offset must be a non-negative int", g)
	}
	size, err := intTuple(args[2])
	if err != nil {
		return nil, fmt.Errorf("%s: size %v", g, err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, fmt.Errorf("%s: stride %v", g, err)
	}
	if len(size) != len(stride) {
		return nil, fmt.Errorf("%s: size has %d dimensions but stride %d", g, len(size), len(stride))
	}
	return &pyTensor{storage: s, offset: off, size: size, stride: stride}, nil
}

// intTuple converts a tuple of non-negative ints.
func intTuple(v any) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("is %s, not a tuple", aPyType(v))
	}
	if len(t) > maxTensorDims {
		return nil, fmt.Errorf("has %d dimensions (at most %d)", len(t), maxTensorDims)
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("element %d is not a non-negative int", i)
		}
		out[i] = n
	}
	return out, nil
}

// persistent resolves a BINPERSID storage reference: a *pyStorage, or a
// placeholder for a storage of a type that cannot be read.
func (u *unpickler) persistent(pid any) (any, error) {
	// The legacy format appends a sixth element, the view metadata, which
	// torch.save has written as None since storage views were removed.
	t, ok := pid.(pyTuple)
	if ok && len(t) == 6 {
		if _, none := t[5].(pyNone); !none {
			return nil, fmt.Errorf("persistent id refers to a storage view (%s), which is not supported", aPyType(t[5]))
		}
		t = t[:5]
	}
	if !ok || len(t) != 5 {
		return nil, fmt.Errorf("persistent id is not a 5-tuple ('storage', type, key, location, numel)")
	}
	if tag, ok := t[0].(string); !ok || tag != "storage" {
		return nil, fmt.Errorf("persistent id does not start with 'storage'")
	}
	key, ok := t[2].(string)
	if !ok {
		return nil, fmt.Errorf("storage key is %s, not a str", aPyType(t[2]))
	}
	if _, ok := t[3].(string); !ok {
		return nil, fmt.Errorf("storage location is %s, not a str", aPyType(t[3]))
	}
	numel, ok := t[4].(int64)
	if !ok || numel < 0 {
		return nil, fmt.Errorf("storage %s: size is not a non-negative int", quoteName(key))
	}
	if err := u.chargeKey(key); err != nil {
		return nil, fmt.Errorf("storage %s: %w", quoteName(key), err)
	}
	if o, ok := t[1].(*pyOpaque); ok {
		// A storage type this reader cannot read (complex numbers,
		// quantized integers): its tensors are placeholders.
		if u.opaqueStorages == nil {
			u.opaqueStorages = map[string]opaqueStorage{}
		}
		u.opaqueStorages[key] = opaqueStorage{typ: o.global, elemSize: unreadableStorageSize(o.global), numel: numel}
		return &pyOpaque{global: o.global, tensor: true}, nil
	}
	g, ok := t[1].(pyGlobal)
	var dt DType
	if ok && g.module == "torch" {
		dt, ok = storageDType(g.name)
	}
	if !ok {
		return nil, fmt.Errorf("storage type is %s, not a torch storage class", aPyType(t[1]))
	}
	if s, ok := u.storages[key]; ok {
		if s.dtype != dt || s.numel != numel {
			return nil, fmt.Errorf("storage %s is referenced as %d %s and as %d %s", quoteName(key), s.numel, s.dtype, numel, dt)
		}
		return s, nil
	}
	s := &pyStorage{dtype: dt, key: key, numel: numel}
	u.storages[key] = s
	return s, nil
}

// decodeRawUnicodeEscape decodes Python's raw-unicode-escape codec: bytes
// are Latin-1 code points except \uXXXX and \UXXXXXXXX escapes.
func decodeRawUnicodeEscape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
			n := 4
			if s[i+1] == 'U' {
				n = 8
			}
			if i+2+n > len(s) {
				return "", fmt.Errorf("truncated \\%c escape", s[i+1])
			}
			r, err := strconv.ParseUint(s[i+2:i+2+n], 16, 32)
			if err != nil || r > utf8.MaxRune {
				return "", fmt.Errorf("bad \\%c escape %q", s[i+1], s[i+2:i+2+n])
			}
			b.WriteRune(rune(r))
			i += 1 + n
			continue
		}
		b.WriteRune(rune(c))
	}
	return b.String(), nil
}

// opaqueStorage is a storage of a type that cannot be read.
type opaqueStorage struct {
	typ      string // "torch.ComplexFloatStorage"
	elemSize int64  // bytes per element, 0 when unknown
	numel    int64  // elements, as the persistent id says
}

// unreadableStorageSize returns the element size of torch's storage types
// that are not read (complex and quantized), so that the legacy format's
// storage records of such tensors can be skipped, or 0 for any other type.
func unreadableStorageSize(global string) int64 {
	switch global {
	case "torch.ComplexDoubleStorage":
		return 16
	case "torch.ComplexFloatStorage":
		return 8
	case "torch.ComplexHalfStorage", "torch.QInt32Storage":
		return 4
	case "torch.QInt8Storage", "torch.QUInt8Storage", "torch.QUInt4x2Storage", "torch.QUInt2x4Storage":
		return 1
	}
	return 0
}
