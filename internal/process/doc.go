// Package process tells whether a process that recorded its id, in a
// claim file or in the name of a temporary file, is still alive: its id
// means something only in the process-id space it was recorded in
// (Space), and there a process that no longer exists (Alive) holds
// nothing, so what it left may be removed.
package process
