package guidance

import "github.com/gomlx/gomlx/pkg/core/graph"

// generalizedConjugateResidual returns an approximate solution u of M u = b
// for each batch element after iters products with M (given by apply, acting
// on each batch element separately), starting from u = 0.
//
// It is GCR with full orthogonalisation: step k minimises ‖b − M u‖₂ over
// the Krylov space of dimension k, as GMRES does, and needs neither symmetry
// nor definiteness of M; the residual norm never grows. This is what a
// matrix built from a learned network's Jacobian needs: such a Jacobian is
// neither symmetric nor positive semi-definite, and conjugate gradients on
// it can diverge (see docs/methods.md, MMPS). For a symmetric positive
// definite M it reaches the same solution as CG after as many products. The
// loop is unrolled in the graph; it keeps iters directions and their images.
// A direction whose image vanishes (a converged or singular system)
// contributes nothing instead of NaN. The iterations are capped at the
// system's size (see krylovIterations).
func generalizedConjugateResidual(apply func(v *graph.Node) *graph.Node, b *graph.Node, iters int) *graph.Node {
	iters = krylovIterations(b, iters)
	u := graph.ZerosLike(b)
	r := b
	ps := []*graph.Node{r}
	qs := []*graph.Node{apply(r)}
	qq := []*graph.Node{imageDot(qs[0], qs[0])}
	for k := range iters {
		alpha := safeDiv(imageDot(r, qs[k]), qq[k])
		u = graph.Add(u, graph.Mul(alpha, ps[k]))
		r = graph.Sub(r, graph.Mul(alpha, qs[k]))
		if k == iters-1 {
			break
		}
		p, q := r, apply(r)
		for j := range ps { // modified Gram–Schmidt against the earlier images
			beta := safeDiv(imageDot(q, qs[j]), qq[j])
			p = graph.Sub(p, graph.Mul(beta, ps[j]))
			q = graph.Sub(q, graph.Mul(beta, qs[j]))
		}
		ps, qs, qq = append(ps, p), append(qs, q), append(qq, imageDot(q, q))
	}
	return u
}
