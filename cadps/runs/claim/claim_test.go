package claim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestClaimsConcurrent lets eight workers race for the same items: each
// item is won exactly once, and a released item can be claimed again.
func TestClaimsConcurrent(t *testing.T) {
	dir := t.TempDir()
	const items, workers = 40, 8
	var wins [items]atomic.Int32
	var wg sync.WaitGroup
	claims := make([][]*Claim, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &Claimer{Worker: fmt.Sprintf("w%d", w)}
			for i := range items {
				cl, err := c.Claim(filepath.Join(dir, fmt.Sprintf("%05d", i)))
				switch {
				case errors.Is(err, ErrHeld):
				case err != nil:
					t.Error(err)
				default:
					wins[i].Add(1)
					claims[w] = append(claims[w], cl)
				}
			}
		}()
	}
	wg.Wait()
	for i := range items {
		if n := wins[i].Load(); n != 1 {
			t.Errorf("item %d won %d times", i, n)
		}
	}
	c := &Claimer{}
	_, err := c.Claim(filepath.Join(dir, "00000"))
	if !errors.Is(err, ErrHeld) {
		t.Fatalf("claiming a held item: %v", err)
	}
	for _, cs := range claims {
		for _, cl := range cs {
			if cl.Lost() {
				t.Errorf("claim %s lost without a takeover", cl.path)
			}
			if err := cl.Release(); err != nil {
				t.Error(err)
			}
		}
	}
	cl, err := c.Claim(filepath.Join(dir, "00000"))
	if err != nil {
		t.Fatalf("claiming a released item: %v", err)
	}
	cl.Release()
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("files left after every claim was released: %v", m)
	}
}

// TestClaimStaleTakeover: a claim whose holder stopped its heartbeat
// (a killed worker) is taken over after the lease by exactly one worker,
// and the old holder, should it come back, learns it lost the item.
func TestClaimStaleTakeover(t *testing.T) {
	dir := t.TempDir()
	stem := filepath.Join(dir, "00007")
	// Long enough that a loaded machine does not delay a heartbeat (every
	// quarter lease) past the lease.
	lease := time.Second
	dead := &Claimer{Lease: lease, Worker: "dead"}
	old, err := dead.Claim(stem)
	if err != nil {
		t.Fatal(err)
	}
	// Freeze the old holder's heartbeat, as a SIGKILL would.
	close(old.stop)
	<-old.done
	old.closed = true

	live := &Claimer{Lease: lease, Worker: "live"}
	if _, err := live.Claim(stem); !errors.Is(err, ErrHeld) {
		t.Fatalf("within the lease: %v, want ErrHeld", err)
	}
	past := time.Now().Add(-2 * lease)
	if err := os.Chtimes(stem+".0", past, past); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var won atomic.Int32
	var taken *Claim
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &Claimer{Lease: lease}
			if cl, err := c.Claim(stem); err == nil {
				won.Add(1)
				taken = cl
			} else if !errors.Is(err, ErrHeld) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("a stale claim was taken over %d times, want once", won.Load())
	}
	if !old.Lost() {
		t.Error("the old holder does not see that it lost the item")
	}
	// The heartbeat keeps the new claim alive beyond its lease.
	time.Sleep(2 * lease)
	if _, err := live.Claim(stem); !errors.Is(err, ErrHeld) {
		t.Errorf("a claim with a heartbeat, after twice the lease: %v, want ErrHeld", err)
	}
	if taken.Lost() {
		t.Error("the new holder lost its claim")
	}
	taken.Release()
}

