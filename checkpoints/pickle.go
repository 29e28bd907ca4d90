package checkpoints

import (
	"encoding/binary"
	"errors"
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

// Errors the opcode handlers share; run adds the opcode and its offset.
var (
	errTruncated = errors.New("truncated: the pickle ends inside the opcode's argument")
	errUnderflow = errors.New("stack underflow")
	errNoMark    = errors.New("no MARK")
)

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
		if op == '.' { // STOP
			v, ok := u.pop()
			if !ok {
				return nil, u.errorf(at, opName(op), "%v", errUnderflow)
			}
			return v, nil
		}
		if err := u.step(op); err != nil {
			return nil, u.errorf(at, opName(op), "%v", err)
		}
	}
}

// step runs one opcode other than STOP, by family.
func (u *unpickler) step(op byte) error {
	switch op {
	case 0x80, 0x95: // PROTO, FRAME
		return u.framing(op)
	case 'N', 0x88, 0x89, 'J', 'K', 'M', 0x8a, 0x8b, 'G':
		return u.scalar(op)
	case 'X', 0x8c, 0x8d, 'U', 'T', 'V', 'B', 'C', 0x8e, 0x96:
		return u.text(op)
	case '(', '0', '1', '2': // MARK, POP, POP_MARK, DUP
		return u.stackOp(op)
	case '}', ']', ')', 't', 0x85, 0x86, 0x87, 'd', 0x8f, 0x91:
		return u.container(op)
	case 'a', 'e', 's', 'u', 0x90: // APPEND, APPENDS, SETITEM, SETITEMS, ADDITEMS
		return u.fill(op)
	case 'q', 'r', 0x94, 'h', 'j':
		return u.memoOp(op)
	case 'c', 0x93, 'R', 0x81, 0x92, 'Q', 'b':
		return u.object(op)
	}
	return errors.New("not supported in a state dict pickle")
}

// framing runs PROTO and FRAME.
func (u *unpickler) framing(op byte) error {
	if op == 0x95 { // FRAME: an 8-byte length we do not need, as data is in memory
		if _, ok := u.read(8); !ok {
			return errTruncated
		}
		return nil
	}
	b, ok := u.read(1) // PROTO
	if !ok {
		return errTruncated
	}
	if b[0] > 5 {
		return fmt.Errorf("unsupported protocol %d", b[0])
	}
	return nil
}

// scalar pushes None, a bool, an int or a float.
func (u *unpickler) scalar(op byte) error {
	switch op {
	case 'N':
		return u.push(pyNone{})
	case 0x88:
		return u.push(true)
	case 0x89:
		return u.push(false)
	case 'J', 'K', 'M': // BININT (signed), BININT1, BININT2 (unsigned)
		n, ok := u.readUint(operandSize(op))
		if !ok {
			return errTruncated
		}
		if op == 'J' {
			return u.push(int64(int32(uint32(n))))
		}
		return u.push(int64(n))
	case 0x8a, 0x8b: // LONG1, LONG4: little-endian two's complement of n bytes
		n, ok := u.readUint(operandSize(op))
		if !ok {
			return errTruncated
		}
		if op == 0x8b && int32(n) < 0 {
			return fmt.Errorf("negative length %d", int32(n))
		}
		v, ok := u.read(int(n))
		if !ok {
			return errTruncated
		}
		return u.push(longValue(v))
	}
	b, ok := u.read(8) // BINFLOAT: big-endian float64
	if !ok {
		return errTruncated
	}
	return u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
}

