package ops

import (
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// GraphDecomposer is implemented by the bound forms of operators
// ([Parametrized.Bind]) whose singular value decomposition is built in the
// graph from their data instead of on the host: a bound inpainting's, from
// its mask. A method that reads it (DDRM) then shares one compiled step
// across every operator of the same key.
type GraphDecomposer interface {
	// GraphSVD returns the decomposition for images shaped like x
	// [N,C,H,W], built in x's graph.
	GraphSVD(x *graph.Node) GraphDecomposition
}

// GraphDecomposition is an SVD A = U Σ Vᵀ whose rank m is data of the
// graph: its spectral vectors hold all D = C·H·W components, the first m
// in A's row space and the rest in its null space, and its singular values
// are a node. Its maps are those of a [Decomposition] padded to D.
type GraphDecomposition interface {
	// Singulars returns s_1 … s_m, then D − m zeros: [1,D], of the image's
	// dtype.
	Singulars() *graph.Node
	// RowSpace returns [1,D] booleans, true for the first m components.
	RowSpace() *graph.Node
	// Vt builds Vᵀ x: [N,C,H,W] → [N,D].
	Vt(x *graph.Node) *graph.Node
	// V builds V v: [N,D] → [N,C,H,W].
	V(v *graph.Node) *graph.Node
	// Ut builds Uᵀ y, then zeros: a measurement → [N,D].
	Ut(y *graph.Node) *graph.Node
	// U builds U u from the first m components of u [N,D]: → a
	// measurement.
	U(u *graph.Node) *graph.Node
}

// GraphSVD implements [GraphDecomposer]: [MaskSVD]'s layout, built from the
// mask input. With k_p the number of observed pixels before pixel p
// (row-major), K of all HW, and M = HW − K the missing ones, channel c of
// pixel p has spectral index C·k_p + c when p is observed and C·K + c·M +
// (p − k_p) when it is missing; every singular value is 1, m = C·K.
func (b *boundInpainting) GraphSVD(x *graph.Node) GraphDecomposition {
	in := mustShape(b, x)
	g := x.Graph()
	c, h, w := in[1], in[2], in[3]
	keep := graph.Reshape(graph.ConvertDType(boundData(b, b.data, 0, 1, g), dtypes.Float32), h, w)
	// Counts of observed pixels, exact in float32 below 2²⁴ pixels: along
	// each row, then the rows before.
	rows := graph.CumSum(keep, 1)
	totals := graph.Slice(rows, graph.AxisRange(), graph.AxisElem(w-1)) // [H,1]
	before := graph.Add(rows, graph.Sub(graph.CumSum(totals, 0), totals))
	toInt := func(n *graph.Node) *graph.Node { return graph.ConvertDType(n, dtypes.Int32) }
	kept := toInt(graph.Reshape(graph.Sub(before, keep), h*w, 1)) // k_p, exclusive
	all := toInt(graph.ReduceAllSum(keep))                        // K
	missing := graph.Sub(graph.Const(g, int32(h*w)), all)         // M
	pixel := graph.Iota(g, shapes.Make(dtypes.Int32, h*w, c), 0)
	channel := graph.Iota(g, shapes.Make(dtypes.Int32, h*w, c), 1)
	cc := graph.Const(g, int32(c))
	observed := graph.Add(graph.Mul(cc, kept), channel)
	hidden := graph.Add(graph.Add(graph.Mul(cc, all), graph.Mul(channel, missing)), graph.Sub(pixel, kept))
	isKept := graph.BroadcastToDims(graph.GreaterThan(graph.Reshape(keep, h*w, 1), graph.ScalarZero(g, dtypes.Float32)), h*w, c)
	d := c * h * w
	pos := graph.Reshape(graph.Where(isKept, observed, hidden), d)
	// perm, the inverse of pos: perm[pos[i]] = i.
	perm := graph.Scatter(graph.Reshape(pos, d, 1), graph.Iota(g, shapes.Make(dtypes.Int32, d), 0), shapes.Make(dtypes.Int32, d), false, true)
	row := graph.LessThan(graph.Iota(g, shapes.Make(dtypes.Int32, 1, d), 1), graph.Mul(cc, all))
	return &graphMaskSVD{in: in, pos: pos, perm: perm, row: row, dtype: x.DType()}
}

// graphMaskSVD is [MaskSVD] with its permutation computed in the graph.
type graphMaskSVD struct {
	in        []int
	pos, perm *graph.Node // [D] int32: spectral index of each pixel-major entry, and its inverse
	row       *graph.Node // [1,D] bool
	dtype     dtypes.DType
}

// Singulars implements [GraphDecomposition].
func (m *graphMaskSVD) Singulars() *graph.Node { return graph.ConvertDType(m.row, m.dtype) }

// RowSpace implements [GraphDecomposition].
func (m *graphMaskSVD) RowSpace() *graph.Node { return m.row }

// Vt implements [GraphDecomposition].
func (m *graphMaskSVD) Vt(x *graph.Node) *graph.Node {
	return gatherColumnsAt(pixelMajor(x), m.perm)
}

// V implements [GraphDecomposition].
func (m *graphMaskSVD) V(v *graph.Node) *graph.Node {
	checkSpectral("the graph mask decomposition's V", v, m.in[1]*m.in[2]*m.in[3])
	return imageOfPixelMajor(gatherColumnsAt(v, m.pos), m.in)
}

// Ut implements [GraphDecomposition].
func (m *graphMaskSVD) Ut(y *graph.Node) *graph.Node { return m.rowOnly(m.Vt(y)) }

// U implements [GraphDecomposition].
func (m *graphMaskSVD) U(u *graph.Node) *graph.Node { return m.V(m.rowOnly(u)) }

// rowOnly keeps the row-space components of the [N,D] node v, zeroing the
// others.
func (m *graphMaskSVD) rowOnly(v *graph.Node) *graph.Node {
	return graph.Where(graph.BroadcastToDims(m.row, v.Shape().Dimensions...), v, graph.ZerosLike(v))
}
