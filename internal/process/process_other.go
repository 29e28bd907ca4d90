//go:build !unix

package process

// Alive cannot tell on this system, so every process counts as alive
// and nothing is removed as a dead one's.
func Alive(int) bool { return true }

// Space cannot tell on this system: "".
func Space() string { return "" }

// FullSpace cannot tell on this system: "".
func FullSpace() string { return "" }
