package runs_test

import (
	"fmt"
	"log"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs"
)

// A reproduction of two methods on one task over a folder, resumable and
// sharded as the cadps reproduce command runs it.
func ExampleReproduction() {
	b, err := backend.New()
	if err != nil {
		log.Fatal(err)
	}
	prior, err := restore.LoadPrior(restore.ModelSpec{Name: "ffhq256", Weights: "models/ffhq_10m.pt"})
	if err != nil {
		log.Fatal(err)
	}
	rep := &runs.Reproduction{
		Out: "runs/sr4", Backend: b, Prior: prior,
		Options: restore.Options{Steps: 1000},
		Tasks:   []runs.TaskSetup{{Task: restore.SpecTask("super_resolution:factor=4")}},
		Methods: []string{"dps", "cadps"},
		Images:  []string{"data/samples/00000.png", "data/samples/00001.png"},
		Shard:   runs.Shard{Index: 0, Count: 2},
	}
	sum, err := rep.Run()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(sum.Table.Markdown())
}
