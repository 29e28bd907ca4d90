package runs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cadps/toolkit/internal/atomicfile"
)

// DefaultLease is the lease of a claim when Claimer.Lease is zero: a claim
// whose file has not been refreshed for that long belongs to a worker that
// died, and another worker may take the item over. A claim of a process
// of this host that no longer runs is taken over at once.
const DefaultLease = 2 * time.Minute

// MinLease is the shortest lease a Claimer uses: a positive
// Claimer.Lease below it counts as MinLease, so that the heartbeat, every
// quarter of the lease, keeps a sensible interval (a lease of nanoseconds
// would make it fire without pause, or not at all).
const MinLease = time.Second

// ErrHeld is returned (wrapped, naming the holder) by Claimer.Claim for an
// item that another live worker holds.
var ErrHeld = errors.New("held by another worker")

// Holder describes the worker that holds a claim; it is the content of a
// claim file.
type Holder struct {
	// Host and PID identify the process.
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// Worker names the worker in the run's terms (its shard, its job).
	Worker string `json:"worker,omitempty"`
	// Claimed is when the claim was made (RFC 3339, UTC).
	Claimed string `json:"claimed"`
}

// String names the holder as host:pid (worker).
func (h Holder) String() string {
	s := h.Host + ":" + strconv.Itoa(h.PID)
	if h.Worker != "" {
		s += " (" + h.Worker + ")"
	}
	return s
}

// Claimer claims items for one worker. An item's claim is a family of
// files STEM.0, STEM.1, …, one per generation: the claim is held by the
// newest generation's file, created with an atomic link (which fails if
// the file exists, also on NFS), so that of all workers trying at once
// exactly one wins. The holder refreshes the file's modification time
// every quarter of the lease (a heartbeat); a file older than the lease
// marks a dead holder, and the next generation may then be claimed —
// again by exactly one worker. So does a file whose holder is a process of
// the claiming worker's host that is no longer alive (processAlive), at
// once: a worker stopped by Ctrl-C or kill -9 does not block a restart on
// its host for the lease. A holder that finds a newer generation than
// its own has lost the item and must not publish it (Claim.Lost).
//
// The staleness test compares the file's time with the local clock:
// machines that share a folder must agree on the time to well within the
// lease, and on NFS the lease must exceed a quarter of itself plus the
// client's attribute cache time (acregmax, 60 s by default), which the
// default lease of 2 minutes does.
type Claimer struct {
	// Lease is how long a claim lives without a heartbeat (0 or less:
	// DefaultLease; less than MinLease: MinLease).
	Lease time.Duration
	// Worker names this worker in the claims it writes.
	Worker string

	mu     sync.Mutex
	active map[*Claim]bool
}

func (c *Claimer) lease() time.Duration {
	switch {
	case c.Lease <= 0:
		return DefaultLease
	case c.Lease < MinLease:
		return MinLease
	}
	return c.Lease
}

// Claim is a claim this worker holds.
type Claim struct {
	path   string
	gen    int
	stem   string
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	lost   bool
	closed bool
	owner  *Claimer
}

// generations returns the newest generation among stem's claim files, and
// whether there is any.
func generations(stem string) (newest int, found bool, err error) {
	matches, err := filepath.Glob(globEscape(stem) + ".*")
	if err != nil {
		return 0, false, err
	}
	newest = -1
	for _, m := range matches {
		g, err := strconv.Atoi(strings.TrimPrefix(m, stem+"."))
		if err != nil || g < 0 {
			continue // a temporary file or another name
		}
		if g > newest {
			newest = g
		}
	}
	return newest, newest >= 0, nil
}

// globEscape quotes the glob metacharacters of a path.
func globEscape(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(p)
}

// Claim tries to claim the item whose claim files are named STEM.N (the
// folder must exist). It returns the claim, or an error wrapping ErrHeld
// when a live worker holds the item; a claim whose holder stopped
// refreshing it for the lease is taken over, and so at once is one whose
// holder is a process of this host that no longer runs (killed, or
// stopped by Ctrl-C).
func (c *Claimer) Claim(stem string) (*Claim, error) {
	gen, err := c.nextGeneration(stem)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	data, err := json.Marshal(Holder{Host: host, PID: os.Getpid(), Worker: c.Worker, Claimed: time.Now().UTC().Format(time.RFC3339)})
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	path := stem + "." + strconv.Itoa(gen)
	won, err := atomicfile.CreateExclusive(path, processTag(), data)
	if err != nil {
		return nil, fmt.Errorf("runs: claim %s: %w", stem, err)
	}
	if !won {
		return nil, fmt.Errorf("%s: %w: %s", stem, ErrHeld, readHolder(path))
	}
	for g := range gen {
		os.Remove(stem + "." + strconv.Itoa(g)) // the dead holders' files
	}
	removeDeadTemps(stem, gen)
	cl := &Claim{path: path, gen: gen, stem: stem, stop: make(chan struct{}), done: make(chan struct{}), owner: c}
	c.mu.Lock()
	if c.active == nil {
		c.active = map[*Claim]bool{}
	}
	c.active[cl] = true
	c.mu.Unlock()
	go cl.heartbeat(c.lease() / 4)
	return cl, nil
}