func TestReleaseAll(t *testing.T) {
	dir := t.TempDir()
	c := &Claimer{}
	for i := range 3 {
		if _, err := c.Claim(filepath.Join(dir, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	c.ReleaseAll()
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("claims left after ReleaseAll: %v", m)
	}
	// A claim the run makes after ReleaseAll (a stop that came while the
	// claim was being made) is refused, and leaves no file behind the
	// stop, which ends the process.
	if cl, err := c.Claim(filepath.Join(dir, "late")); err == nil {
		t.Errorf("a claim after ReleaseAll was granted (%s)", cl.path)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("claims left after a claim that followed ReleaseAll: %v", m)
	}
}

// TestReleaseAllWaitsForClaims stops a worker while it is making claims
// (a signal's ReleaseAll, after which the process exits): once ReleaseAll
// returns, no claim file is left, not even of a claim that was linked but
// not yet handed out when the stop came.
func TestReleaseAllWaitsForClaims(t *testing.T) {
	for round := range 50 {
		dir := t.TempDir()
		c := &Claimer{}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for j := 0; ; j++ {
					if _, err := c.Claim(filepath.Join(dir, fmt.Sprintf("%d-%d", i, j))); err != nil {
						return // refused: the worker is stopping
					}
				}
			}()
		}
		close(start)
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		c.ReleaseAll()
		m, _ := filepath.Glob(filepath.Join(dir, "*"))
		wg.Wait()
		if len(m) != 0 {
			t.Fatalf("round %d: claim files left when ReleaseAll returned: %v", round, m)
		}
	}
}

// TestReleaseAllWaitsForReleases stops a worker while it releases a claim
// of its own (an item just finished): once ReleaseAll returns, after which
// the process exits, the claim file is gone, even though the worker's own
// Release, which ReleaseAll found under way, has not returned yet.
func TestReleaseAllWaitsForReleases(t *testing.T) {
	for round := range 200 {
		dir := t.TempDir()
		c := &Claimer{}
		cl, err := c.Claim(filepath.Join(dir, "item"))
		if err != nil {
			t.Fatal(err)
		}
		released := make(chan error, 1)
		go func() { released <- cl.Release() }()
		runtime.Gosched()
		c.ReleaseAll()
		m, _ := filepath.Glob(filepath.Join(dir, "*"))
		if err := <-released; err != nil {
			t.Fatal(err)
		}
		if len(m) != 0 {
			t.Fatalf("round %d: claim files left when ReleaseAll returned: %v", round, m)
		}
	}
}

// TestClaimRemovesDeadTemps checks that a claim removes the temporary
// files a killed process of this host left for the item, of any
// generation (a process killed while it made generation 1, after another
// worker won it, leaves its file when the item's claims start again at
// 0), and keeps those of live processes.
func TestClaimRemovesDeadTemps(t *testing.T) {
	host, _ := os.Hostname()
	tag := strings.ReplaceAll(host, ".", "_")
	dead := deadPID(t)
	for _, gen := range []int{0, 1, 12} {
		t.Run(fmt.Sprintf("generation %d", gen), func(t *testing.T) {
			dir := t.TempDir()
			stem := filepath.Join(dir, "00001")
			deadTemp := filepath.Join(dir, fmt.Sprintf(".00001.%d.%s-%d.tmp123", gen, tag, dead))
			liveTemp := filepath.Join(dir, fmt.Sprintf(".00001.%d.%s-%d.tmp456", gen, tag, os.Getppid()))
			for _, p := range []string{deadTemp, liveTemp} {
				if err := os.WriteFile(p, []byte("{}"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c := &Claimer{}
			cl, err := c.Claim(stem)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Release()
			if _, err := os.Stat(deadTemp); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the dead process's temporary file is still there (%v)", err)
			}
			if _, err := os.Stat(liveTemp); err != nil {
				t.Errorf("the live process's temporary file was removed: %v", err)
			}
		})
	}
}

// TestClaimDeadLocalHolder: a fresh claim whose holder is a process of
// this host that no longer runs is taken over at once; one of a live
// process, or of another host, keeps its lease.
func TestClaimDeadLocalHolder(t *testing.T) {
	host, _ := os.Hostname()
	dead := deadPID(t)
	for _, tc := range []struct {
		name  string
		h     Holder
		taken bool
	}{
		{"dead process of this host", Holder{Host: host, PID: dead}, true},
		{"live process of this host", Holder{Host: host, PID: os.Getppid()}, false},
		{"process of another host", Holder{Host: host + "-other", PID: dead}, false},
		{"no pid", Holder{Host: host}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stem := filepath.Join(t.TempDir(), "bench.csv.claim")
			data, err := json.Marshal(tc.h)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(stem+".0", data, 0o644); err != nil {
				t.Fatal(err)
			}
			cl, err := (&Claimer{}).Claim(stem)
			switch {
			case tc.taken && err != nil:
				t.Fatalf("not taken over: %v", err)
			case tc.taken:
				defer cl.Release()
				if _, err := os.Stat(stem + ".0"); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the dead holder's claim file is still there (%v)", err)
				}
			case !errors.Is(err, ErrHeld):
				if cl != nil {
					cl.Release()
				}
				t.Fatalf("claimed: %v, want ErrHeld", err)
			case !strings.Contains(err.Error(), tc.h.String()):
				t.Errorf("error %q does not name the holder %s", err, tc.h)
			}
		})
	}
}

