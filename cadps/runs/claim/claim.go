package claim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cadps/toolkit/internal/atomicfile"
	"github.com/cadps/toolkit/internal/process"
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
	// Host and PID identify the process, within PIDSpace.
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// PIDSpace tells the system and process-id namespace in which PID
	// names the process (see process.Space; empty where it cannot be told):
	// containers that share the host's name (host networking) have
	// process ids of their own, and one must not judge another's holder
	// dead because its PID does not run in its own namespace.
	PIDSpace string `json:"pid_space,omitempty"`
	// Worker names the worker in the run's terms (its shard, its job).
	Worker string `json:"worker,omitempty"`
	// Lease is the holder's lease in seconds (Claimer.Lease): its claim
	// goes stale only once it has not been refreshed for the longer of
	// that and the looking worker's lease, so that a worker given a
	// shorter lease does not take over the claims of live workers, which
	// refresh them less often.
	Lease float64 `json:"lease_seconds,omitempty"`
	// Claimed is when the claim was made (RFC 3339, UTC).
	Claimed string `json:"claimed"`
	// Token is drawn at random for each claim: a worker tells its own
	// claim file from one another worker made later under the same name.
	Token string `json:"token,omitempty"`
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
// the claiming worker's host and process-id namespace (process.Space) that is
// no longer alive (process.Alive), at once: a worker stopped by Ctrl-C or
// kill -9 does not block a restart on its host for the lease. A worker that has linked its file checks that
// no live worker made another meanwhile, and gives way if one did; each
// claim file holds a random token, by which a holder tells its own file
// from one made later under the same name. A holder that finds a newer
// generation than its own, or its file gone or not its own, has lost the
// item and must not publish it (Claim.Lost).
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
	// released is set by ReleaseAll: later claims are refused.
	released bool
	// making counts the Claim calls under way, which ReleaseAll waits
	// for (they then remove their files themselves).
	making sync.WaitGroup
	// touch sets a claim file's modification time (nil: os.Chtimes; a
	// test's hook).
	touch func(path string, t time.Time) error
}

// stamp sets the modification time of the claim file path to t (with the
// test's hook touch when there is one).
func (c *Claimer) stamp(path string, t time.Time) error {
	if c.touch != nil {
		return c.touch(path, t)
	}
	return os.Chtimes(path, t, t)
}

// EffectiveLease returns the lease c's claims live by: Lease, or
// DefaultLease when Lease is zero or less, or MinLease when it is shorter.
// Its holder refreshes a claim every quarter of it.
func (c *Claimer) EffectiveLease() time.Duration {
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
	path  string
	token string
	gen   int
	stem  string
	stop  chan struct{}
	done  chan struct{}
	// fileGone is closed once Release has removed the file: a Release
	// that finds another under way (ReleaseAll's, on a stop) waits for it.
	fileGone chan struct{}
	mu       sync.Mutex
	lost     bool
	// err is the first error that kept the heartbeat from refreshing the
	// claim file (other than its being gone).
	err    error
	closed bool
	owner  *Claimer
}

// generations returns the newest generation among stem's claim files, and
// whether there is any.
func generations(stem string) (newest int, found bool, err error) {
	matches, err := filepath.Glob(atomicfile.GlobEscape(stem) + ".*")
	if err != nil {
		return 0, false, err
	}
	newest = -1
	for _, g := range claimGenerations(stem, matches) {
		newest = max(newest, g)
	}
	return newest, newest >= 0, nil
}

// claimGenerations returns the generations of the claim files among
// matches (paths STEM.N, N in its canonical decimal form; temporary files
// and other names are left out).
func claimGenerations(stem string, matches []string) []int {
	var gens []int
	for _, m := range matches {
		suffix := strings.TrimPrefix(m, stem+".")
		if g, err := strconv.Atoi(suffix); err == nil && g >= 0 && strconv.Itoa(g) == suffix {
			gens = append(gens, g)
		}
	}
	return gens
}

