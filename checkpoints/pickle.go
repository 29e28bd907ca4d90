package checkpoints

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is a minimal pickle interpreter for the pickles torch.save
// writes for state dicts (protocol 2, plus the few protocol 4 opcodes that
// newer writers may emit). It never executes anything: GLOBAL may only name
// an allow-listed callable and REDUCE evaluates those callables here, in Go.
// Every length is checked against the remaining bytes and every structure
// against fixed limits, so a hostile pickle is an error, never a panic or an
// unbounded allocation.

// Limits of the interpreter. State dict pickles are small (about 200 bytes
// and 20 opcodes per tensor): the ImageNet-256 model's is about 100 KB, and
// a training checkpoint with EMA and optimizer state a few times that. The
// limits leave a hundredfold margin while keeping a hostile pickle's memory
// to a few hundred megabytes.
const (
	maxPickleSize  = 32 << 20 // bytes of data.pkl
	maxPickleStack = 1 << 20  // values on the stack
	maxPickleMarks = 1 << 10  // nested MARKs
	maxPickleMemo  = 1 << 20  // memo entries
	maxPickleItems = 1 << 20  // values pushed or appended, over the whole pickle
	maxTensorDims  = 64       // dimensions of one tensor
)

// pyNone is Python's None.
type pyNone struct{}

// pyTuple is an immutable Python tuple.
type pyTuple []any

// pyList is a Python list (a pointer, as lists are mutable and shared).
type pyList struct{ items []any }

// pyDict is a Python dict or OrderedDict: insertion-ordered, with keys of
// the comparable kinds pickled state dicts use (str, int, float, bool, None).
type pyDict struct {
	keys   []any
	values []any
	index  map[any]int
}

func newPyDict() *pyDict { return &pyDict{index: map[any]int{}} }

// set inserts or replaces key, keeping the first insertion's position, as
// Python dicts do.
func (d *pyDict) set(key, value any) error {
	switch key.(type) {
	case string, int64, float64, bool, pyNone:
	default:
		return fmt.Errorf("dict key of type %s is not supported", pyTypeName(key))
	}
	if i, ok := d.index[key]; ok {
		d.values[i] = value
		return nil
	}
	d.index[key] = len(d.keys)
	d.keys = append(d.keys, key)
	d.values = append(d.values, value)
	return nil
}

// pyGlobal is an allow-listed global pushed by GLOBAL or STACK_GLOBAL.
type pyGlobal struct{ module, name string }

func (g pyGlobal) String() string { return g.module + "." + g.name }

// pyStorage is a reference to a storage file of the archive, from the
// persistent id ('storage', storage_type, key, location, numel).
type pyStorage struct {
	dtype DType
	key   string
	numel int64
}

// pyTensor is a tensor view rebuilt by torch._utils._rebuild_tensor_v2 (or
// wrapped by _rebuild_parameter): not yet materialised.
type pyTensor struct {
	storage *pyStorage
	offset  int64
	size    []int64
	stride  []int64
}

// pyTypeName names a value's Python type for error messages. It never
// formats the value itself, which could be cyclic.
func pyTypeName(v any) string {
	switch v := v.(type) {
	case string:
		return "str"
	case int64:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case pyNone:
		return "None"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case pyGlobal:
		return "global " + v.String()
	case *pyStorage:
		return "storage"
	case *pyTensor:
		return "tensor"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("%T", v)
}

// storageDType maps torch's typed storage classes (torch.FloatStorage, ...)
// to element types.
func storageDType(name string) (DType, bool) {
	switch name {
	case "FloatStorage":
		return F32, true
	case "DoubleStorage":
		return F64, true
	case "HalfStorage":
		return F16, true
	case "BFloat16Storage":
		return BF16, true
	case "LongStorage":
		return I64, true
	case "IntStorage":
		return I32, true
	case "ShortStorage":
		return I16, true
	case "CharStorage":
		return I8, true
	case "ByteStorage":
		return U8, true
	case "BoolStorage":
		return Bool, true
	}
	return "", false
}

// allowedGlobal reports whether module.name may appear in a state dict
// pickle. Storage classes are only valid inside persistent ids, callables
// only as REDUCE targets; both are checked where they are used.
func allowedGlobal(module, name string) bool {
	switch module + "." + name {
	case "collections.OrderedDict",
		"torch._utils._rebuild_tensor",
		"torch._utils._rebuild_tensor_v2",
		"torch._utils._rebuild_parameter",
		"torch._utils._rebuild_parameter_with_state":
		return true
	}
	if module == "torch" {
		_, ok := storageDType(name)
		return ok
	}
	return false
}

// unpickler holds the state of one run of the interpreter.
type unpickler struct {
	data  []byte
	pos   int
	stack []any
	marks []int
	memo  map[uint32]any
	items int // values created so far, against maxPickleItems
	// storages keeps one pyStorage per archive key, so that tensors sharing
	// a storage share it here too.
	storages map[string]*pyStorage
}

// unpickle runs the pickle in data and returns the object STOP returns.
// Errors give the byte offset and name the opcode; the caller adds the file.
func unpickle(data []byte) (any, error) {
	if len(data) > maxPickleSize {
		return nil, fmt.Errorf("pickle of %d bytes exceeds the %d byte limit", len(data), maxPickleSize)
	}
	u := &unpickler{data: data, memo: map[uint32]any{}, storages: map[string]*pyStorage{}}
	return u.run()
}

func (u *unpickler) errorf(at int, op string, format string, a ...any) error {
	return fmt.Errorf("pickle opcode %s at byte %d: %s", op, at, fmt.Sprintf(format, a...))
}

// read returns the next n bytes, or an error if the pickle ends before.
func (u *unpickler) read(n int) ([]byte, bool) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, false
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, true
}