// TestClaimPIDSpace: a fresh claim of this host's name whose process id
// does not run here is taken over at once only when it was made in this
// process-id namespace. A container that shares the host's name (host
// networking) but has process ids of its own holds its claims for the
// lease, and the temporary files it writes are not removed as a dead
// process's.
func TestClaimPIDSpace(t *testing.T) {
	host, _ := os.Hostname()
	dead := deadPID(t)
	// A claim this process makes, its pid replaced by a dead one: the
	// claim of a worker of this namespace that was killed.
	mine := func(t *testing.T) map[string]any {
		stem := filepath.Join(t.TempDir(), "00001")
		cl, err := (&Claimer{}).Claim(stem)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(stem + ".0")
		cl.Release()
		if err != nil {
			t.Fatal(err)
		}
		var h map[string]any
		if err := json.Unmarshal(data, &h); err != nil {
			t.Fatal(err)
		}
		h["pid"] = dead
		return h
	}
	for _, tc := range []struct {
		name  string
		h     func(t *testing.T) map[string]any
		taken bool
	}{
		{"killed worker of this namespace", mine, true},
		{"worker of another namespace", func(t *testing.T) map[string]any {
			h := mine(t)
			h["pid_space"] = "0123456789abcdef"
			return h
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			stem := filepath.Join(dir, "00002")
			h := tc.h(t)
			data, err := json.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(stem+".0", data, 0o644); err != nil {
				t.Fatal(err)
			}
			// The temporary file its worker would write for the next
			// generation, as atomicfile.CreateExclusive names it.
			tag := strings.ReplaceAll(host, ".", "_") + "-" + strconv.Itoa(dead)
			if space, _ := h["pid_space"].(string); space != "" {
				tag += "-" + space
			}
			temp := filepath.Join(dir, ".00002.0."+tag+".tmp123")
			if err := os.WriteFile(temp, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			cl, err := (&Claimer{}).Claim(stem)
			if err == nil {
				defer cl.Release()
			}
			switch {
			case tc.taken && err != nil:
				t.Fatalf("not taken over: %v", err)
			case !tc.taken && !errors.Is(err, ErrHeld):
				t.Fatalf("claimed (%v), want ErrHeld: %s", err, data)
			}
			if _, err := os.Stat(temp); errors.Is(err, fs.ErrNotExist) != tc.taken {
				t.Errorf("temporary file of the holder: %v; want it removed: %v", err, tc.taken)
			}
		})
	}
}

// TestClaimHolderLease: a claim goes stale once it has not been refreshed
// for the longer of the looking worker's lease and the one its holder
// recorded, so that a worker started with a shorter -lease does not take
// over the claims of live workers that refresh theirs less often.
func TestClaimHolderLease(t *testing.T) {
	for _, tc := range []struct {
		name  string
		claim string // the claim file, refreshed 10 s ago
		lease time.Duration
		taken bool
	}{
		{"holder's lease longer", `{"host":"elsewhere","pid":1,"lease_seconds":3600}`, time.Second, false},
		{"holder's lease run out", `{"host":"elsewhere","pid":1,"lease_seconds":5}`, time.Second, true},
		{"holder's lease shorter", `{"host":"elsewhere","pid":1,"lease_seconds":1}`, time.Minute, false},
		{"no lease recorded", `{"host":"elsewhere","pid":1}`, time.Second, true},
		{"a lease past any duration", `{"host":"elsewhere","pid":1,"lease_seconds":1e300}`, time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stem := filepath.Join(t.TempDir(), "00001")
			if err := os.WriteFile(stem+".0", []byte(tc.claim), 0o644); err != nil {
				t.Fatal(err)
			}
			then := time.Now().Add(-10 * time.Second)
			if err := os.Chtimes(stem+".0", then, then); err != nil {
				t.Fatal(err)
			}
			cl, err := (&Claimer{Lease: tc.lease}).Claim(stem)
			if err == nil {
				cl.Release()
			}
			switch {
			case tc.taken && err != nil:
				t.Errorf("not taken over: %v", err)
			case !tc.taken && !errors.Is(err, ErrHeld):
				t.Errorf("claimed (%v), want ErrHeld", err)
			}
		})
	}
}