// Claim tries to claim the item whose claim files are named STEM.N (the
// folder must exist). It returns the claim, or an error wrapping ErrHeld
// when a live worker holds the item; a claim whose holder stopped
// refreshing it for the lease is taken over, and so at once is one whose
// holder is a process of this host that no longer runs (killed, or
// stopped by Ctrl-C).
func (c *Claimer) Claim(stem string) (*Claim, error) {
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return nil, fmt.Errorf("claim: %s: the worker is stopping, its claims released", stem)
	}
	c.making.Add(1)
	c.mu.Unlock()
	defer c.making.Done()
	gen, seen, err := c.nextGeneration(stem)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var token [8]byte
	if _, err := rand.Read(token[:]); err != nil {
		return nil, fmt.Errorf("claim: %s: %w", stem, err)
	}
	h := Holder{Host: host, PID: os.Getpid(), PIDSpace: process.Space(), Worker: c.Worker, Lease: c.EffectiveLease().Seconds(),
		Claimed: time.Now().UTC().Format(time.RFC3339), Token: hex.EncodeToString(token[:])}
	data, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	path := stem + "." + strconv.Itoa(gen)
	won, err := atomicfile.CreateExclusive(path, processTag(), data)
	if err != nil {
		return nil, fmt.Errorf("claim: %s: %w", stem, err)
	}
	if !won {
		return nil, fmt.Errorf("%s: %w: %s", stem, ErrHeld, readHolder(path))
	}
	// A new file has the file server's time; the claim's age is read
	// against the machines' clocks, so it starts from this one's (a
	// failure leaves the server's time until the first refresh).
	_ = c.stamp(path, time.Now())
	cl := &Claim{path: path, token: h.Token, gen: gen, stem: stem, stop: make(chan struct{}), done: make(chan struct{}),
		fileGone: make(chan struct{}), owner: c}
	if err := c.settle(cl, seen); err != nil {
		cl.removeOwn()
		return nil, err
	}
	removeDeadTemps(stem)
	c.mu.Lock()
	if c.released { // ReleaseAll ran while this claim was made
		c.mu.Unlock()
		cl.removeOwn()
		return nil, fmt.Errorf("claim: %s: the worker is stopping, its claims released", stem)
	}
	if c.active == nil {
		c.active = map[*Claim]bool{}
	}
	c.active[cl] = true
	c.mu.Unlock()
	go cl.heartbeat(c.EffectiveLease() / 4)
	return cl, nil
}

// settle checks, once cl's file is linked, that no live worker claimed the
// item meanwhile, and removes the files cl supersedes. Between this
// worker's look (seen) and its link, another worker may have made a newer
// generation, or, after the files it saw were released or taken over,
// made a fresh one of a lower generation (generation numbers start again
// at 0 once an item has no claim file); either is a live holder, and this
// claim gives way (ErrHeld). A file it saw (by its token) older than the
// newest it saw was superseded already and is removed; the newest it saw,
// and any other, is removed unless its holder is live now.
func (c *Claimer) settle(cl *Claim, seen look) error {
	matches, err := filepath.Glob(atomicfile.GlobEscape(cl.stem) + ".*")
	if err != nil {
		return fmt.Errorf("claim: %s: %w", cl.stem, err)
	}
	var older []string
	for _, g := range claimGenerations(cl.stem, matches) {
		if g == cl.gen {
			continue
		}
		path := cl.stem + "." + strconv.Itoa(g)
		token, wasSeen := seen.tokens[g]
		superseded := wasSeen && g < seen.newest && readHolderOf(path).Token == token
		live, err := c.Live(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("claim: %s: %w", cl.stem, err)
		case g > cl.gen || live && !superseded:
			return fmt.Errorf("%s: %w: %s", cl.stem, ErrHeld, readHolder(path))
		default:
			older = append(older, path)
		}
	}
	for _, path := range older {
		os.Remove(path) // the dead or stale holders' files
	}
	return nil
}

// Live reports whether the claim file at path (STEM.N) belongs to a live
// worker: refreshed within the lease (the longer of this worker's and the
// one the holder recorded), by a holder that is not a process of this host
// that no longer runs. It looks at the file itself (Lstat), so that a
// dangling link counts as a file; a missing file is an error wrapping
// fs.ErrNotExist.
func (c *Claimer) Live(path string) (bool, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return false, err
	}
	lease := c.EffectiveLease()
	if held := readHolderOf(path).Lease; held > lease.Seconds() {
		lease = time.Duration(min(held, time.Duration(math.MaxInt64).Seconds()/2) * float64(time.Second))
	}
	return time.Since(st.ModTime()) <= lease && !deadHolder(path), nil
}

// look is what a claim saw of an item's claim files before it linked its
// own: the newest generation (-1 for none), which no live worker held, and
// the token of every file then there, by generation.
type look struct {
	newest int
	tokens map[int]string
}

