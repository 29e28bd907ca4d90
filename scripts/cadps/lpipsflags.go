package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics"
	"github.com/cadps/toolkit/cadps/metrics/lpips"
)

// lpipsFlags are the flags that select LPIPS weights.
type lpipsFlags struct {
	dir, backbone, net, lin *string
}

func addLPIPSFlags(flags interface {
	String(name, value, usage string) *string
}) lpipsFlags {
	return lpipsFlags{
		dir:      flags.String("lpips", "", "also LPIPS, with the backbone file as torchvision names it (alexnet-owt-7be5be79.pth, vgg16-397923af.pth, squeezenet1_1-b8a52dc0.pth) in this folder"),
		backbone: flags.String("lpips-backbone", "", "also LPIPS, with this backbone file (instead of -lpips)"),
		net:      flags.String("lpips-net", "alex", "LPIPS backbone: alex, vgg or squeeze"),
		lin:      flags.String("lpips-lin", "", "LPIPS linear-layer file (default: the lpips package's v0.1 weights, shipped with the toolkit)"),
	}
}

// load returns the LPIPS model the flags select and a description of its
// network and weight files for records (the net, the files' names and the
// start of their SHA-256), or nil when they select none.
func (f lpipsFlags) load() (*lpips.Model, string, error) {
	if *f.dir == "" && *f.backbone == "" {
		if *f.lin != "" {
			return nil, "", usagef("-lpips-lin needs a backbone (-lpips DIR or -lpips-backbone FILE)")
		}
		return nil, "", nil
	}
	if *f.dir != "" && *f.backbone != "" {
		return nil, "", usagef("-lpips and -lpips-backbone name the backbone twice: give one")
	}
	net, err := lpips.ParseNet(*f.net)
	if err != nil {
		return nil, "", usagef("-lpips-net: %v", err)
	}
	path := *f.backbone
	if path == "" {
		path = filepath.Join(*f.dir, net.BackboneFile())
		if _, err := os.Stat(path); err != nil {
			return nil, "", fmt.Errorf("-lpips %s: no %s there (torchvision's %s backbone, https://download.pytorch.org/models/%s)", *f.dir, net.BackboneFile(), net, net.BackboneFile())
		}
	}
	b, err := backend.New()
	if err != nil {
		return nil, "", err
	}
	m, err := lpips.Load(b, net, path, *f.lin)
	if err != nil {
		return nil, "", err
	}
	bbSum, linSum := m.Digests()
	desc := fmt.Sprintf("%s: backbone %s sha256 %s", net, filepath.Base(path), shortDigest(bbSum))
	if *f.lin == "" {
		desc += ", linear layers v0.1 (shipped)"
	} else {
		desc += fmt.Sprintf(", linear layers %s sha256 %s", filepath.Base(*f.lin), shortDigest(linSum))
	}
	return m, desc, nil
}

// shortDigest returns the first 16 hex digits of a "sha256:" digest.
func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	return d[:min(len(d), 16)]
}

// lpipsDistance returns the LPIPS distance of a reconstruction to the
// clean image, both clamped to [0,1] and rounded to 8 bits as saved (as
// PSNR and SSIM see them), or nil when m is nil.
func lpipsDistance(m *lpips.Model, truth, recon *imageio.Image) (*metrics.Number, error) {
	if m == nil {
		return nil, nil
	}
	d, err := m.ImageDistances([]*imageio.Image{truth.Quantize8()}, []*imageio.Image{recon.Quantize8()}, 1)
	if err != nil {
		return nil, err
	}
	return new(metrics.Number(d[0])), nil
}
