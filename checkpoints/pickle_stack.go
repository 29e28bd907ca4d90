package checkpoints

import (
	"bytes"
	"errors"
	"fmt"
)

// read returns the next n bytes, or an error if the pickle ends before.
func (u *unpickler) read(n int) ([]byte, bool) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, false
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, true
}

// readUint reads an opcode's operand: a little-endian unsigned integer of
// size bytes (at most 8).
func (u *unpickler) readUint(size int) (uint64, bool) {
	b, ok := u.read(size)
	if !ok {
		return 0, false
	}
	var x uint64
	for i := len(b) - 1; i >= 0; i-- {
		x = x<<8 | uint64(b[i])
	}
	return x, true
}

// operandSize is the size in bytes of the integer, length or memo-index
// operand of the opcodes that come in several sizes: 1 for BININT1,
// SHORT_BINUNICODE, SHORT_BINBYTES, BINPUT, BINGET and LONG1, 2 for
// BININT2, 4 for BININT, BINUNICODE, BINBYTES, LONG_BINPUT, LONG_BINGET
// and LONG4, 8 for BINUNICODE8, BINBYTES8 and BYTEARRAY8.
func operandSize(op byte) int {
	switch op {
	case 'K', 0x8c, 'C', 'q', 'h', 0x8a:
		return 1
	case 'M':
		return 2
	case 'J', 'X', 'B', 'r', 'j', 0x8b:
		return 4
	}
	return 8
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
	if err := u.charge(1); err != nil {
		return err
	}
	u.stack = append(u.stack, v)
	return nil
}

// charge counts n values about to be created (or copied into a new
// container) against maxPickleItems.
func (u *unpickler) charge(n int) error {
	if n > maxPickleItems-u.items {
		return fmt.Errorf("more than %d values", maxPickleItems)
	}
	u.items += n
	return nil
}

// chargeKey counts the bytes of a dict or storage key about to be hashed
// against maxKeyBytes. Keys other than strings and bytes have a fixed
// size and cost nothing.
func (u *unpickler) chargeKey(key any) error {
	var n int
	switch k := key.(type) {
	case string:
		n = len(k)
	case pyBytes:
		n = len(k)
	}
	if n > maxKeyBytes-u.keyBytes {
		return fmt.Errorf("keys of more than %d bytes in all (a long key set or looked up again and again)", maxKeyBytes)
	}
	u.keyBytes += n
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

// topList returns the list on top of the stack, which APPEND and APPENDS
// append to, or nil for a placeholder (an object of a list subclass that is
// not built), which takes the items and drops them.
func (u *unpickler) topList() (*pyList, error) {
	l, ok := u.top()
	if !ok {
		return nil, errors.New("stack underflow")
	}
	if _, ok := l.(*pyOpaque); ok {
		return nil, nil
	}
	list, ok := l.(*pyList)
	if !ok {
		return nil, fmt.Errorf("appending to %s, not a list", aPyType(l))
	}
	return list, nil
}

// topDict returns the dict on top of the stack, which SETITEM and SETITEMS
// set, or nil for a placeholder (an object of a dict subclass that is not
// built, such as a defaultdict), which takes the items and drops them;
// doing names the operation in the error.
func (u *unpickler) topDict(doing string) (*pyDict, error) {
	d, ok := u.top()
	if !ok {
		return nil, errors.New("stack underflow")
	}
	if _, ok := d.(*pyOpaque); ok {
		return nil, nil
	}
	dict, ok := d.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("%s %s, not a dict", doing, aPyType(d))
	}
	return dict, nil
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