// TestClaimShortLease claims with leases too short for a heartbeat: the
// claim works (no panic) with MinLease, so it is held against another
// worker and outlives its nominal lease; no lease or a negative one is
// DefaultLease.
func TestClaimShortLease(t *testing.T) {
	for _, tc := range []struct {
		lease, want time.Duration
	}{
		{0, DefaultLease},
		{-time.Second, DefaultLease},
		{1, MinLease},
		{3 * time.Nanosecond, MinLease},
		{MinLease / 4, MinLease},
		{3 * time.Second, 3 * time.Second},
	} {
		t.Run(tc.lease.String(), func(t *testing.T) {
			c := &Claimer{Lease: tc.lease}
			if got := c.EffectiveLease(); got != tc.want {
				t.Errorf("lease %v, want %v", got, tc.want)
			}
			stem := filepath.Join(t.TempDir(), "00001")
			cl, err := c.Claim(stem)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Release()
			time.Sleep(10 * time.Millisecond) // many nominal leases
			if _, err := (&Claimer{Lease: tc.lease}).Claim(stem); !errors.Is(err, ErrHeld) {
				t.Errorf("another worker's claim: %v, want ErrHeld", err)
			}
			if cl.Lost() {
				t.Error("the claim is lost")
			}
		})
	}
}