// text pushes a str or a bytes value.
func (u *unpickler) text(op byte) error {
	switch op {
	case 'U', 'T': // SHORT_BINSTRING, BINSTRING: Python 2 str, read as text (legacy torch.save)
		str, err := u.binString(op == 'U')
		if err != nil {
			return err
		}
		return u.push(str)
	case 'V': // UNICODE: raw-unicode-escape text up to a newline
		line, ok := u.readLine()
		if !ok {
			return errTruncated
		}
		s, err := decodeRawUnicodeEscape(line)
		if err != nil {
			return err
		}
		return u.push(s)
	case 'B', 'C', 0x8e, 0x96: // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
		n, ok := u.readUint(operandSize(op))
		if !ok {
			return errTruncated
		}
		if n > uint64(len(u.data)-u.pos) {
			return fmt.Errorf("%d bytes but only %d bytes remain", n, len(u.data)-u.pos)
		}
		b, _ := u.read(int(n))
		return u.push(pyBytes(b))
	}
	// BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
	n, ok := u.readUint(operandSize(op))
	if !ok {
		return errTruncated
	}
	if n > uint64(len(u.data)-u.pos) {
		return fmt.Errorf("string of %d bytes but only %d bytes remain", n, len(u.data)-u.pos)
	}
	b, _ := u.read(int(n))
	if !utf8.Valid(b) {
		return fmt.Errorf("string is not valid UTF-8")
	}
	return u.push(string(b))
}

// stackOp runs MARK, POP, POP_MARK and DUP.
func (u *unpickler) stackOp(op byte) error {
	switch op {
	case '(': // MARK
		if len(u.marks) >= maxPickleMarks {
			return fmt.Errorf("more than %d nested marks", maxPickleMarks)
		}
		u.marks = append(u.marks, len(u.stack))
	case '0': // POP: the top value, or the topmost mark when none is above it
		if _, ok := u.pop(); !ok {
			if _, ok := u.popMark(); !ok {
				return errUnderflow
			}
		}
	case '1': // POP_MARK
		if _, ok := u.popMark(); !ok {
			return errNoMark
		}
	case '2': // DUP
		v, ok := u.top()
		if !ok {
			return errUnderflow
		}
		return u.push(v)
	}
	return nil
}

// container pushes a new tuple, list, dict or set, empty or made of the
// values above the topmost mark (or, for TUPLE1 to TUPLE3, of the top
// values).
func (u *unpickler) container(op byte) error {
	switch op {
	case '}': // EMPTY_DICT
		return u.push(newPyDict())
	case ']': // EMPTY_LIST
		return u.push(&pyList{})
	case ')': // EMPTY_TUPLE
		return u.push(pyTuple{})
	case 0x8f: // EMPTY_SET
		return u.push(&pySet{})
	case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
		n := int(op-0x85) + 1
		floor := 0
		if len(u.marks) > 0 {
			floor = u.marks[len(u.marks)-1]
		}
		if len(u.stack)-floor < n {
			return errUnderflow
		}
		t := make(pyTuple, n)
		copy(t, u.stack[len(u.stack)-n:])
		u.stack = u.stack[:len(u.stack)-n]
		return u.push(t)
	}
	items, ok := u.popMark() // TUPLE, DICT, FROZENSET
	if !ok {
		return errNoMark
	}
	switch op {
	case 't':
		return u.push(pyTuple(items))
	case 'd':
		d := newPyDict()
		if err := u.setItems(d, items); err != nil {
			return err
		}
		return u.push(d)
	}
	return u.push(&pySet{items: items})
}

// fill adds values to the list, dict or set below them: APPEND, APPENDS,
// SETITEM, SETITEMS, ADDITEMS. Adding to a placeholder does nothing.
func (u *unpickler) fill(op byte) error {
	switch op {
	case 'a': // APPEND
		v, ok := u.pop()
		if !ok {
			return errUnderflow
		}
		list, err := u.topList()
		if err != nil {
			return err
		}
		if list != nil {
			list.items = append(list.items, v)
		}
		return nil
	case 's': // SETITEM
		v, ok1 := u.pop()
		k, ok2 := u.pop()
		if !ok1 || !ok2 {
			return errUnderflow
		}
		dict, err := u.topDict("setting an item of")
		if err != nil || dict == nil {
			return err
		}
		return u.setItem(dict, k, v)
	}
	items, ok := u.popMark()
	if !ok {
		return errNoMark
	}
	switch op {
	case 'e': // APPENDS
		list, err := u.topList()
		if err != nil || list == nil {
			return err
		}
		if err := u.charge(len(items)); err != nil {
			return err
		}
		list.items = append(list.items, items...)
		return nil
	case 'u': // SETITEMS
		dict, err := u.topDict("setting items of")
		if err != nil || dict == nil {
			return err
		}
		return u.setItems(dict, items)
	}
	top, ok := u.top() // ADDITEMS
	if !ok {
		return errUnderflow
	}
	switch set := top.(type) {
	case *pySet:
		set.items = append(set.items, items...)
	case *pyOpaque:
	default:
		return fmt.Errorf("adding items to %s, not a set", aPyType(top))
	}
	return nil
}

