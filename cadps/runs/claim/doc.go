// Package claim hands an item (an image of a reproduction, a results
// folder, a CSV file) to one worker at a time, across the processes of one
// machine and across machines that share a folder. A worker that wants to
// compute an item claims it ([Claimer.Claim]); it computes the item only
// if the claim is granted, keeps the claim alive while it works, checks
// before it publishes its result that it still holds the claim
// ([Claim.Lost]), and releases it when done ([Claim.Release]).
//
// # Files
//
// The claim of an item is a family of files STEM.0, STEM.1, … in the
// item's folder, one per generation; the newest generation's file holds
// the item. Each file is JSON naming its holder ([Holder]): host, process
// id and the process-id space it is meaningful in, the worker's name, its
// lease, when it claimed and a random token. A claim file is written to a
// temporary file (".STEM.N.HOST-PID-SPACE.tmp…") and hard-linked to its
// name; a link never replaces a file, also on NFS, so of all the workers
// trying at once to create one generation exactly one succeeds.
//
// The holder refreshes its file's modification time every quarter of its
// lease (a heartbeat). A file not refreshed for the lease — the longer of
// the looking worker's and the one its holder recorded — belongs to a
// worker that died, and the next generation may be claimed, again by
// exactly one worker; the claim it supersedes is removed. A file whose
// holder is a process of the looking worker's host and process-id space
// that no longer runs is taken over at once, without waiting for the
// lease (a worker killed with Ctrl-C or kill -9 does not hold up a
// restart on its host); one of another host, or of a container that
// shares the host's name but has process ids of its own, keeps the lease
// rule. The temporary files that killed processes of this host left are
// removed by the next claim of the item.
//
// # Guarantees
//
// While the conditions below hold, at most one live worker holds an item
// at any moment: a worker that has linked its file looks again and gives
// way ([ErrHeld]) if another live worker made a file meanwhile. A holder that was stopped past its lease
// (suspended, cut off from the file system) may find on waking that its
// item was taken over: [Claim.Lost] then reports it, by a newer generation
// or by its file being gone or holding another claim's token, and the
// holder must not publish. A worker asked to stop releases every claim it
// holds ([Claimer.ReleaseAll]), so that a resubmitted worker need not wait
// for the lease; [Claimer.Sweep] removes the claims of a finished item
// that a worker killed before it released left behind.
//
// The conditions: the staleness test compares a file's time with the
// local clock, so the machines that share a folder must agree on the time
// to well within the lease (a claim file carries the time of the machine
// that made or refreshed it, not the file server's). The folder's file system must support hard links (a local disk,
// NFS, Lustre and CephFS do; SMB shares and object-store mounts do not).
// On NFS a client sees another client's refresh only after its attribute
// cache expires (acregmax, 60 s by default), so the lease must exceed a
// quarter of itself plus that time, which [DefaultLease] does. docs/cli.md,
// in the section on cadps reproduce, describes the same rules for the
// users of the command.
package claim
