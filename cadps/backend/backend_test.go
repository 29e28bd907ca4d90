package backend

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	timage "github.com/gomlx/gomlx/pkg/core/tensors/images"
)

func newTestBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := NewWithConfig("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randSlice(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

// naiveConv is a direct NCHW/OIHW convolution used as the oracle.
func naiveConv(x []float64, n, c, h, w int, k []float64, o, kh, kw, stride, pad, dil, groups int) ([]float64, int, int) {
	oh := (h+2*pad-dil*(kh-1)-1)/stride + 1
	ow := (w+2*pad-dil*(kw-1)-1)/stride + 1
	cg := c / groups
	og := o / groups
	out := make([]float64, n*o*oh*ow)
	for b := range n {
		for oc := range o {
			g := oc / og
			for i := range oh {
				for j := range ow {
					var s float64
					for ic := range cg {
						for a := range kh {
							for bb := range kw {
								y := i*stride - pad + a*dil
								xx := j*stride - pad + bb*dil
								if y < 0 || y >= h || xx < 0 || xx >= w {
									continue
								}
								s += x[((b*c+g*cg+ic)*h+y)*w+xx] * k[((oc*cg+ic)*kh+a)*kw+bb]
							}
						}
					}
					out[((b*o+oc)*oh+i)*ow+j] = s
				}
			}
		}
	}
	return out, oh, ow
}

func TestConvForwardAndGradients(t *testing.T) {
	b := newTestBackend(t)
	cases := []struct {
		name                     string
		n, c, h, w, o, k         int
		stride, pad, dil, groups int
	}{
		{"3x3", 2, 4, 8, 7, 5, 3, 1, 1, 1, 1},
		{"3x3-stride2", 1, 3, 8, 8, 4, 3, 2, 1, 1, 1},
		{"1x1", 1, 6, 5, 5, 3, 1, 1, 0, 1, 1},
		{"dilated", 1, 2, 9, 9, 2, 3, 1, 2, 2, 1},
		{"depthwise", 1, 3, 9, 9, 3, 5, 1, 2, 1, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			x := randSlice(r, c.n*c.c*c.h*c.w)
			k := randSlice(r, c.o*(c.c/c.groups)*c.k*c.k)
			want, oh, ow := naiveConv(x, c.n, c.c, c.h, c.w, k, c.o, c.k, c.k, c.stride, c.pad, c.dil, c.groups)
			v := randSlice(r, len(want))
			conv := func(xn, kn *graph.Node) *graph.Node {
				cb := graph.Convolve(xn, kn).ChannelsAxis(timage.ChannelsFirst).
					PaddingPerDim([][2]int{{c.pad, c.pad}, {c.pad, c.pad}}).ChannelGroupCount(c.groups)
				if c.stride > 1 {
					cb.StridePerAxis(c.stride, c.stride)
				}
				if c.dil > 1 {
					cb.DilationPerAxis(c.dil, c.dil)
				}
				return cb.Done()
			}
			exec := graph.MustNewExec(b, func(xn, kn, vn *graph.Node) []*graph.Node {
				y := conv(xn, kn)
				l := graph.ReduceAllSum(graph.Mul(y, vn))
				g := graph.Gradient(l, xn, kn)
				return []*graph.Node{y, g[0], g[1]}
			})
			outs, err := exec.Exec(
				tensors.FromFlatDataAndDimensions(x, c.n, c.c, c.h, c.w),
				tensors.FromFlatDataAndDimensions(k, c.o, c.c/c.groups, c.k, c.k),
				tensors.FromFlatDataAndDimensions(v, c.n, c.o, oh, ow))
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, "forward", tensors.MustCopyFlatData[float64](outs[0]), want, 1e-9)
			// <conv(x,k), v> is bilinear: its gradients are exact finite differences.
			loss := func(x, k []float64) float64 {
				y, _, _ := naiveConv(x, c.n, c.c, c.h, c.w, k, c.o, c.k, c.k, c.stride, c.pad, c.dil, c.groups)
				var s float64
				for i := range y {
					s += y[i] * v[i]
				}
				return s
			}
			assertClose(t, "d/dx", tensors.MustCopyFlatData[float64](outs[1]), numGrad(x, func(x []float64) float64 { return loss(x, k) }), 1e-6)
			assertClose(t, "d/dk", tensors.MustCopyFlatData[float64](outs[2]), numGrad(k, func(k []float64) float64 { return loss(x, k) }), 1e-6)
		})
	}
}

func numGrad(p []float64, f func([]float64) float64) []float64 {
	g := make([]float64, len(p))
	for i := range p {
		old := p[i]
		p[i] = old + 1
		fp := f(p)
		p[i] = old - 1
		fm := f(p)
		p[i] = old
		g[i] = (fp - fm) / 2
	}
	return g
}

func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s: element %d = %g, want %g", what, i, got[i], want[i])
		}
	}
}

func TestReverseAndPad(t *testing.T) {
	b := newTestBackend(t)
	x := tensors.FromValue([][]float32{{1, 2, 3}, {4, 5, 6}})
	rev := graph.MustExecOnce(b, func(x *graph.Node) *graph.Node { return graph.Reverse(x, 0, 1) }, x)
	if got := rev.Value().([][]float32); got[0][0] != 6 || got[1][2] != 1 || got[0][2] != 4 {
		t.Errorf("Reverse = %v", got)
	}
	pad := graph.MustExecOnce(b, func(x *graph.Node) *graph.Node {
		return graph.Pad(x, graph.Const(x.Graph(), float32(9)),
			backends.PadAxis{Start: 1, End: -1}, backends.PadAxis{Start: -1, End: 2, Interior: 1})
	}, x)
	want := [][]float32{{9, 9, 9, 9, 9, 9}, {9, 2, 9, 3, 9, 9}}
	got := pad.Value().([][]float32)
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("Pad = %v, want %v", got, want)
			}
		}
	}
}

func TestSelection(t *testing.T) {
	cases := []struct {
		config  string
		name    string
		errPart string
	}{
		{"", Name, ""},
		{"cadps", Name, ""},
		{"go", "SimpleGo (go)", ""},
		{TrainingConfig, Name, ""},
		{"cadps:dotgeneral_small", Name, ""},
		{"cadps:nosuchoption", "", "nosuchoption"},
		{"nosuch:x", "", "unknown backend"},
	}
	if !XLAAvailable {
		cases = append(cases, struct{ config, name, errPart string }{"xla:/no/plugin.so", "", "built without"})
	} else {
		cases = append(cases, struct{ config, name, errPart string }{"xla:/no/plugin.so", "", "no such file"},
			struct{ config, name, errPart string }{"xla:cuda", "", "absolute path"})
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.config, "/", "|"), func(t *testing.T) {
			b, err := NewWithConfig(c.config)
			if c.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), c.errPart) {
					t.Fatalf("NewWithConfig(%q) error = %v, want one containing %q", c.config, err, c.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Name() != c.name {
				t.Errorf("backend name %q, want %q", b.Name(), c.name)
			}
		})
	}
}