// memoOp stores the top value in the memo (BINPUT, LONG_BINPUT, MEMOIZE)
// or pushes a stored one (BINGET, LONG_BINGET).
func (u *unpickler) memoOp(op byte) error {
	if op == 'h' || op == 'j' {
		idx, ok := u.readUint(operandSize(op))
		if !ok {
			return errTruncated
		}
		v, ok := u.memo[uint32(idx)]
		if !ok {
			return fmt.Errorf("memo index %d was never stored", idx)
		}
		return u.push(v)
	}
	idx := uint64(len(u.memo))
	if op != 0x94 {
		var ok bool
		if idx, ok = u.readUint(operandSize(op)); !ok {
			return errTruncated
		}
	}
	v, ok := u.top()
	if !ok {
		return errUnderflow
	}
	return u.memoize(uint32(idx), v)
}

// object runs the opcodes that name globals and make objects: GLOBAL,
// STACK_GLOBAL, REDUCE, NEWOBJ, NEWOBJ_EX, BINPERSID and BUILD.
func (u *unpickler) object(op byte) error {
	switch op {
	case 'c': // GLOBAL: "module\nname\n"
		module, ok1 := u.readLine()
		gname, ok2 := u.readLine()
		if !ok1 || !ok2 {
			return errTruncated
		}
		return u.pushGlobal(module, gname)
	case 0x93: // STACK_GLOBAL
		n, ok1 := u.pop()
		m, ok2 := u.pop()
		if !ok1 || !ok2 {
			return errUnderflow
		}
		module, ok1 := m.(string)
		gname, ok2 := n.(string)
		if !ok1 || !ok2 {
			return fmt.Errorf("module and name must be strings, not %s and %s", pyTypeName(m), pyTypeName(n))
		}
		return u.pushGlobal(module, gname)
	case 'R': // REDUCE
		a, ok1 := u.pop()
		f, ok2 := u.pop()
		if !ok1 || !ok2 {
			return errUnderflow
		}
		v, err := u.reduce(f, a)
		if err != nil {
			return err
		}
		return u.push(v)
	case 0x81, 0x92: // NEWOBJ: cls.__new__(cls, *args); NEWOBJ_EX: with kwargs
		return u.newObj(op == 0x92)
	case 'Q': // BINPERSID
		pid, ok := u.pop()
		if !ok {
			return errUnderflow
		}
		s, err := u.persistent(pid)
		if err != nil {
			return err
		}
		return u.push(s)
	}
	// BUILD: the state of an OrderedDict (its _metadata), of a parameter
	// or of a placeholder is ignored.
	state, ok := u.pop()
	if !ok {
		return errUnderflow
	}
	obj, ok := u.top()
	if !ok {
		return errUnderflow
	}
	switch obj.(type) {
	case *pyDict, *pyTensor, *pyOpaque:
		return nil
	}
	return fmt.Errorf("setting the state (%s) of %s", pyTypeName(state), aPyType(obj))
}

// pushGlobal pushes the value of the global module.name.
func (u *unpickler) pushGlobal(module, name string) error {
	g, err := u.global(module, name)
	if err != nil {
		return err
	}
	return u.push(g)
}

// newObj runs NEWOBJ (or NEWOBJ_EX, ex): only a placeholder class can be
// instantiated, into another placeholder.
func (u *unpickler) newObj(ex bool) error {
	if ex {
		if _, ok := u.pop(); !ok {
			return errUnderflow
		}
	}
	_, ok1 := u.pop()
	cls, ok2 := u.pop()
	if !ok1 || !ok2 {
		return errUnderflow
	}
	o, ok := cls.(*pyOpaque)
	if !ok {
		return fmt.Errorf("creating an instance of %s", aPyType(cls))
	}
	return u.push(o.made())
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
