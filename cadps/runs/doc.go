// Package runs holds the bookkeeping of experiment runs that many workers
// share through one output folder: which shard of the items a worker owns
// (and how that survives a resubmission), and claims that hand each item to
// exactly one worker at a time, with recovery from workers that crashed.
//
// A run's folder may sit on a shared file system (NFS, Lustre, a
// ReadWriteMany volume). Everything this package writes is created with an
// atomic link or rename, so that concurrent workers on different machines
// never see half a file and never both win the same claim.
package runs