// readLine returns the bytes up to the next newline, which it consumes.
func (u *unpickler) readLine() (string, bool) {
	i := bytes.IndexByte(u.data[u.pos:], '\n')
	if i < 0 {
		return "", false
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, true
}

func (u *unpickler) push(v any) error {
	if len(u.stack) >= maxPickleStack {
		return fmt.Errorf("stack deeper than %d values", maxPickleStack)
	}
	return u.count(1, func() { u.stack = append(u.stack, v) })
}

// count charges n created values against maxPickleItems, then runs f.
func (u *unpickler) count(n int, f func()) error {
	if n > maxPickleItems-u.items {
		return fmt.Errorf("more than %d values", maxPickleItems)
	}
	u.items += n
	f()
	return nil
}

func (u *unpickler) pop() (any, bool) {
	floor := 0
	if len(u.marks) > 0 {
		floor = u.marks[len(u.marks)-1]
	}
	if len(u.stack) <= floor {
		return nil, false
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, true
}

// popMark pops the values above the topmost mark, and the mark.
func (u *unpickler) popMark() ([]any, bool) {
	if len(u.marks) == 0 {
		return nil, false
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	clear(u.stack[m:])
	u.stack = u.stack[:m]
	return items, true
}

func (u *unpickler) top() (any, bool) {
	floor := 0
	if len(u.marks) > 0 {
		floor = u.marks[len(u.marks)-1]
	}
	if len(u.stack) <= floor {
		return nil, false
	}
	return u.stack[len(u.stack)-1], true
}

func (u *unpickler) memoize(idx uint32, v any) error {
	if _, ok := u.memo[idx]; !ok && len(u.memo) >= maxPickleMemo {
		return fmt.Errorf("memo larger than %d entries", maxPickleMemo)
	}
	u.memo[idx] = v
	return nil
}

// opNames names the opcodes in errors, including the ones not supported.
func opName(op byte) string {
	names := map[byte]string{
		0x80: "PROTO", 0x95: "FRAME", '}': "EMPTY_DICT", 'd': "DICT", '(': "MARK",
		'X': "BINUNICODE", 0x8c: "SHORT_BINUNICODE", 0x8d: "BINUNICODE8", 'V': "UNICODE",
		'J': "BININT", 'K': "BININT1", 'M': "BININT2", 0x8a: "LONG1", 0x8b: "LONG4", 'G': "BINFLOAT",
		't': "TUPLE", 0x85: "TUPLE1", 0x86: "TUPLE2", 0x87: "TUPLE3", ')': "EMPTY_TUPLE",
		']': "EMPTY_LIST", 'a': "APPEND", 'e': "APPENDS", 's': "SETITEM", 'u': "SETITEMS",
		'q': "BINPUT", 'r': "LONG_BINPUT", 'h': "BINGET", 'j': "LONG_BINGET", 0x94: "MEMOIZE",
		'c': "GLOBAL", 0x93: "STACK_GLOBAL", 'R': "REDUCE", 'Q': "BINPERSID", 'P': "PERSID",
		0x88: "NEWTRUE", 0x89: "NEWFALSE", 'N': "NONE", 'b': "BUILD", '.': "STOP",
		'0': "POP", '1': "POP_MARK", '2': "DUP", 'F': "FLOAT", 'I': "INT", 'L': "LONG",
		'S': "STRING", 'T': "BINSTRING", 'U': "SHORT_BINSTRING", 'B': "BINBYTES", 'C': "SHORT_BINBYTES",
		0x8e: "BINBYTES8", 'g': "GET", 'p': "PUT", 'i': "INST", 'o': "OBJ", 0x81: "NEWOBJ",
		0x92: "NEWOBJ_EX", 'l': "LIST", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
		0x8f: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x96: "BYTEARRAY8",
		0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
	}
	if n, ok := names[op]; ok {
		return n
	}
	return fmt.Sprintf("0x%02x", op)
}

func (u *unpickler) run() (any, error) {
	for {
		at := u.pos
		if u.pos >= len(u.data) {
			return nil, fmt.Errorf("pickle ends at byte %d without STOP (truncated?)", u.pos)
		}
		op := u.data[u.pos]
		u.pos++
		fail := func(format string, a ...any) error { return u.errorf(at, opName(op), format, a...) }
		short := func() error { return fail("truncated: the pickle ends inside the opcode's argument") }
		underflow := func() error { return fail("stack underflow") }
		pushOr := func(v any) error {
			if err := u.push(v); err != nil {
				return fail("%v", err)
			}
			return nil
		}
		var err error
		switch op {
		case 0x80: // PROTO
			b, ok := u.read(1)
			if !ok {
				return nil, short()
			}
			if b[0] > 5 {
				return nil, fail("unsupported protocol %d", b[0])
			}
		case 0x95: // FRAME: an 8-byte length we do not need, as data is in memory
			if _, ok := u.read(8); !ok {
				return nil, short()
			}
		case '.': // STOP
			v, ok := u.pop()
			if !ok {
				return nil, underflow()
			}
			return v, nil
		case '(': // MARK
			if len(u.marks) >= maxPickleMarks {
				return nil, fail("more than %d nested marks", maxPickleMarks)
			}
			u.marks = append(u.marks, len(u.stack))
		case '}': // EMPTY_DICT
			err = pushOr(newPyDict())
		case ']': // EMPTY_LIST
			err = pushOr(&pyList{})
		case ')': // EMPTY_TUPLE
			err = pushOr(pyTuple{})
		case 'N':
			err = pushOr(pyNone{})
		case 0x88:
			err = pushOr(true)
		case 0x89:
			err = pushOr(false)
		case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
			var n uint64
			switch op {
			case 'X':
				b, ok := u.read(4)
				if !ok {
					return nil, short()
				}
				n = uint64(binary.LittleEndian.Uint32(b))
			case 0x8c:
				b, ok := u.read(1)
				if !ok {
					return nil, short()
				}
				n = uint64(b[0])
			default:
				b, ok := u.read(8)
				if !ok {
					return nil, short()
				}
				n = binary.LittleEndian.Uint64(b)
			}
			if n > uint64(len(u.data)-u.pos) {
				return nil, fail("string of %d bytes but only %d bytes remain", n, len(u.data)-u.pos)
			}
			b, _ := u.read(int(n))
			if !utf8.Valid(b) {
				return nil, fail("string is not valid UTF-8")
			}
			err = pushOr(string(b))
		case 'U', 'T': // SHORT_BINSTRING, BINSTRING: Python 2 str, read as text (legacy torch.save)
			str, serr := u.binString(op == 'U')
			if serr != nil {
				return nil, fail("%v", serr)
			}
			err = pushOr(str)
		case 'V': // UNICODE: raw-unicode-escape text up to a newline
			line, ok := u.readLine()
			if !ok {
				return nil, short()
			}
			s, derr := decodeRawUnicodeEscape(line)
			if derr != nil {
				return nil, fail("%v", derr)
			}
			err = pushOr(s)
		case 'J':
			b, ok := u.read(4)
			if !ok {
				return nil, short()
			}
			err = pushOr(int64(int32(binary.LittleEndian.Uint32(b))))
		case 'K':
			b, ok := u.read(1)
			if !ok {
				return nil, short()
			}
			err = pushOr(int64(b[0]))
		case 'M':
			b, ok := u.read(2)
			if !ok {
				return nil, short()
			}
			err = pushOr(int64(binary.LittleEndian.Uint16(b)))
		case 0x8a: // LONG1: little-endian two's complement of n bytes
			b, ok := u.read(1)
			if !ok {
				return nil, short()
			}
			n := int(b[0])
			if n > 8 {
				return nil, fail("integer of %d bytes does not fit in 64 bits", n)
			}
			v, ok := u.read(n)
			if !ok {
				return nil, short()
			}
			var x uint64
			for i := n - 1; i >= 0; i-- {
				x = x<<8 | uint64(v[i])
			}
			if n > 0 && n < 8 && v[n-1]&0x80 != 0 { // sign-extend
				x |= ^uint64(0) << (8 * uint(n))
			}
			err = pushOr(int64(x))
		case 'G': // BINFLOAT: big-endian float64
			b, ok := u.read(8)
			if !ok {
				return nil, short()
			}
			err = pushOr(math.Float64frombits(binary.BigEndian.Uint64(b)))
		case 't': // TUPLE
			items, ok := u.popMark()
			if !ok {
				return nil, fail("no MARK")
			}
			err = pushOr(pyTuple(items))
		case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
			n := int(op-0x85) + 1
			floor := 0
			if len(u.marks) > 0 {
				floor = u.marks[len(u.marks)-1]
			}
			if len(u.stack)-floor < n {
				return nil, underflow()
			}
			t := make(pyTuple, n)
			copy(t, u.stack[len(u.stack)-n:])
			u.stack = u.stack[:len(u.stack)-n]
			err = pushOr(t)
		case 'd': // DICT
			items, ok := u.popMark()
			if !ok {
				return nil, fail("no MARK")
			}
			d := newPyDict()
			if err := setItems(d, items); err != nil {
				return nil, fail("%v", err)
			}
			err = pushOr(d)
		case 'a': // APPEND
			v, ok := u.pop()
			if !ok {
				return nil, underflow()
			}
			l, ok := u.top()
			if !ok {
				return nil, underflow()
			}
			list, ok := l.(*pyList)
			if !ok {
				return nil, fail("appending to %s, not a list", aPyType(l))
			}
			list.items = append(list.items, v)
		case 'e': // APPENDS
			items, ok := u.popMark()
			if !ok {
				return nil, fail("no MARK")
			}
			l, ok := u.top()
			if !ok {
				return nil, underflow()
			}
			list, ok := l.(*pyList)
			if !ok {
				return nil, fail("appending to %s, not a list", aPyType(l))
			}
			if cerr := u.count(len(items), func() { list.items = append(list.items, items...) }); cerr != nil {
				return nil, fail("%v", cerr)
			}
		case 's': // SETITEM
			v, ok1 := u.pop()
			k, ok2 := u.pop()
			if !ok1 || !ok2 {
				return nil, underflow()
			}
			d, ok := u.top()
			if !ok {
				return nil, underflow()
			}
			dict, ok := d.(*pyDict)
			if !ok {
				return nil, fail("setting an item of %s, not a dict", aPyType(d))
			}
			if err := dict.set(k, v); err != nil {
				return nil, fail("%v", err)
			}
		case 'u': // SETITEMS
			items, ok := u.popMark()
			if !ok {
				return nil, fail("no MARK")
			}
			d, ok := u.top()
			if !ok {
				return nil, underflow()
			}
			dict, ok := d.(*pyDict)
			if !ok {
				return nil, fail("setting items of %s, not a dict", aPyType(d))
			}
			if err := setItems(dict, items); err != nil {
				return nil, fail("%v", err)
			}
		case 'q', 'r', 0x94: // BINPUT, LONG_BINPUT, MEMOIZE
			var idx uint32
			switch op {
			case 'q':
				b, ok := u.read(1)
				if !ok {
					return nil, short()
				}
				idx = uint32(b[0])
			case 'r':
				b, ok := u.read(4)
				if !ok {
					return nil, short()
				}
				idx = binary.LittleEndian.Uint32(b)
			default:
				idx = uint32(len(u.memo))
			}
			v, ok := u.top()
			if !ok {
				return nil, underflow()
			}
			if err := u.memoize(idx, v); err != nil {
				return nil, fail("%v", err)
			}
		case 'h', 'j': // BINGET, LONG_BINGET
			var idx uint32
			if op == 'h' {
				b, ok := u.read(1)
				if !ok {
					return nil, short()
				}
				idx = uint32(b[0])
			} else {
				b, ok := u.read(4)
				if !ok {
					return nil, short()
				}
				idx = binary.LittleEndian.Uint32(b)
			}
			v, ok := u.memo[idx]
			if !ok {
				return nil, fail("memo index %d was never stored", idx)
			}
			err = pushOr(v)
		case 'c': // GLOBAL: "module\nname\n"
			module, ok1 := u.readLine()
			gname, ok2 := u.readLine()
			if !ok1 || !ok2 {
				return nil, short()
			}
			if !allowedGlobal(module, gname) {
				return nil, fail("global %s.%s is not allowed in a state dict (only tensors, storages and OrderedDict are)", module, gname)
			}
			err = pushOr(pyGlobal{module, gname})
		case 0x93: // STACK_GLOBAL
			n, ok1 := u.pop()
			m, ok2 := u.pop()
			if !ok1 || !ok2 {
				return nil, underflow()
			}
			module, ok1 := m.(string)
			gname, ok2 := n.(string)
			if !ok1 || !ok2 {
				return nil, fail("module and name must be strings, not %s and %s", pyTypeName(m), pyTypeName(n))
			}
			if !allowedGlobal(module, gname) {
				return nil, fail("global %s.%s is not allowed in a state dict (only tensors, storages and OrderedDict are)", module, gname)
			}
			err = pushOr(pyGlobal{module, gname})
		case 'R': // REDUCE
			a, ok1 := u.pop()
			f, ok2 := u.pop()
			if !ok1 || !ok2 {
				return nil, underflow()
			}
			v, rerr := u.reduce(f, a)
			if rerr != nil {
				return nil, fail("%v", rerr)
			}
			err = pushOr(v)
		case 'Q': // BINPERSID
			pid, ok := u.pop()
			if !ok {
				return nil, underflow()
			}
			s, perr := u.persistent(pid)
			if perr != nil {
				return nil, fail("%v", perr)
			}
			err = pushOr(s)
		case 'b': // BUILD: the state of an OrderedDict (its _metadata) or of a parameter is ignored
			state, ok := u.pop()
			if !ok {
				return nil, underflow()
			}
			obj, ok := u.top()
			if !ok {
				return nil, underflow()
			}
			switch obj.(type) {
			case *pyDict, *pyTensor:
			default:
				return nil, fail("setting the state (%s) of %s", pyTypeName(state), aPyType(obj))
			}
		default:
			return nil, fail("not supported in a state dict pickle")
		}
		if err != nil {
			return nil, err
		}
	}
}

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
func setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("odd number of values (%d) for key/value pairs", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// reduce evaluates an allow-listed callable on its arguments.
func (u *unpickler) reduce(f, a any) (any, error) {
	g, ok := f.(pyGlobal)
	if !ok {
		return nil, fmt.Errorf("calling %s", aPyType(f))
	}
	args, ok := a.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("arguments of %s are %s, not a tuple", g, aPyType(a))
	}
	switch g.String() {
	case "collections.OrderedDict":
		switch len(args) {
		case 0:
			return newPyDict(), nil
		case 1: // legacy torch.save: OrderedDict([[key, value], ...])
			return orderedDictOf(args[0])
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

// orderedDictOf builds a dict from a list of [key, value] pairs.
func orderedDictOf(v any) (*pyDict, error) {
	l, ok := v.(*pyList)
	if !ok {
		return nil, fmt.Errorf("collections.OrderedDict of %s, not a list of pairs", aPyType(v))
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
		if err := d.set(pair[0], pair[1]); err != nil {
			return nil, err
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

// persistent resolves a BINPERSID storage reference.
func (u *unpickler) persistent(pid any) (*pyStorage, error) {
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
	g, ok := t[1].(pyGlobal)
	var dt DType
	if ok && g.module == "torch" {
		dt, ok = storageDType(g.name)
	}
	if !ok {
		return nil, fmt.Errorf("storage type is %s, not a torch storage class", aPyType(t[1]))
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
		return nil, fmt.Errorf("storage %q: size is not a non-negative int", key)
	}
	if s, ok := u.storages[key]; ok {
		if s.dtype != dt || s.numel != numel {
			return nil, fmt.Errorf("storage %q is referenced as %d %s and as %d %s", key, s.numel, s.dtype, numel, dt)
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

// aPyType is pyTypeName with an indefinite article: "an int", "a dict".
func aPyType(v any) string {
	n := pyTypeName(v)
	switch {
	case n == "None" || n == "nothing":
		return n
	case strings.IndexByte("aeiou", n[0]) >= 0:
		return "an " + n
	}
	return "a " + n
}