// nextGeneration looks at stem's claim files and returns what it saw, with
// the generation a claim may try to create: 0 when there is no claim file,
// the newest plus one when the newest belongs to no live worker (its lease
// ran out, or its holder is a process of this host that no longer runs).
// It returns an error wrapping ErrHeld when the newest belongs to a live
// one. When the newest file vanishes between the listing and the look at
// it (its holder released it), it lists again.
func (c *Claimer) nextGeneration(stem string) (int, look, error) {
	for range 1000 {
		matches, err := filepath.Glob(atomicfile.GlobEscape(stem) + ".*")
		if err != nil {
			return 0, look{}, fmt.Errorf("claim: %s: %w", stem, err)
		}
		l := look{newest: -1, tokens: map[int]string{}}
		for _, g := range claimGenerations(stem, matches) {
			l.newest = max(l.newest, g)
			l.tokens[g] = readHolderOf(stem + "." + strconv.Itoa(g)).Token
		}
		if l.newest < 0 {
			return 0, l, nil
		}
		path := stem + "." + strconv.Itoa(l.newest)
		live, err := c.Live(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			time.Sleep(time.Millisecond)
			continue // released meanwhile
		case err != nil:
			return 0, look{}, fmt.Errorf("claim: %s: %w", stem, err)
		case live:
			return 0, look{}, fmt.Errorf("%s: %w: %s", stem, ErrHeld, readHolder(path))
		}
		return l.newest + 1, l, nil
	}
	return 0, look{}, fmt.Errorf("%s: %w: its newest claim file vanished 1000 times in a row", stem, ErrHeld)
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
		removeDeadTemps(stem) // a holder killed before its link
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
	h := readHolderOf(path)
	if h.Host == "" && h.PID == 0 {
		return "holder unknown"
	}
	return h.String() + " since " + h.Claimed
}

// readHolderOf returns the holder recorded in a claim file (the zero
// Holder when it cannot be read).
func readHolderOf(path string) Holder {
	var h Holder
	if data, err := os.ReadFile(path); err == nil {
		json.Unmarshal(data, &h)
	}
	return h
}

// deadHolder reports whether the claim file at path names a process of
// this host and process-id namespace (sameSpace) that is not alive. A
// holder on another host or in another namespace, or one that cannot be
// read or records no valid process id (validPID), is not known to be
// dead: its claim keeps the lease rule.
func deadHolder(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var h Holder
	if json.Unmarshal(data, &h) != nil || !validPID(h.PID) {
		return false
	}
	host, _ := os.Hostname()
	return h.Host == host && sameSpace(h.PIDSpace) && h.PID != os.Getpid() && !process.Alive(h.PID)
}

// validPID reports whether pid can be a process id: positive and within
// the 32 bits a process id has (the kernel reads only those, so that a
// larger recorded id would name another process). A claim file or a
// temporary file's name recording another id is corrupt.
func validPID(pid int) bool {
	return pid > 0 && int64(pid) <= math.MaxInt32
}

// sameSpace reports whether a holder's PIDSpace is this process's. A
// holder that recorded none (a claim file without the field, or one
// written where the namespace cannot be told) is taken as of this host's
// namespace.
func sameSpace(space string) bool {
	return space == "" || space == process.Space()
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
// A file that cannot be touched (permission, I/O or stale NFS handle
// errors) makes the claim lost too, keeping the first such error: the
// claim would go stale, and another worker take the item over.
func (cl *Claim) refresh() {
	var why error
	lost := !cl.own()
	if !lost {
		switch err := cl.owner.stamp(cl.path, time.Now()); {
		case errors.Is(err, fs.ErrNotExist):
			lost = true
		case err != nil:
			lost, why = true, fmt.Errorf("claim: %s cannot be refreshed, so it would go stale and another worker take it over: %w", cl.path, err)
		}
	}
	if newest, _, err := generations(cl.stem); err == nil && newest > cl.gen {
		lost = true
	}
	if lost {
		cl.mu.Lock()
		cl.lost = true
		if cl.err == nil {
			cl.err = why
		}
		cl.mu.Unlock()
	}
}

// own reports whether the claim's file is still this claim's: it exists
// and holds its token (another worker may have made a file of the same
// name after this one's was taken over and released).
func (cl *Claim) own() bool {
	data, err := os.ReadFile(cl.path)
	if err != nil {
		return false
	}
	var h Holder
	return json.Unmarshal(data, &h) == nil && h.Token == cl.token
}

// removeOwn removes the claim's file unless it is another claim's, for a
// claim that is given up before it is handed out.
func (cl *Claim) removeOwn() {
	if cl.own() {
		os.Remove(cl.path)
	}
}

// Lost reports whether another worker took the item over (after this
// worker missed its heartbeats for the lease), or this worker could not
// refresh its claim file (Err says why): the holder must then not publish
// its result. It checks the claim files afresh.
func (cl *Claim) Lost() bool {
	cl.refresh()
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.lost
}

// Err returns the first error that kept this worker from refreshing its
// claim file (which made the claim lost), or nil when there was none:
// when Lost, another worker took the item over.
func (cl *Claim) Err() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.err
}