// TestClaimSweep: Sweep removes an item's claim files when the newest has
// no live holder (its lease ran out, or its holder is a dead process of
// this host), with the dead processes' temporary files, and leaves a live
// holder's claim alone.
func TestClaimSweep(t *testing.T) {
	host, _ := os.Hostname()
	dead := deadPID(t)
	live := Holder{Host: host, PID: os.Getppid()}
	for _, tc := range []struct {
		name    string
		holders []Holder // generation 0, 1, …
		age     time.Duration
		swept   bool
		tempGen int // the generation of the dead process's temporary file
	}{
		{"no claim", nil, 0, true, 0},
		{"no claim, a later generation's temporary file", nil, 0, true, 3},
		{"dead process of this host", []Holder{{Host: host, PID: dead}}, 0, true, 0},
		{"older generations under a dead holder", []Holder{live, {Host: host, PID: dead}}, 0, true, 0},
		{"lease run out", []Holder{live}, 2 * time.Minute, true, 0},
		{"live process of this host", []Holder{live}, 0, false, 0},
		{"process of another host", []Holder{{Host: host + "-other", PID: dead}}, 0, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			stem := filepath.Join(dir, "00003")
			for g, h := range tc.holders {
				data, err := json.Marshal(h)
				if err != nil {
					t.Fatal(err)
				}
				path := fmt.Sprintf("%s.%d", stem, g)
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
				old := time.Now().Add(-tc.age)
				if err := os.Chtimes(path, old, old); err != nil {
					t.Fatal(err)
				}
			}
			deadTemp := filepath.Join(dir, fmt.Sprintf(".00003.%d.%s-%d.tmp1", tc.tempGen, strings.ReplaceAll(host, ".", "_"), dead))
			if err := os.WriteFile(deadTemp, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			c := &Claimer{Lease: time.Minute}
			if err := c.Sweep(stem); err != nil {
				t.Fatal(err)
			}
			left, _ := filepath.Glob(stem + ".*")
			if tc.swept && len(left) > 0 {
				t.Errorf("claims left: %v", left)
			}
			if !tc.swept && len(left) != len(tc.holders) {
				t.Errorf("claims left: %v, want all %d", left, len(tc.holders))
			}
			if _, err := os.Stat(deadTemp); tc.swept != errors.Is(err, fs.ErrNotExist) {
				t.Errorf("swept %v, but the dead process's temporary file: %v", tc.swept, err)
			}
		})
	}
}

// deadPID returns the process ID of a process of this host that has
// ended (and been reaped), skipping the test where no process can be run.
func deadPID(t *testing.T) int {
	t.Helper()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no process to reap:", err)
	}
	return dead.Process.Pid
}

// TestClaimDanglingLink: a claim file that is a dangling symbolic link
// (no claim this package makes) counts as held until its lease runs out,
// instead of making Claim look for it again forever.
func TestClaimDanglingLink(t *testing.T) {
	stem := filepath.Join(t.TempDir(), "00002")
	if err := os.Symlink(filepath.Join(t.TempDir(), "gone"), stem+".0"); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := (&Claimer{}).Claim(stem)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrHeld) {
			t.Errorf("error %v, want ErrHeld", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Claim still looks for a dangling claim file after a minute")
	}
}

// TestClaimNameReused: a holder suspended past its lease whose item was
// taken over and released, and then claimed afresh under its old file
// name, sees that it lost the item (the file holds another claim's token)
// and, releasing, leaves the new holder's file alone.
func TestClaimNameReused(t *testing.T) {
	stem := filepath.Join(t.TempDir(), "00004")
	suspended, err := (&Claimer{Worker: "suspended"}).Claim(stem)
	if err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stem+".0", long, long); err != nil { // it missed its heartbeats
		t.Fatal(err)
	}
	taker, err := (&Claimer{Worker: "taker"}).Claim(stem)
	if err != nil {
		t.Fatal(err)
	}
	if err := taker.Release(); err != nil {
		t.Fatal(err)
	}
	fresh, err := (&Claimer{Worker: "fresh"}).Claim(stem)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Release()
	if fresh.path != suspended.path {
		t.Fatalf("the fresh claim is %s, the test wants the suspended one's name %s", fresh.path, suspended.path)
	}
	if !suspended.Lost() {
		t.Error("the suspended holder does not see that it lost the item")
	}
	if err := suspended.Release(); err != nil {
		t.Fatal(err)
	}
	if fresh.Lost() {
		t.Error("the fresh holder lost its claim when the suspended one released")
	}
	if _, err := (&Claimer{Worker: "another"}).Claim(stem); !errors.Is(err, ErrHeld) {
		t.Errorf("a third claim while the fresh holder holds the item: %v, want ErrHeld", err)
	}
}