// nextGeneration returns the generation a claim of stem may try to
// create: 0 when there is no claim file, the newest plus one when the
// newest belongs to no live worker (its lease ran out, or its holder is a
// process of this host that no longer runs), or an error wrapping ErrHeld
// when it belongs to a live one. When the newest file vanishes between the
// listing and the look at it (its holder released it), it lists again:
// taking the newest plus one then could let this claim and one that found
// no file (generation 0) both succeed.
func (c *Claimer) nextGeneration(stem string) (int, error) {
	for range 1000 {
		newest, found, err := generations(stem)
		if err != nil {
			return 0, fmt.Errorf("runs: claim %s: %w", stem, err)
		}
		if !found {
			return 0, nil
		}
		path := stem + "." + strconv.Itoa(newest)
		st, err := os.Lstat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // released meanwhile
		case err != nil:
			return 0, fmt.Errorf("runs: claim %s: %w", stem, err)
		case time.Since(st.ModTime()) <= c.lease() && !deadHolder(path):
			return 0, fmt.Errorf("%s: %w: %s", stem, ErrHeld, readHolder(path))
		}
		return newest + 1, nil
	}
	return 0, fmt.Errorf("runs: claim %s: its newest claim file vanished 1000 times in a row", stem)
}

// Sweep removes the claim files of an item that no live worker holds, with
// the temporary files dead processes of this host left for them. A worker
// calls it for an item it finds finished: a holder killed between
// publishing the item and releasing its claim leaves a claim that no
// later claim would remove. It sweeps by claiming the item and releasing
// it at once, so that it removes only files that a claim of its own has
// superseded (never a claim another worker has just made), and leaves a
// claim a live worker holds alone.
func (c *Claimer) Sweep(stem string) error {
	_, found, err := generations(stem)
	if err != nil {
		return err
	}
	if !found {
		removeDeadTemps(stem, 0) // a holder killed before its link
		return nil
	}
	cl, err := c.Claim(stem)
	if errors.Is(err, ErrHeld) {
		return nil
	}
	if err != nil {
		return err
	}
	return cl.Release()
}

// readHolder names the holder recorded in a claim file.
func readHolder(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "holder unknown"
	}
	var h Holder
	if json.Unmarshal(data, &h) != nil {
		return "holder unknown"
	}
	return h.String() + " since " + h.Claimed
}

// deadHolder reports whether the claim file at path names a process of
// this host that is not alive. A holder on another host, or one that
// cannot be read, is not known to be dead: its claim keeps the lease rule.
func deadHolder(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var h Holder
	if json.Unmarshal(data, &h) != nil || h.PID <= 0 {
		return false
	}
	host, _ := os.Hostname()
	return h.Host == host && h.PID != os.Getpid() && !processAlive(h.PID)
}

// heartbeat refreshes the claim file every interval until Release, and
// marks the claim lost when its file is gone or a newer generation exists.
func (cl *Claim) heartbeat(interval time.Duration) {
	defer close(cl.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-cl.stop:
			return
		case <-t.C:
			cl.refresh()
		}
	}
}

// refresh touches the claim file and checks that it is still the newest.
func (cl *Claim) refresh() {
	now := time.Now()
	err := os.Chtimes(cl.path, now, now)
	newest, _, gerr := generations(cl.stem)
	if errors.Is(err, fs.ErrNotExist) || (gerr == nil && newest > cl.gen) {
		cl.mu.Lock()
		cl.lost = true
		cl.mu.Unlock()
	}
}

// Lost reports whether another worker took the item over (after this
// worker missed its heartbeats for the lease): the holder must then not
// publish its result. It checks the claim files afresh.
func (cl *Claim) Lost() bool {
	cl.refresh()
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.lost
}

// Release ends the claim: the heartbeat stops and the claim file is
// removed (unless another worker has taken the item over). Releasing twice
// is harmless.
func (cl *Claim) Release() error {
	cl.mu.Lock()
	if cl.closed {
		cl.mu.Unlock()
		return nil
	}
	cl.closed = true
	cl.mu.Unlock()
	close(cl.stop)
	<-cl.done
	cl.owner.mu.Lock()
	delete(cl.owner.active, cl)
	cl.owner.mu.Unlock()
	if err := os.Remove(cl.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("runs: releasing %s: %w", cl.path, err)
	}
	return nil
}

// ReleaseAll releases every claim this worker holds, e.g. when it is
// asked to stop (SIGTERM from scancel or Kubernetes), so that a
// resubmitted worker need not wait for the lease to run out.
func (c *Claimer) ReleaseAll() {
	c.mu.Lock()
	held := make([]*Claim, 0, len(c.active))
	for cl := range c.active {
		held = append(held, cl)
	}
	c.mu.Unlock()
	for _, cl := range held {
		cl.Release()
	}
}

// processTag names this process in the temporary files of its claims
// (host and pid), so that a later worker can tell a temporary file that a
// killed process left behind from one a live process is still writing.
func processTag() string {
	host, _ := os.Hostname()
	return strings.ReplaceAll(host, ".", "_") + "-" + strconv.Itoa(os.Getpid())
}

// removeDeadTemps removes the temporary files of claims STEM.0 … STEM.gen
// that processes of this host left when they were killed between writing
// and linking them (kill -9, a node's out-of-memory killer). Files of
// live processes, and of other hosts, are left alone.
func removeDeadTemps(stem string, gen int) {
	dir, base := filepath.Split(stem)
	host, _ := os.Hostname()
	prefix := strings.ReplaceAll(host, ".", "_") + "-"
	for g := 0; g <= gen; g++ {
		name := base + "." + strconv.Itoa(g)
		matches, _ := filepath.Glob(filepath.Join(dir, globEscape("."+name+"."+prefix)+"*"))
		for _, m := range matches {
			rest := strings.TrimPrefix(filepath.Base(m), "."+name+"."+prefix)
			pid, err := strconv.Atoi(rest[:max(strings.Index(rest, "."), 0)])
			if err == nil && pid != os.Getpid() && !processAlive(pid) {
				os.Remove(m)
			}
		}
	}
}
