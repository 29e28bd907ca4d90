package gmm

import (
	"fmt"
	"math"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/nn"
	"github.com/cadps/toolkit/internal/linalg"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// AlphasCumprod returns ᾱ_t for t = 0 … T−1 of p's original (not
// respaced) schedule, T = p.OriginalSteps(): the table [Mixture.Network]
// indexes by the timesteps p passes to the network.
func AlphasCumprod(p *diffusion.Process) ([]float64, error) {
	s, err := diffusion.NewSchedule(p.Betas())
	if err != nil {
		return nil, fmt.Errorf("gmm: %w", err)
	}
	return s.AlphasCumprod, nil
}

// Network returns the mixture's exact noise prediction as a network for a
// fixed-variance ε-model:
//
//	ε(x, t) = √(1−ᾱ_t) Σ_k r_k(x) C_k⁻¹ (x − √ᾱ_t μ_k),   C_k = ᾱ_t Σ_k + (1−ᾱ_t) I,
//
// with the responsibilities r_k = softmax_k(log w_k + log N(x; √ᾱ_t μ_k, C_k))
// (a stable softmax). x is [N, d] float32; t [N] float32 holds the original
// timesteps the process passes (timestep_map[i], RescaleTimesteps off),
// rounded and clamped to [0, len(alphasCumprod)) to index the ᾱ table
// alphasCumprod (see [AlphasCumprod]). The result is a guidance.Network;
// everything is differentiable in x, so every guidance method runs on it.
// The context is not used.
//
// Cost per call: two [N,d]×[d,K] products for isotropic covariances
// (Σ_k = λ_k I, the standard setting: the squared distances are expanded as
// ‖x‖² − 2√ᾱ xᵀμ_k + ᾱ‖μ_k‖², exact up to float32 rounding of those terms),
// O(N K d) for diagonal ones, O(N K d²) otherwise.
func (m *Mixture) Network(alphasCumprod []float64) func(ctx *context.Context, x, t *graph.Node) *graph.Node {
	tab := newAlphaTables(alphasCumprod)
	if v, ok := m.isotropicVariances(); ok {
		return m.isotropicNetwork(tab, v)
	}
	K, d := m.K(), m.d
	lam := make([]float32, 0, K*d) // [K, d]: λ_k
	nu := make([]float32, 0, K*d)  // [K, d]: U_kᵀ μ_k
	logw := make([]float32, K)
	diagonal := m.Diagonal()
	var vecs []float32 // [K, d, d]: U_k[i][j]
	for k, c := range m.comps {
		lam = append(lam, toF32(c.vals)...)
		nu = append(nu, toF32(c.toBasis(m.means[k]))...)
		logw[k] = float32(math.Log(m.weights[k]))
		if !diagonal {
			if c.vecs == nil { // a diagonal component among full ones: U = I
				eye := make([]float32, d*d)
				for i := range d {
					eye[i*d+i] = 1
				}
				vecs = append(vecs, eye...)
			} else {
				vecs = append(vecs, toF32(c.vecs)...)
			}
		}
	}
	return func(_ *context.Context, x, t *graph.Node) *graph.Node {
		checkInputs(x, t, d)
		g := x.Graph()
		n := x.Shape().Dim(0)
		a, sa, om, so := tab.lookup(t, n, 1, 1)
		lamN := graph.Const(g, tensors.FromFlatDataAndDimensions(lam, 1, K, d))
		nuN := graph.Const(g, tensors.FromFlatDataAndDimensions(nu, 1, K, d))
		var xb, u *graph.Node // x in each component's basis, [N, K, d]
		if diagonal {
			xb = graph.Reshape(x, n, 1, d)
		} else {
			u = graph.Const(g, tensors.FromFlatDataAndDimensions(vecs, K, d, d))
			xb = nn.DotGeneralConst(x, []int{1}, nil, u, []int{1}, nil) // [N, K, d]: (U_kᵀ x)_j
		}
		z := graph.Sub(xb, graph.Mul(sa, nuN))
		s := graph.Add(graph.Mul(a, lamN), om) // ᾱλ + 1 − ᾱ
		zs := graph.Div(z, s)
		q := graph.ReduceSum(graph.Mul(z, zs), 2)
		logdet := graph.ReduceSum(graph.Log(s), 2)
		logits := graph.Sub(graph.Reshape(graph.Const(g, logw), 1, K), graph.MulScalar(graph.Add(q, logdet), 0.5))
		r := graph.Softmax(logits, 1) // [N, K]
		v := graph.Mul(graph.Reshape(r, n, K, 1), zs)
		var sum *graph.Node
		if diagonal {
			sum = graph.ReduceSum(v, 1)
		} else {
			sum = nn.DotGeneralConst(v, []int{1, 2}, nil, u, []int{0, 2}, nil) // Σ_k U_k v_k, [N, d]
		}
		return graph.Mul(graph.Reshape(so, n, 1), sum)
	}
}

// isotropicVariances returns λ_k when every Σ_k = λ_k I.
func (m *Mixture) isotropicVariances() ([]float64, bool) {
	out := make([]float64, m.K())
	for k, c := range m.comps {
		if c.vecs != nil {
			return nil, false
		}
		for _, v := range c.vals {
			if v != c.vals[0] {
				return nil, false
			}
		}
		out[k] = c.vals[0]
	}
	return out, true
}

// isotropicNetwork is Network for Σ_k = λ_k I: with s_k = ᾱλ_k + 1 − ᾱ,
//
//	q_k = (‖x‖² − 2√ᾱ xᵀμ_k + ᾱ‖μ_k‖²) / s_k,   r = softmax(log w − ½q − ½ d log s),
//	ε = √(1−ᾱ) (x Σ_k r_k/s_k − √ᾱ Σ_k (r_k/s_k) μ_k).
func (m *Mixture) isotropicNetwork(tab alphaTables, lam []float64) func(ctx *context.Context, x, t *graph.Node) *graph.Node {
	K, d := m.K(), m.d
	means := make([]float32, 0, K*d)
	norms := make([]float32, K)
	logw := make([]float32, K)
	for k, mu := range m.means {
		means = append(means, toF32(mu)...)
		norms[k] = float32(linalg.Dot(mu, mu))
		logw[k] = float32(math.Log(m.weights[k]))
	}
	lam32 := toF32(lam)
	return func(_ *context.Context, x, t *graph.Node) *graph.Node {
		checkInputs(x, t, d)
		g := x.Graph()
		n := x.Shape().Dim(0)
		a, sa, om, so := tab.lookup(t, n, 1) // [N, 1]
		mu := graph.Const(g, tensors.FromFlatDataAndDimensions(means, K, d))
		row := func(v []float32) *graph.Node { return graph.Const(g, tensors.FromFlatDataAndDimensions(v, 1, K)) }
		s := graph.Add(graph.Mul(a, row(lam32)), om) // [N, K]
		xx := graph.ReduceAndKeep(graph.Square(x), graph.ReduceSum, 1)
		xm := nn.DotGeneralConst(x, []int{1}, nil, mu, []int{1}, nil) // [N, K]
		sq := graph.Add(graph.Sub(xx, graph.MulScalar(graph.Mul(sa, xm), 2)), graph.Mul(a, row(norms)))
		q := graph.Div(sq, s)
		logits := graph.Sub(row(logw), graph.MulScalar(graph.Add(q, graph.MulScalar(graph.Log(s), float64(d))), 0.5))
		c := graph.Div(graph.Softmax(logits, 1), s)                    // r_k / s_k
		cmu := nn.DotGeneralConst(c, []int{1}, nil, mu, []int{0}, nil) // [N, d]
		sum := graph.Sub(graph.Mul(x, graph.ReduceAndKeep(c, graph.ReduceSum, 1)), graph.Mul(sa, cmu))
		return graph.Mul(so, sum)
	}
}

// checkInputs panics (graph building turns it into an error) unless x is
// [N, d] and t is [N].
func checkInputs(x, t *graph.Node, d int) {
	if x.Rank() != 2 || x.Shape().Dim(1) != d {
		panic(fmt.Errorf("gmm: the mixture network wants x [N, %d], got %s", d, x.Shape()))
	}
	if t.Rank() != 1 || t.Shape().Dim(0) != x.Shape().Dim(0) {
		panic(fmt.Errorf("gmm: the mixture network wants t [N] for x %s, got %s", x.Shape(), t.Shape()))
	}
}

// alphaTables holds ᾱ_t, √ᾱ_t, 1−ᾱ_t and √(1−ᾱ_t) of the original schedule
// in float32, each computed in float64 first.
type alphaTables struct {
	abar, sqrtAbar, oneMinus, sqrtOneMinus []float32
}

func newAlphaTables(alphasCumprod []float64) alphaTables {
	T := len(alphasCumprod)
	tab := alphaTables{make([]float32, T), make([]float32, T), make([]float32, T), make([]float32, T)}
	for t, a := range alphasCumprod {
		tab.abar[t], tab.sqrtAbar[t] = float32(a), float32(math.Sqrt(a))
		tab.oneMinus[t], tab.sqrtOneMinus[t] = float32(1-a), float32(math.Sqrt(1-a))
	}
	return tab
}

// lookup gathers the four tables at the timesteps t [N] (rounded, clamped
// to the table) and reshapes each to [N, trailing...].
func (tab alphaTables) lookup(t *graph.Node, n int, trailing ...int) (abar, sqrtAbar, oneMinus, sqrtOneMinus *graph.Node) {
	g := t.Graph()
	T := len(tab.abar)
	idx := graph.ConvertDType(graph.AddScalar(graph.ClipScalar(graph.ConvertDType(t, dtypes.Float32), 0, float64(T-1)), 0.5), dtypes.Int32)
	idx = graph.Reshape(idx, n, 1)
	dims := append([]int{n}, trailing...)
	get := func(table []float32) *graph.Node {
		return graph.Reshape(graph.Gather(graph.Const(g, table), idx), dims...)
	}
	return get(tab.abar), get(tab.sqrtAbar), get(tab.oneMinus), get(tab.sqrtOneMinus)
}

// toF32 converts a slice to float32.
func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