// Release ends the claim: the heartbeat stops and the claim file is
// removed (unless another worker has taken the item over). Releasing twice
// is harmless; a Release that finds another under way returns once that
// one has removed the file, so that a process may exit as soon as either
// returns.
func (cl *Claim) Release() error {
	cl.mu.Lock()
	if cl.closed {
		cl.mu.Unlock()
		<-cl.fileGone
		return nil
	}
	cl.closed = true
	cl.mu.Unlock()
	close(cl.stop)
	<-cl.done
	var err error
	if cl.own() { // else taken over: the file, if any, is another worker's
		if rerr := os.Remove(cl.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = fmt.Errorf("claim: releasing %s: %w", cl.path, rerr)
		}
	}
	// Only once the file is gone: ReleaseAll, which finds the claims
	// among the active ones, waits for this Release until then.
	cl.owner.mu.Lock()
	delete(cl.owner.active, cl)
	cl.owner.mu.Unlock()
	close(cl.fileGone)
	return err
}

// ReleaseAll releases every claim this worker holds, e.g. when it is
// asked to stop (SIGTERM from scancel or Kubernetes), so that a
// resubmitted worker need not wait for the lease to run out. Claims made
// after it, or while it runs, are refused and leave no file: it waits for
// those under way, and for the releases under way (a claim the worker is
// releasing itself), so that a process may exit as soon as it returns.
func (c *Claimer) ReleaseAll() {
	c.mu.Lock()
	c.released = true
	c.mu.Unlock()
	c.making.Wait()
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
// (host, pid and, where it can be told, its process.Space: HOST-PID-SPACE), so
// that a later worker can tell a temporary file that a killed process
// left behind from one a live process is still writing.
func processTag() string {
	host, _ := os.Hostname()
	tag := strings.ReplaceAll(host, ".", "_") + "-" + strconv.Itoa(os.Getpid())
	if space := process.Space(); space != "" {
		tag += "-" + space
	}
	return tag
}

// removeDeadTemps removes the temporary files of the claims STEM.N, of
// every generation N, that processes of this host and process-id
// namespace left when they were killed between writing and linking them
// (kill -9, a node's out-of-memory killer). A process killed while it
// made a generation that another worker won leaves its file when the
// item's claims start again at generation 0, so no generation is left
// out. Files of live processes, of other hosts or namespaces, and those
// whose name records no valid process id (validPID), are left alone.
func removeDeadTemps(stem string) {
	dir, base := filepath.Split(stem)
	if dir == "" {
		dir = "."
	}
	host, _ := os.Hostname()
	prefix := strings.ReplaceAll(host, ".", "_") + "-"
	matches, _ := atomicfile.Temps(dir, atomicfile.GlobEscape(base+".")+"[0-9]*"+atomicfile.GlobEscape("."+prefix)+"*")
	for _, m := range matches {
		gen, rest, ok := strings.Cut(strings.TrimPrefix(filepath.Base(m), "."+base+"."), ".")
		if !ok || len(claimGenerations(base, []string{base + "." + gen})) == 0 {
			continue
		}
		rest, ok = strings.CutPrefix(rest, prefix)
		if !ok {
			continue
		}
		num, space, _ := strings.Cut(rest[:max(strings.Index(rest, "."), 0)], "-")
		pid, err := strconv.Atoi(num)
		if err == nil && validPID(pid) && sameSpace(space) && pid != os.Getpid() && !process.Alive(pid) {
			os.Remove(m)
		}
	}
}
