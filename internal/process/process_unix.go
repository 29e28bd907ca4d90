//go:build unix

package process

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Linux's files that name this process's id space (Space).
const (
	bootIDFile = "/proc/sys/kernel/random/boot_id"
	pidNSLink  = "/proc/self/ns/pid"
)

// Alive reports whether a process with this pid exists on this host
// (signal 0 checks without sending anything) and, where a /proc of this
// process's namespace tells, is not a zombie: a killed worker its parent
// has not reaped yet holds nothing.
func Alive(pid int) bool {
	return alive(pid, "/proc")
}

// alive is Alive with the proc file system at proc. Its entries are
// believed only when it is this process's pid namespace's (proc/self is
// this process's id): under a /proc of another namespace (unshare --pid
// without --mount-proc), proc/PID is another process, whose being a
// zombie says nothing of the process that pid names here.
func alive(pid int, proc string) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if self, err := os.Readlink(proc + "/self"); err != nil || self != strconv.Itoa(os.Getpid()) {
		return true
	}
	stat, err := os.ReadFile(proc + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// "pid (comm) S ...": the state follows the last ')' (comm may hold one).
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

// Space names the space in which this process's id is meaningful: a
// digest of the running kernel's boot id and of the process-id namespace
// (Linux's /proc/sys/kernel/random/boot_id and /proc/self/ns/pid), as 16
// hex digits, so that two containers with one host name, or two machines
// with one name, tell each other apart. It is "" where neither can be
// read (systems without /proc); where only one can, it is the digest of
// that one, which tells apart less (FullSpace).
func Space() string {
	s, _ := space(bootIDFile, pidNSLink)
	return s
}

// FullSpace is Space where both the boot id and the process-id namespace
// could be read, and "" elsewhere: only then does it tell apart every
// machine (a namespace's id repeats on other machines, the first one's
// always) and every namespace of one machine (they share the boot id).
// What removes a process's files by their names alone, with no host's
// say, takes this one.
func FullSpace() string {
	if s, full := space(bootIDFile, pidNSLink); full {
		return s
	}
	return ""
}

// space is Space from the boot id in bootFile and the namespace link
// nsLink, and whether both could be read (an empty one counts as unread).
func space(bootFile, nsLink string) (s string, full bool) {
	boot, errBoot := os.ReadFile(bootFile)
	boot = bytes.TrimSpace(boot)
	ns, errNS := os.Readlink(nsLink)
	readBoot, readNS := errBoot == nil && len(boot) > 0, errNS == nil && ns != ""
	if !readBoot && !readNS {
		return "", false
	}
	h := fnv.New64a()
	h.Write(boot)
	h.Write([]byte{0})
	h.Write([]byte(ns))
	return fmt.Sprintf("%016x", h.Sum64()), readBoot && readNS
}
