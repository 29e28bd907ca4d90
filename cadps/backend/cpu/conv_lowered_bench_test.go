// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cadps/toolkit/internal/benchutil"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	timage "github.com/gomlx/gomlx/pkg/core/tensors/images"
)

// benchConv is one convolution shape of the UNet (NCHW, OIHW, float32,
// batch 1, "same" padding).
type benchConv struct {
	name            string
	c, o, groups    int
	size, k, stride int
}

func (bc benchConv) out() int { return (bc.size+2*(bc.k/2)-bc.k)/bc.stride + 1 }

// flops counts 2 per multiply-add of the forward convolution (each gradient
// has the same count).
func (bc benchConv) flops() float64 {
	return 2 * float64(bc.o) * float64(bc.c/bc.groups) * float64(bc.k*bc.k) * float64(bc.out()*bc.out())
}

var (
	unetConvs = []benchConv{
		{"3x3-c128-64x64", 128, 128, 1, 64, 3, 1},
		{"3x3-c128-256x256", 128, 128, 1, 256, 3, 1},
		{"3x3s2-c128-256x256", 128, 128, 1, 256, 3, 2},
		{"1x1-c128-256x256", 128, 128, 1, 256, 1, 1},
		{"blur61-c3-256x256", 3, 3, 3, 256, 61, 1},
	}
	plainConvs = []benchConv{
		{"3x3-c128-64x64", 128, 128, 1, 64, 3, 1},
		{"3x3s2-c128-64x64", 128, 128, 1, 64, 3, 2},
		{"1x1-c128-64x64", 128, 128, 1, 64, 1, 1},
	}
)

// convGraph returns the graph function for bc: which = "forward" returns the
// convolution, "input" and "kernel" the gradient of <conv(x, w), v>.
func convGraph(bc benchConv, which string) func(x, w, v *graph.Node) *graph.Node {
	return func(x, w, v *graph.Node) *graph.Node {
		p := bc.k / 2
		y := graph.Convolve(x, w).ChannelsAxis(timage.ChannelsFirst).
			PaddingPerDim([][2]int{{p, p}, {p, p}}).StridePerAxis(bc.stride, bc.stride).
			ChannelGroupCount(bc.groups).Done()
		switch which {
		case "input":
			return graph.Gradient(graph.ReduceAllSum(graph.Mul(y, v)), x)[0]
		case "kernel":
			return graph.Gradient(graph.ReduceAllSum(graph.Mul(y, v)), w)[0]
		}
		return graph.Add(y, graph.MulScalar(v, 0))
	}
}

// runConvBench times bc on backend be, one execution per iteration.
func runConvBench(b *testing.B, be backends.Backend, bc benchConv, which string) {
	r := rand.New(rand.NewPCG(1, 1))
	x := benchutil.RandTensor(r, 1, bc.c, bc.size, bc.size)
	w := benchutil.RandTensor(r, bc.o, bc.c/bc.groups, bc.k, bc.k)
	v := benchutil.RandTensor(r, 1, bc.o, bc.out(), bc.out())
	exec := graph.MustNewExec(be, convGraph(bc, which))
	run := func() {
		outs, err := exec.Exec(x, w, v)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range outs {
			o.FinalizeAll()
		}
	}
	run() // Compile and warm the buffer pools.
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		run()
	}
	b.ReportMetric(bc.flops()*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
}

func benchConvs(b *testing.B, convs []benchConv, config, which string) {
	be, err := newConfigured(config)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range convs {
		b.Run(bc.name, func(b *testing.B) { runConvBench(b, be, bc, which) })
	}
}

// BenchmarkConvForward times the wrapped backend's convolutions.
func BenchmarkConvForward(b *testing.B) { benchConvs(b, unetConvs, BackendName, "forward") }

// BenchmarkConvInputGrad times the convolution GoMLX builds for the gradient
// with respect to the input (reversed kernel, input dilation for strides).
func BenchmarkConvInputGrad(b *testing.B) { benchConvs(b, unetConvs, BackendName, "input") }

// BenchmarkConvKernelGrad times the convolution GoMLX builds for the gradient
// with respect to the kernel (an image-sized "kernel", kernel-sized output).
func BenchmarkConvKernelGrad(b *testing.B) { benchConvs(b, unetConvs, BackendName, "kernel") }

// BenchmarkPlainConvForward times the unwrapped pure-Go convolution, only at
// 64×64: at its speed a 256×256 convolution takes about a minute.
func BenchmarkPlainConvForward(b *testing.B) { benchConvs(b, plainConvs, "go", "forward") }

// BenchmarkDot times the backend's matrix multiplication at the size of the
// 64×64 3×3 convolution's im2col product, [4096,1152]×[1152,128].
func BenchmarkDot(b *testing.B) {
	be, err := newConfigured(BackendName)
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range [][3]int{{4096, 1152, 128}, {128, 1152, 4096}} {
		b.Run(fmt.Sprintf("%dx%dx%d", d[0], d[1], d[2]), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			x, y := benchutil.RandTensor(r, d[0], d[1]), benchutil.RandTensor(r, d[1], d[2])
			exec := graph.MustNewExec(be, func(x, y *graph.Node) *graph.Node { return graph.Dot(x, y) })
			exec.MustExec(x, y)[0].FinalizeAll()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				exec.MustExec(x, y)[0].FinalizeAll()
			}
			b.ReportMetric(2*float64(d[0]*d[1]*d[2])*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkConvPeakMemory runs a 256×256 128-channel 3×3 convolution and
// both its gradients in one graph and reports the peak RSS during the run
// ("peak-MiB") and its growth over the RSS before it ("delta-MiB"). Run it
// alone (-bench ConvPeakMemory) so that other benchmarks' memory does not
// count.
func BenchmarkConvPeakMemory(b *testing.B) {
	for _, config := range []string{BackendName, BackendName + ":ops_sequential"} {
		b.Run(config, func(b *testing.B) {
			be, err := newConfigured(config)
			if err != nil {
				b.Fatal(err)
			}
			bc := unetConvs[1]
			r := rand.New(rand.NewPCG(1, 1))
			x := benchutil.RandTensor(r, 1, bc.c, bc.size, bc.size)
			w := benchutil.RandTensor(r, bc.o, bc.c, bc.k, bc.k)
			v := benchutil.RandTensor(r, 1, bc.o, bc.size, bc.size)
			exec := graph.MustNewExec(be, func(x, w, v *graph.Node) []*graph.Node {
				y := graph.Convolve(x, w).ChannelsAxis(timage.ChannelsFirst).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
				g := graph.Gradient(graph.ReduceAllSum(graph.Mul(y, v)), x, w)
				return []*graph.Node{y, g[0], g[1]}
			})
			before, err := benchutil.PeakRSS(true)
			if err != nil {
				b.Skip(err)
			}
			b.ResetTimer()
			for range b.N {
				for _, o := range exec.MustExec(x, w, v) {
					o.FinalizeAll()
				}
			}
			b.StopTimer()
			peak, err := benchutil.PeakRSS(false)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(peak, "peak-MiB")
			b.ReportMetric(peak-before, "delta-MiB")
		})
	}
}
