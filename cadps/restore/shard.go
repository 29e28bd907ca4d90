package restore

import "github.com/cadps/toolkit/cadps/runs"

// Shard is one of Count parts of a reproduction: unit k (an image and a
// task with all its methods, numbered by image index, then task label; see
// Reproduction.Items) belongs to shard k mod Count. The zero Shard is the
// whole run. See runs.ChooseShard for how a worker finds its shard.
type Shard = runs.Shard
