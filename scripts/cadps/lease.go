package main

import (
	"flag"
	"time"

	"github.com/cadps/toolkit/cadps/runs/claim"
)

// leaseFlag is -lease, the lease of the claims (claim.Claimer) a command
// takes on the items, folders or files it works on. Every command that
// takes claims declares it with addLeaseFlag, checks it with check before
// its work, and claims with the Claimer that claimer returns.
type leaseFlag struct {
	lease *time.Duration
}

// addLeaseFlag declares -lease on fs.
func addLeaseFlag(fs *flag.FlagSet) leaseFlag {
	return leaseFlag{fs.Duration("lease", claim.DefaultLease,
		"a claim (on an item, a folder or the tables) whose holder has not been heard of for this long (or for its own lease, if longer) is taken over; at least 1s")}
}

// check refuses a lease shorter than claim.MinLease, naming the flag.
func (f leaseFlag) check() error {
	if *f.lease < claim.MinLease {
		return usagef("-lease %v is too short: want at least %v (workers refresh their claims every quarter of it)", *f.lease, claim.MinLease)
	}
	return nil
}

// claimer returns a Claimer with the lease of -lease, naming worker in
// the claims it writes.
func (f leaseFlag) claimer(worker string) *claim.Claimer {
	return &claim.Claimer{Lease: *f.lease, Worker: worker}
}
