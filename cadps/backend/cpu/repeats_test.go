//go:build !purego

package cpu

// concurrentRepeats is how many times each of TestDotGeneral_Exec's
// concurrent workers runs the shared executable: the full stress of the
// executor's buffers and worker pool under concurrent calls.
const concurrentRepeats = 1000
