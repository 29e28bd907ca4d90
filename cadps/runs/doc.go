// Package runs holds the bookkeeping of experiment runs: a reproduction
// ([Reproduction]) runs every image of a folder through tasks × methods
// with package restore, one item at a time, writing each item's images and
// its [Record]; a rerun resumes it, and a rerun with more images extends
// it. The settings a folder was made with (reproduce.json) are compared
// with a rerun's by [CompareSettings], the one compatibility check of the
// toolkit's resumable runs, which refuses other settings with a message
// naming the first that differs. [Merge] and [ReadTable] rebuild the
// metrics CSV, the Markdown table and the comparison grids from the
// records of one folder or of the folders of several shards; [Table.FID]
// and [PaperMarkdown] add FID and the papers' table layout. An
// [Evaluation] scores methods × tasks on a held-out test set in batches,
// against the measurement's own baseline, resumably and extendably
// (settings.json, results.csv, table.md). A [MixtureBench] runs methods ×
// Gaussian-mixture problems with exact posteriors (package gmm) into a
// resumable CSV file, which [ReadMixtureTable] summarises into cells and
// paired differences.
//
// Many workers may share one output folder: [Shard] says which items a
// worker owns (and [ChooseShard] how that survives a resubmission), and
// claims (package [github.com/cadps/toolkit/cadps/runs/claim], which
// describes their files, leases and guarantees) hand each item to exactly
// one worker at a time, with recovery from workers that crashed. A run's
// folder may sit on a shared file system (NFS, Lustre, a ReadWriteMany
// volume). Everything this package writes is created with an atomic link
// or rename, so that concurrent workers on different machines never see
// half a file and never both win the same claim.
package runs
