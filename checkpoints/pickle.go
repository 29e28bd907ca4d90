package checkpoints

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
)

// pickle*.go are a minimal pickle interpreter for the pickles torch.save
// writes for state dicts and the checkpoints that wrap them (protocols 2 to
// 5). It never executes anything: REDUCE evaluates the few allow-listed
// callables here, in Go, and any other global becomes an inert placeholder
// (pyOpaque) that is never imported or called, whatever opcodes apply to
// it. Every length is checked against the remaining bytes and every
// structure against fixed limits, so a hostile pickle is an error, never a
// panic or an unbounded allocation.

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
	maxGlobals     = 1 << 12  // distinct globals outside the allow-list
	// maxKeyBytes bounds the bytes of dict and storage keys hashed over
	// the whole pickle. The memo lets a pickle push a long string again
	// for two bytes, but each dict item or storage reference keyed by it
	// hashes all of it. A state dict's keys (thousands of names, each
	// under a few KiB) hash a few MB.
	maxKeyBytes = 256 << 20
)

// unpickler holds the state of one run of the interpreter.
type unpickler struct {
	data  []byte
	pos   int
	stack []any
	marks []int
	memo  map[uint32]any
	items int // values created so far, against maxPickleItems
	// keyBytes counts the bytes of the keys hashed so far, against
	// maxKeyBytes.
	keyBytes int
	// storages keeps one pyStorage per archive key, so that tensors sharing
	// a storage share it here too.
	storages map[string]*pyStorage
	// opaqueStorages holds the storages of types that cannot be read, by
	// key.
	opaqueStorages map[string]opaqueStorage
	// globals interns the names of placeholders' globals, so that a
	// global named many times (through the memo) is kept once.
	globals map[[2]string]string
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

// run interprets the opcodes from the start of the data up to STOP and
// returns the object STOP pops.
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
		case 0x8a, 0x8b: // LONG1, LONG4: little-endian two's complement of n bytes
			n, ok := u.readUint(operandSize(op))
			if !ok {
				return nil, short()
			}
			if op == 0x8b && int32(n) < 0 {
				return nil, fail("negative length %d", int32(n))
			}
			v, ok := u.read(int(n))
			if !ok {
				return nil, short()
			}
			err = pushOr(longValue(v))
		case 'B', 'C', 0x8e, 0x96: // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
			n, ok := u.readUint(operandSize(op))
			if !ok {
				return nil, short()
			}
			if n > uint64(len(u.data)-u.pos) {
				return nil, fail("%d bytes but only %d bytes remain", n, len(u.data)-u.pos)
			}
			b, _ := u.read(int(n))
			err = pushOr(pyBytes(b))
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
			if err := u.setItems(d, items); err != nil {
				return nil, fail("%v", err)
			}
			err = pushOr(d)
		case 'a': // APPEND
			v, ok := u.pop()
			if !ok {
				return nil, underflow()
			}
			list, lerr := u.topList()
			if lerr != nil {
				return nil, fail("%v", lerr)
			}
			if list != nil {
				list.items = append(list.items, v)
			}
		case 'e': // APPENDS
			items, ok := u.popMark()
			if !ok {
				return nil, fail("no MARK")
			}
			list, lerr := u.topList()
			if lerr != nil {
				return nil, fail("%v", lerr)
			}
			if list != nil {
				if cerr := u.charge(len(items)); cerr != nil {
					return nil, fail("%v", cerr)
				}
				list.items = append(list.items, items...)
			}
		case 's': // SETITEM
			v, ok1 := u.pop()
			k, ok2 := u.pop()
			if !ok1 || !ok2 {
				return nil, underflow()
			}
			dict, derr := u.topDict("setting an item of")
			if derr != nil {
				return nil, fail("%v", derr)
			}
			if dict != nil {
				if serr := u.setItem(dict, k, v); serr != nil {
					return nil, fail("%v", serr)
				}
			}
		case 'u': // SETITEMS
			items, ok := u.popMark()
			if !ok {
				return nil, fail("no MARK")
			}
			dict, derr := u.topDict("setting items of")
			if derr != nil {
				return nil, fail("%v", derr)
			}
			if dict != nil {
				if err := u.setItems(dict, items); err != nil {
					return nil, fail("%v", err)
				}
			}
		case 0x8f: // EMPTY_SET
			err = pushOr(&pySet{})
		case 0x90: // ADDITEMS
			items, ok := u.popMark()
			if !ok {
				return nil, fail("no MARK")
			}
			top, ok := u.top()
			if !ok {
				return nil, underflow()
			}
			switch set := top.(type) {
			case *pySet:
				set.items = append(set.items, items...)
			case *pyOpaque:
			default:
				return nil, fail("adding items to %s, not a set", aPyType(top))
			}
		case 0x91: // FROZENSET
			items, ok := u.popMark()
			if !ok {
				return nil, fail("no MARK")
			}
			err = pushOr(&pySet{items: items})
		case '0': // POP: the top value, or the topmost mark when none is above it
			if _, ok := u.pop(); !ok {
				if _, ok := u.popMark(); !ok {
					return nil, underflow()
				}
			}
		case '1': // POP_MARK
			if _, ok := u.popMark(); !ok {
				return nil, fail("no MARK")
			}
		case '2': // DUP
			v, ok := u.top()
			if !ok {
				return nil, underflow()
			}
			err = pushOr(v)
		case 'q', 'r', 0x94: // BINPUT, LONG_BINPUT, MEMOIZE
			idx := uint64(len(u.memo))
			if op != 0x94 {
				var ok bool
				if idx, ok = u.readUint(operandSize(op)); !ok {
					return nil, short()
				}
			}
			v, ok := u.top()
			if !ok {
				return nil, underflow()
			}
			if err := u.memoize(uint32(idx), v); err != nil {
				return nil, fail("%v", err)
			}
		case 'h', 'j': // BINGET, LONG_BINGET
			idx, ok := u.readUint(operandSize(op))
			if !ok {
				return nil, short()
			}
			v, ok := u.memo[uint32(idx)]
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
			g, gerr := u.global(module, gname)
			if gerr != nil {
				return nil, fail("%v", gerr)
			}
			err = pushOr(g)
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
			g, gerr := u.global(module, gname)
			if gerr != nil {
				return nil, fail("%v", gerr)
			}
			err = pushOr(g)
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
		case 0x81, 0x92: // NEWOBJ: cls.__new__(cls, *args); NEWOBJ_EX: with kwargs
			if op == 0x92 {
				if _, ok := u.pop(); !ok {
					return nil, underflow()
				}
			}
			_, ok1 := u.pop()
			cls, ok2 := u.pop()
			if !ok1 || !ok2 {
				return nil, underflow()
			}
			o, ok := cls.(*pyOpaque)
			if !ok {
				return nil, fail("creating an instance of %s", aPyType(cls))
			}
			err = pushOr(o.made())
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
		case 'b': // BUILD: the state of an OrderedDict (its _metadata), of a parameter or of a placeholder is ignored
			state, ok := u.pop()
			if !ok {
				return nil, underflow()
			}
			obj, ok := u.top()
			if !ok {
				return nil, underflow()
			}
			switch obj.(type) {
			case *pyDict, *pyTensor, *pyOpaque:
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

// global returns the value GLOBAL or STACK_GLOBAL pushes for module.name:
// the allow-listed global, or else a placeholder. The global is never
// imported: the placeholder only names it.
func (u *unpickler) global(module, name string) (any, error) {
	if allowedGlobal(module, name) {
		return pyGlobal{module, name}, nil
	}
	// Cut before the lookup, so that long names (which the memo may repeat
	// at no cost) are neither hashed nor copied whole.
	key := [2]string{module[:min(len(module), maxGlobalName+1)], name[:min(len(name), maxGlobalName+1)]}
	g, ok := u.globals[key]
	if !ok {
		if len(u.globals) >= maxGlobals {
			return nil, fmt.Errorf("more than %d distinct globals", maxGlobals)
		}
		if u.globals == nil {
			u.globals = map[[2]string]string{}
		}
		g = globalName(key[0], key[1])
		u.globals[key] = g
	}
	return &pyOpaque{global: g}, nil
}

// longValue returns the int that LONG1 or LONG4 encodes in v (little-endian
// two's complement): an int64, or a pyBigInt when it needs more than 64
// bits.
func longValue(v []byte) any {
	n := len(v)
	if n > 8 {
		// Sign extension to more than 8 bytes may still fit in 64 bits.
		fill := byte(0)
		if v[n-1]&0x80 != 0 {
			fill = 0xff
		}
		for _, b := range v[8:] {
			if b != fill {
				return pyBigInt{}
			}
		}
		if (v[7]&0x80 != 0) != (fill == 0xff) {
			return pyBigInt{}
		}
		v, n = v[:8], 8
	}
	var x uint64
	for i := n - 1; i >= 0; i-- {
		x = x<<8 | uint64(v[i])
	}
	if n > 0 && n < 8 && v[n-1]&0x80 != 0 { // sign-extend
		x |= ^uint64(0) << (8 * uint(n))
	}
	return int64(x)
}
