package checkpoints

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The Python values a state dict pickle builds, and the globals it may name.

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
func (d *pyDict) set(key, value any) {
	switch key.(type) {
	case string, pyBytes, int64, float64, bool, pyNone, pyGlobal, *pyOpaque:
	default:
		// Keys such as tuples are not hashable in Go: they are kept, in
		// order, without replacing an equal key. Only dicts that are not
		// state dicts have them, and those are never looked up.
		d.keys = append(d.keys, key)
		d.values = append(d.values, value)
		return
	}
	if i, ok := d.index[key]; ok {
		d.values[i] = value
		return
	}
	d.index[key] = len(d.keys)
	d.keys = append(d.keys, key)
	d.values = append(d.values, value)
}

// pyBytes is a Python bytes or bytearray value.
type pyBytes string

// pyBigInt is a Python int that does not fit in 64 bits; its value is not
// kept.
type pyBigInt struct{}

// pySet is a Python set or frozenset.
type pySet struct{ items []any }

// pyGlobal is an allow-listed global pushed by GLOBAL or STACK_GLOBAL.
type pyGlobal struct{ module, name string }

// pyOpaque stands for an object the interpreter does not build: a global
// outside the allow-list (argparse.Namespace, numpy's scalar), whatever
// calling, instantiating or setting the state of such a placeholder makes,
// and a tensor whose storage type cannot be read. The global is only
// named: it is never imported, called or looked up. Placeholders let a
// checkpoint keep such objects beside its state dict; one inside the state
// dict that is read is an error naming its key and its global.
type pyOpaque struct {
	global string // "argparse.Namespace", or the storage type of a tensor
	tensor bool   // a tensor (or its storage) of an unreadable storage type
}

// maxGlobalName bounds the length of the module and of the name of a
// global kept in a placeholder (and so in error messages).
const maxGlobalName = 64

// globalName returns "module.name" for a placeholder, each part cut to
// maxGlobalName bytes and made valid UTF-8.
func globalName(module, name string) string {
	cut := func(s string) string {
		if len(s) > maxGlobalName {
			return strings.ToValidUTF8(s[:maxGlobalName], "") + "..."
		}
		return strings.ToValidUTF8(s, "?")
	}
	return cut(module) + "." + cut(name)
}

// made returns the placeholder for what calling or instantiating o makes.
func (o *pyOpaque) made() *pyOpaque { return &pyOpaque{global: o.global, tensor: o.tensor} }

// maxQuotedName bounds the bytes of a key or name read from a file that
// an error message quotes: a pickle's strings can be megabytes long.
const maxQuotedName = 100

// quoteName quotes name, a key or name read from a file, for an error
// message: whole when it has at most maxQuotedName bytes, else its first
// maxQuotedName bytes (cut at a character boundary) followed by
// "… (N bytes)".
func quoteName(name string) string {
	if len(name) <= maxQuotedName {
		return strconv.Quote(name)
	}
	cut := maxQuotedName
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return fmt.Sprintf("%q… (%d bytes)", name[:cut], len(name))
}

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
	case pyBytes:
		return "bytes"
	case int64, pyBigInt:
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
	case *pySet:
		return "set"
	case *pyOpaque:
		if v.tensor {
			return "tensor of " + v.global
		}
		return "object of " + v.global
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
	if len(module)+len(name) > 64 { // longer than any allowed global
		return false
	}
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
