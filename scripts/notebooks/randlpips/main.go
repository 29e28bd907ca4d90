// Command randlpips writes LPIPS backbone files with deterministic random
// weights, under the file names torchvision gives the real ones
// (alexnet-owt-7be5be79.pth, ...), so that code reading LPIPS weights from
// a folder can be exercised where the real weights are not at hand. The
// files are safetensors, which the toolkit's loaders recognise by content
// whatever the name. Distances computed with them are meaningless.
//
//	go run ./scripts/notebooks/randlpips [-net alex,vgg,squeeze] DIR
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/cadps/toolkit/cadps/metrics/lpips"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/randweights"
)

// seed is the generator's seed (internal/randweights); the convolution
// gain √2 suits the backbones' ReLUs.
const seed = 5

func main() {
	nets := flag.String("net", "alex", "backbones to write, comma-separated: alex, vgg, squeeze")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "Usage: randlpips [-net alex,vgg,squeeze] DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := write(flag.Arg(0), strings.Split(*nets, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "randlpips:", err)
		os.Exit(1)
	}
}

// write writes the random backbone file of each named net into dir.
func write(dir string, names []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range names {
		net, err := lpips.ParseNet(strings.TrimSpace(name))
		if err != nil {
			return err
		}
		path := filepath.Join(dir, net.BackboneFile())
		sd, err := randweights.StateDict(path, seed, math.Sqrt2, net.BackboneParams())
		if err != nil {
			return fmt.Errorf("%s: %w", net, err)
		}
		if err := checkpoints.SaveSafetensors(path, sd); err != nil {
			return err
		}
	}
	return nil
}
