// Package diffusion is the Gaussian diffusion process of guided-diffusion
// (Nichol & Dhariwal) as the DPS reference code uses it: β schedules,
// timestep respacing, the coefficient arrays GaussianDiffusion builds, and
// the graph-side functions (p_mean_variance, ancestral and DDIM steps,
// q_sample) that the DPS and CA-DPS samplers run inside one compiled GoMLX
// graph per step.
//
// To start: a [Config] (from [ParseConfig] of a reference YAML file, or
// written out) goes to [New], which returns the [Process] a sampler steps
// through; Config.Respacing chooses the sampling steps.
//
// # Indices
//
// A [Process] counts in respaced indices i = 0..NumSteps()−1. Index i stands
// for the original timestep TimestepMap()[i]; that (optionally rescaled) is
// what the network receives, see [Process.ModelTimestep]. All coefficients
// are indexed by i and are those of the respaced process, exactly as
// SpacedDiffusion builds them.
//
// # Graph functions
//
// The index i is a graph input (an integer scalar node, or an [N] vector for
// a batch of N samples), so that one compiled graph serves every step.
// Coefficients are looked up in-graph from float32 constants holding the
// float64 arrays cast to float32, which is what the reference's
// extract_and_expand does. Image tensors are NCHW (any rank ≥ 2 with the
// batch first and channels second works).
//
// Like every GoMLX graph-building function, the graph functions panic on
// misuse (wrong dtypes or shapes); graph.Exec turns such panics into errors.
//
// # DDIM and respacing
//
// The DDIM sampler of the reference is the same respaced process stepped
// with [Process.DDIMStep]. Note that "ddim50" and "50" choose different
// timesteps: "ddim50" keeps {0, 20, ..., 980} (the DDIM paper's stride),
// "50" keeps {0, 20, 41, ..., 999} (rounded even spacing that ends at the
// last step). The DPS configurations pass the plain integer form.
package diffusion
