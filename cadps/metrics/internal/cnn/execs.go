package cnn

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// MaxGraphs is the number of compiled graphs (one per shape of the
// arguments) an Execs keeps by default.
const MaxGraphs = 32

// Execs runs a graph function on arguments of any shapes. It compiles the
// function once per distinct list of argument shapes and keeps at most
// max compiled graphs: when another shape comes, the least recently used
// graph is finalized, so that any number of shapes can be run with bounded
// memory (a shape seen again after its graph was dropped is compiled
// again). graph.Exec on its own refuses new shapes once its cache is full.
// Methods may be called from one goroutine at a time.
type Execs struct {
	backend backends.Backend
	fn      func([]*Node) []*Node
	max     int
	// execs are the compiled graphs, least recently used first, each with
	// the key of its argument shapes.
	execs []keyedExec
}

type keyedExec struct {
	key  string
	exec *graph.Exec
}

// NewExecs returns an Execs of fn keeping at most max compiled graphs
// (MaxGraphs when max < 1).
func NewExecs(b backends.Backend, fn func([]*Node) []*Node, max int) *Execs {
	if max < 1 {
		max = MaxGraphs
	}
	return &Execs{backend: b, fn: fn, max: max}
}

// Exec runs the graph for the shapes of args (tensors) and returns its
// outputs, which the caller finalizes.
func (e *Execs) Exec(args ...any) ([]*tensors.Tensor, error) {
	key, err := shapeKey(args)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(e.execs, func(k keyedExec) bool { return k.key == key })
	var k keyedExec
	if i >= 0 {
		k = e.execs[i]
		e.execs = slices.Delete(e.execs, i, i+1)
	} else {
		if len(e.execs) >= e.max {
			e.execs[0].exec.Finalize()
			e.execs = slices.Delete(e.execs, 0, 1)
		}
		exec, err := graph.NewExec(e.backend, e.fn)
		if err != nil {
			return nil, err
		}
		k = keyedExec{key: key, exec: exec.SetMaxCache(1)}
	}
	e.execs = append(e.execs, k)
	return k.exec.Exec(args...)
}

// Len returns the number of compiled graphs kept.
func (e *Execs) Len() int { return len(e.execs) }

// Finalize drops every compiled graph.
func (e *Execs) Finalize() {
	for _, k := range e.execs {
		k.exec.Finalize()
	}
	e.execs = nil
}

// shapeKey returns a key naming the shapes of args, which must be tensors.
func shapeKey(args []any) (string, error) {
	var b strings.Builder
	for i, a := range args {
		t, ok := a.(*tensors.Tensor)
		if !ok {
			return "", fmt.Errorf("cnn: argument %d is a %T, not a tensor", i, a)
		}
		b.WriteString(t.Shape().String())
		b.WriteByte(';')
	}
	return b.String(), nil
}
