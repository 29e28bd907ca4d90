package restore

import "testing"

// TestDefaultSteps checks how the step count resolves: an explicit count
// always wins; 0 takes the method's released count for the task, or the
// prior's whole schedule for methods without one.
func TestDefaultSteps(t *testing.T) {
	b, prior := shippedPrior(t)
	full := prior.Diffusion.Steps
	cases := []struct {
		method, task string
		steps, want  int
		respacing    string
	}{
		{method: "dps", task: "super_resolution:factor=2", want: full},
		{method: "cadps", task: "inpaint_box:size=12", want: full},
		{method: "dps", task: "super_resolution:factor=2", steps: 50, want: 50},
		{method: "ddrm", task: "super_resolution:factor=2", want: 20},
		{method: "ddrm", task: "inpaint_box:size=12", steps: 7, want: 7},
		{method: "diffpir", task: "super_resolution:factor=2", want: 100},
		{method: "diffpir", task: "gaussian_blur:kernel_size=5", want: 100},
		{method: "diffpir", task: "inpaint_box:size=12", want: 20},
		{method: "diffpir:lambda=3", task: "inpaint_box:size=12", steps: 40, want: 40},
		{method: "daps", task: "inpaint_box:size=12", want: 200},
		{method: "daps", task: "super_resolution:factor=2", respacing: "30", want: 30},
	}
	for _, c := range cases {
		r, err := New(b, prior, Options{Task: SpecTask(c.task), Method: c.method, Steps: c.steps, Respacing: c.respacing})
		if err != nil {
			t.Fatalf("%s on %s: %v", c.method, c.task, err)
		}
		if got := r.Settings().Steps; got != c.want {
			t.Errorf("%s on %s, steps %d, respacing %q: %d steps, want %d", c.method, c.task, c.steps, c.respacing, got, c.want)
		}
	}
}
