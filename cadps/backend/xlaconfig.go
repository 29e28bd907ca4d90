package backend

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// xlaConfig is an XLA backend config "<plugin>[,option...]" split into the
// part GoMLX reads (the plugin path and GoMLX's own options, such as tf32 or
// shared_buffers) and the PJRT client create options given as key=value.
type xlaConfig struct {
	gomlx  string         // "<plugin>[,tf32][,shared_buffers]..."
	client map[string]any // PJRT client create options, typed as PJRT wants them
}

// clientAllocators returns the allocator names the CUDA PJRT plugin accepts.
func clientAllocators() []string { return []string{"default", "platform", "bfc", "cuda_async"} }

// gomlxXLAOptions returns the options without "=" that GoMLX's XLA backend
// reads (it only logs the others, so a typo such as "tf23" would be dropped
// without a word).
func gomlxXLAOptions() []string { return []string{"tf32", "shared_buffers", "noshared_buffers"} }

// parseXLAConfig splits config. The client create options understood are
// those of the CUDA PJRT plugin:
//
//	preallocate=true|false   reserve memory_fraction of the GPU at start
//	                         (the plugin's default is true, so the GPU looks
//	                         full to nvidia-smi whatever a program needs)
//	memory_fraction=F        the share of GPU memory the allocator may use, 0 < F ≤ 1
//	allocator=NAME           default, platform, bfc or cuda_async
//
// Items without "=" are left to GoMLX and must be one of its options (see
// gomlxXLAOptions); empty items are dropped. Any other item, and an option
// given twice (shared_buffers and noshared_buffers count as one), is an
// error naming it.
func parseXLAConfig(config string) (xlaConfig, error) {
	parts := strings.Split(config, ",")
	c := xlaConfig{client: map[string]any{}}
	keep := parts[:1]
	seen := map[string]bool{}
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		key := k
		if key == "noshared_buffers" {
			key = "shared_buffers"
		}
		if seen[key] {
			return xlaConfig{}, fmt.Errorf("backend: XLA option %q given twice in %q", k, config)
		}
		seen[key] = true
		if !ok {
			if !slices.Contains(gomlxXLAOptions(), p) {
				return xlaConfig{}, fmt.Errorf("backend: unknown XLA option %q (options: %s; key=value options: preallocate, memory_fraction, allocator)",
					p, strings.Join(gomlxXLAOptions(), ", "))
			}
			keep = append(keep, p)
			continue
		}
		switch k {
		case "preallocate":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return xlaConfig{}, fmt.Errorf("backend: XLA option preallocate=%q: want true or false", v)
			}
			c.client[k] = b
		case "memory_fraction":
			f, err := strconv.ParseFloat(v, 32)
			if err != nil || !(f > 0 && f <= 1) {
				return xlaConfig{}, fmt.Errorf("backend: XLA option memory_fraction=%q: want a number in (0, 1]", v)
			}
			c.client[k] = float32(f)
		case "allocator":
			if !slices.Contains(clientAllocators(), v) {
				return xlaConfig{}, fmt.Errorf("backend: XLA option allocator=%q: want one of %s", v, strings.Join(clientAllocators(), ", "))
			}
			c.client[k] = v
		default:
			return xlaConfig{}, fmt.Errorf("backend: unknown XLA option %q (key=value options: preallocate, memory_fraction, allocator; options: %s)",
				p, strings.Join(gomlxXLAOptions(), ", "))
		}
	}
	c.gomlx = strings.Join(keep, ",")
	return c, nil
}
