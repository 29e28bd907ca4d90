package train

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// NoiseLevelError is how well a network denoises images at one timestep:
// the errors of its ε and of its x̂0, against the truth.
type NoiseLevelError struct {
	// T is the timestep index, AlphaBar its ᾱ.
	T        int
	AlphaBar float64
	// EpsMSE is the mean over images and pixels of (ε̂ − ε)², the term of
	// L_simple at T; ε̂ is the network's output, or for a process whose
	// network predicts x_0 or x_{t−1}, the ε that prediction implies.
	EpsMSE float64
	// X0MSE is the mean of (x̂0 − x0)² with x̂0 clipped to [−1, 1] as the
	// samplers clip it; X0Mean is the mean of that x̂0.
	X0MSE, X0Mean float64
	// DataMean is the mean of the clean images, and BaselineMSE the mean
	// squared error of their per-pixel mean image: the best guess that
	// ignores x_T. A denoiser that does worse is worse than knowing nothing.
	DataMean, BaselineMSE float64
}

// NoiseLevelErrors measures m (with its weights in ctx) as a denoiser of
// the images in data at each timestep in ts of p: each image is noised to
// x_t = √ᾱ·x0 + √(1−ᾱ)·ε with ε drawn from (seed, t), batch images per
// network call. The network's output is read as p's mean type says (ε,
// x_0 or x_{t−1}), as the samplers read it.
func NoiseLevelErrors(b backends.Backend, ctx *context.Context, m *unet.Model, p *diffusion.Process, data *Dataset, ts []int, seed uint64, batch int) ([]NoiseLevelError, error) {
	switch {
	case data == nil || data.N == 0:
		return nil, errors.New("train: no images to denoise")
	case batch <= 0:
		return nil, fmt.Errorf("train: batch must be positive, got %d", batch)
	case data.C != m.InChannels() || data.H != m.ImageSize() || data.W != m.ImageSize():
		return nil, fmt.Errorf("train: images are %d×%d×%d, the model wants %d×%d×%d",
			data.C, data.H, data.W, m.InChannels(), m.ImageSize(), m.ImageSize())
	case m.OutChannels() != m.InChannels() && m.OutChannels() != 2*m.InChannels():
		return nil, fmt.Errorf("train: the model has %d output channels for %d input channels", m.OutChannels(), m.InChannels())
	}
	for _, t := range ts {
		if t < 0 || t >= p.NumSteps() {
			return nil, fmt.Errorf("train: timestep %d is outside [0, %d)", t, p.NumSteps())
		}
	}
	per := data.C * data.H * data.W
	dataMean, baseline := pixelMoments(data)
	exec, err := context.NewExec(b, ctx, func(ctx *context.Context, x0, i, noise *node) []*node {
		xt := p.QSample(x0, i, noise)
		// The process's mean type says what the output predicts.
		mv := p.PMeanVariance(xt, i, m.Apply(ctx, xt, p.ModelTimestep(i), nil))
		eps := mv.ModelEps
		x0h := graph.ClipScalar(mv.PredXStartUnclipped, -1, 1)
		return []*node{
			graph.ReduceAllSum(graph.Square(graph.Sub(eps, noise))),
			graph.ReduceAllSum(graph.Square(graph.Sub(x0h, x0))),
			graph.ReduceAllSum(x0h),
		}
	})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	ab := p.Schedule().AlphasCumprod
	res := make([]NoiseLevelError, len(ts))
	for k, t := range ts {
		r := rand.New(rand.NewPCG(seed, uint64(t)))
		var sums [3]float64
		for lo := 0; lo < data.N; lo += batch {
			n := min(batch, data.N-lo)
			noise := make([]float32, n*per)
			for j := range noise {
				noise[j] = float32(r.NormFloat64())
			}
			idx := make([]int32, n)
			for j := range idx {
				idx[j] = int32(t)
			}
			dims := []int{n, data.C, data.H, data.W}
			outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(data.Pix[lo*per:(lo+n)*per], dims...),
				tensors.FromValue(idx), tensors.FromFlatDataAndDimensions(noise, dims...))
			if err != nil {
				return nil, fmt.Errorf("train: timestep %d: %w", t, err)
			}
			for j := range sums {
				sums[j] += float64(tensors.ToScalar[float32](outs[j]))
			}
		}
		if math.IsNaN(sums[0]+sums[1]+sums[2]) || math.IsInf(sums[0]+sums[1]+sums[2], 0) {
			return nil, fmt.Errorf("train: timestep %d: the network's output is not finite (NaN or ±Inf in its weights or its arithmetic)", t)
		}
		total := float64(data.N * per)
		res[k] = NoiseLevelError{T: t, AlphaBar: ab[t], EpsMSE: sums[0] / total, X0MSE: sums[1] / total,
			X0Mean: sums[2] / total, DataMean: dataMean, BaselineMSE: baseline}
	}
	return res, nil
}

// pixelMoments returns the mean of all pixels of data and the mean squared
// deviation of each pixel from its mean over the images.
func pixelMoments(data *Dataset) (mean, variance float64) {
	per := data.C * data.H * data.W
	sum := make([]float64, per)
	sq := make([]float64, per)
	for i := range data.N {
		for j, v := range data.Pix[i*per : (i+1)*per] {
			sum[j] += float64(v)
			sq[j] += float64(v) * float64(v)
		}
	}
	n := float64(data.N)
	for j := range sum {
		mu := sum[j] / n
		mean += mu
		variance += sq[j]/n - mu*mu
	}
	return mean / float64(per), variance / float64(per)
}