// TestClaimSettle: a claim that finds, once linked, a claim file a live
// worker made after its look (a fresh generation 0 after the files it saw
// were released, or a newer generation) gives way and removes its own
// file; files it saw superseded are removed.
func TestClaimSettle(t *testing.T) {
	data := func(h Holder) []byte {
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	host, _ := os.Hostname()
	me := Holder{Host: host, PID: os.Getpid(), Token: "mine"}
	for _, tc := range []struct {
		name  string
		seen  look           // the look before the link
		files map[int]Holder // the files at the link, by generation (the claim's own is 2)
		stale map[int]bool   // files whose time is an hour old
		held  bool           // the claim gives way
		left  []int          // the generations left afterwards
	}{
		{"superseded files are removed", look{newest: 1, tokens: map[int]string{0: "a", 1: "b"}},
			map[int]Holder{0: {Host: host, PID: os.Getppid(), Token: "a"}, 1: {Host: "gone", Token: "b"}}, map[int]bool{1: true}, false, []int{2}},
		{"a fresh generation 0 made after the look", look{newest: 1, tokens: map[int]string{1: "b"}},
			map[int]Holder{0: {Host: host, PID: os.Getppid(), Token: "new"}}, nil, true, []int{0}},
		{"the file seen stale was refreshed", look{newest: 1, tokens: map[int]string{1: "b"}},
			map[int]Holder{1: {Host: "elsewhere", Token: "b"}}, nil, true, []int{1}},
		{"a newer generation", look{newest: 1, tokens: map[int]string{1: "b"}},
			map[int]Holder{1: {Host: "gone", Token: "b"}, 3: {Host: "elsewhere", Token: "c"}}, map[int]bool{1: true}, true, []int{1, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stem := filepath.Join(t.TempDir(), "00005")
			old := time.Now().Add(-time.Hour)
			for g, h := range tc.files {
				path := fmt.Sprintf("%s.%d", stem, g)
				if err := os.WriteFile(path, data(h), 0o644); err != nil {
					t.Fatal(err)
				}
				if tc.stale[g] {
					if err := os.Chtimes(path, old, old); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := os.WriteFile(stem+".2", data(me), 0o644); err != nil {
				t.Fatal(err)
			}
			c := &Claimer{}
			cl := &Claim{path: stem + ".2", token: "mine", gen: 2, stem: stem, owner: c}
			err := c.settle(cl, tc.seen)
			if held := errors.Is(err, ErrHeld); held != tc.held || (err != nil && !held) {
				t.Fatalf("settle: %v, want held %v", err, tc.held)
			}
			if tc.held { // Claim removes its own file when it gives way
				os.Remove(cl.path)
			}
			matches, _ := filepath.Glob(stem + ".*")
			if got := claimGenerations(stem, matches); !slices.Equal(got, tc.left) {
				t.Errorf("generations left %v, want %v", got, tc.left)
			}
		})
	}
}

// TestClaimOddNames: only canonical generation suffixes count as claim
// files (STEM.+0 or STEM.00 are other files).
func TestClaimOddNames(t *testing.T) {
	stem := filepath.Join(t.TempDir(), "00006")
	for _, name := range []string{".+0", ".00", ".-1", ".x"} {
		if err := os.WriteFile(stem+name, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := (&Claimer{}).Claim(stem)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Release()
	if cl.gen != 0 {
		t.Errorf("claimed generation %d, want 0 (no claim file before)", cl.gen)
	}
}

// TestClaimCorruptPID: a claim file, or a claim's temporary file, that
// records a process id no process can have (negative, or above 32 bits,
// which the kernel would read truncated as another process's) is corrupt:
// it is not taken for a dead process's, so the claim keeps its lease and
// the temporary file stays.
func TestClaimCorruptPID(t *testing.T) {
	host, _ := os.Hostname()
	dead := int64(deadPID(t))
	for _, tc := range []struct {
		name  string
		pid   int64
		taken bool
	}{
		{"dead process", dead, true},
		{"dead process's id plus 2³²", dead + 1<<32, false},
		{"this process's parent's id plus 2³²", int64(os.Getppid()) + 1<<32, false},
		{"2³²", 1 << 32, false},
		{"negative", -dead, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			stem := filepath.Join(dir, "00001")
			data, err := json.Marshal(map[string]any{"host": host, "pid": tc.pid, "claimed": "2026-01-01T00:00:00Z"})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(stem+".0", data, 0o644); err != nil {
				t.Fatal(err)
			}
			temp := filepath.Join(dir, fmt.Sprintf(".00001.0.%s-%d.tmp123", strings.ReplaceAll(host, ".", "_"), tc.pid))
			if err := os.WriteFile(temp, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if live, err := (&Claimer{}).Live(stem + ".0"); err != nil || live == tc.taken {
				t.Errorf("Live: %v, %v; want %v", live, err, !tc.taken)
			}
			cl, err := (&Claimer{}).Claim(stem)
			if err == nil {
				defer cl.Release()
			}
			switch {
			case tc.taken && err != nil:
				t.Fatalf("not taken over: %v", err)
			case !tc.taken && !errors.Is(err, ErrHeld):
				t.Fatalf("claimed (%v), want ErrHeld: %s", err, data)
			}
			if _, err := os.Stat(temp); errors.Is(err, fs.ErrNotExist) != tc.taken {
				t.Errorf("temporary file: %v; want it removed: %v", err, tc.taken)
			}
		})
	}
}

// TestClaimRefreshError: a claim whose file the heartbeat cannot refresh
// (permission, I/O or stale NFS handle errors) is lost, and Err gives the
// first such error: the claim would go stale unseen, and another worker
// take the item over while this one still computes it. A file refreshed
// keeps the claim.
func TestClaimRefreshError(t *testing.T) {
	stale := errors.New("stale file handle")
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"permission", fs.ErrPermission},
		{"stale handle", stale},
		{"refreshed", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			c := &Claimer{touch: func(path string, now time.Time) error {
				calls++ // the first call stamps the new claim, the second refreshes it
				if calls > 2 && tc.err != nil {
					return errors.New("a later error")
				}
				if tc.err != nil {
					return tc.err
				}
				return os.Chtimes(path, now, now)
			}}
			cl, err := c.Claim(filepath.Join(t.TempDir(), "item"))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Release()
			lost := cl.Lost()
			cl.Lost() // a second refresh keeps the first error
			if want := tc.err != nil; lost != want {
				t.Fatalf("Lost %v after a refresh error %v, want %v", lost, tc.err, want)
			}
			if got := cl.Err(); !errors.Is(got, tc.err) || (tc.err == nil) != (got == nil) {
				t.Errorf("Err %v, want one wrapping %v", got, tc.err)
			}
		})
	}
}

// TestClaimStampsItsClock: a new claim file carries the time of the
// machine that made it, not the file server's (the time a new file gets
// on NFS), from the moment Claim returns: other machines read its age
// against their clocks, so a server whose clock lags by more than the
// lease would make a new claim look stale until its first refresh, a
// quarter of the lease later.
func TestClaimStampsItsClock(t *testing.T) {
	type stamp struct {
		path string
		at   time.Time
	}
	var stamps []stamp
	var mu sync.Mutex
	c := &Claimer{touch: func(path string, now time.Time) error {
		mu.Lock()
		stamps = append(stamps, stamp{path, now})
		mu.Unlock()
		return os.Chtimes(path, now, now)
	}}
	before := time.Now()
	cl, err := c.Claim(filepath.Join(t.TempDir(), "item"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Release()
	after := time.Now()
	mu.Lock()
	defer mu.Unlock()
	// The default lease's first refresh is 30 s away: a stamp now is the
	// new claim's.
	if len(stamps) != 1 || stamps[0].path != cl.path || stamps[0].at.Before(before) || stamps[0].at.After(after) {
		t.Errorf("stamps as Claim returned: %v; want one of %s at this machine's time", stamps, cl.path)
	}
}
