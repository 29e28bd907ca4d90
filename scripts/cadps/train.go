package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/prior/small"
	"github.com/cadps/toolkit/cadps/runs"
	"github.com/cadps/toolkit/cadps/runs/claim"
	"github.com/cadps/toolkit/cadps/train"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/gomlx/gomlx/backends"
)

// trainCommand is `cadps train`: trains a small guided-diffusion UNet as a
// DDPM prior on a folder of gray or RGB images or an IDX file, resumably.
func trainCommand() command {
	return command{
		name:    "train",
		summary: "train a small diffusion prior (DDPM, hybrid loss, EMA) on a folder of images",
		run:     runTrain,
	}
}

// modelFlagNames are the flags that describe the network or the
// optimisation; a resumed run takes them from its checkpoint instead. The
// exceptions, --lr and --loss-weight, change a resumed run from its current
// step on, and the checkpoint records the change.
var modelFlagNames = []string{"config", "image-size", "num-channels", "channel-mult", "num-res-blocks",
	"attention-resolutions", "num-head-channels", "batch-size", "warmup", "weight-decay", "ema", "clip-norm", "seed"}

// trainFlags are `cadps train`'s flags.
type trainFlags struct {
	data, out, configPath, channelMult, attnRes, lossWeight *string
	imageSize, numChannels, numResBlocks, headChannels      *int
	batch, warmup                                           *int
	steps, every, logEvery                                  *int64
	lr, wd, ema, clip                                       *float64
	seed                                                    *uint64
	resume                                                  *bool
	lease                                                   leaseFlag
}

func addTrainFlags(fs *flag.FlagSet) *trainFlags {
	return &trainFlags{
		data:         fs.String("data", "", "training images: an IDX file (.gz or not), a folder with train-images-idx3-ubyte[.gz], or a folder of PNG/JPEG images (read as gray, or as RGB when -config gives in_channels 3)"),
		out:          fs.String("out", "", "output folder: checkpoint.safetensors (resumable state), ema.safetensors (the prior), losses.csv, loss.png"),
		configPath:   fs.String("config", "", "JSON file of guided-diffusion create_model arguments (replaces the model flags below)"),
		imageSize:    fs.Int("image-size", 32, "image side; smaller images are padded with black (−1), centred"),
		numChannels:  fs.Int("num-channels", 32, "base channels (num_channels)"),
		channelMult:  fs.String("channel-mult", "1,2,2", "channel multipliers per resolution (channel_mult)"),
		numResBlocks: fs.Int("num-res-blocks", 1, "residual blocks per resolution (num_res_blocks)"),
		attnRes:      fs.String("attention-resolutions", "8", `resolutions with self-attention, e.g. "8" or "16,8" ("" for none)`),
		headChannels: fs.Int("num-head-channels", 32, "channels per attention head (num_head_channels)"),
		steps:        fs.Int64("steps", 1000, "total training steps to reach (a resumed run continues up to this count)"),
		batch:        fs.Int("batch-size", 32, "images per step"),
		lr:           fs.Float64("lr", 2e-4, "AdamW learning rate; with --resume it changes the run's rate from the current step on"),
		warmup:       fs.Int("warmup", 200, "linear learning-rate warm-up steps"),
		wd:           fs.Float64("weight-decay", 0, "AdamW decoupled weight decay"),
		ema:          fs.Float64("ema", 0.999, "EMA rate of the weights"),
		clip:         fs.Float64("clip-norm", 1, "clip the gradient to this global L2 norm (0: off)"),
		seed:         fs.Uint64("seed", 1, "seed of the initial weights, the data order and the noise"),
		lossWeight:   fs.String("loss-weight", "", `weight of L_simple per timestep: "uniform" (improved DDPM's L_simple), "trunc-snr:Γ" (clip(1/SNR, 1, Γ)) or "min-snr:γ"; with --resume it switches the run's weighting from the current step on`),
		resume:       fs.Bool("resume", false, "continue the run saved in --out (its configuration is kept)"),
		every:        fs.Int64("checkpoint-every", 500, "save the checkpoint, the EMA weights and the loss plot every N steps (0: at the end only)"),
		logEvery:     fs.Int64("log-every", 100, "without a terminal, print a progress line every N steps"),
		lease:        addLeaseFlag(fs),
	}
}

func runTrain(args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("train", "", stderr)
	f := addTrainFlags(fs)
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	switch {
	case *f.data == "":
		return usagef("--data is required")
	case *f.out == "":
		return usagef("--out is required")
	case *f.steps <= 0:
		return usagef("--steps must be positive, got %d", *f.steps)
	case *f.every < 0:
		return usagef("--checkpoint-every must be non-negative, got %d", *f.every)
	}
	if err := f.lease.check(); err != nil {
		return err
	}
	if w, err := train.ParseLossWeight(*f.lossWeight); err == nil { // a bad one is reported below
		*f.lossWeight = w.String() // canonical: "trunc-snr:100.0" is "trunc-snr:100"
		if w.Uniform() {
			*f.lossWeight = "" // the configuration's spelling of the default
		}
	}
	set := setFlags(fs)
	if same, err := samePath(*f.data, *f.out); err != nil {
		return err
	} else if same {
		return usagef("--out %s is the --data folder: its loss.png would be read as a training image by -resume; give another output folder", *f.out)
	}

	if err := runs.CheckOutputFolder(*f.out, runs.CommandTrain); err != nil {
		return err
	}
	// The folder is made and claimed before the checkpoint is looked at,
	// so that of two runs into it the second is refused at once.
	dir, err := makeOutputDir(*f.out)
	if err != nil {
		return err
	}
	defer dir.undo(&err)
	// Until training starts, SIGINT and SIGTERM stop the run at once: the
	// claim is released and the folder, when this run made it, removed.
	claimer := f.lease.claimer("cadps train")
	stopStartup := stopOnSignal(claimer, "train", *f.out+" is free again", stderr, dir).stop
	defer stopStartup()
	held, err := claimTrainOut(claimer, *f.out)
	if err != nil {
		return err
	}
	defer held.Release() // before undo: a refused run's folder is empty again
	b, err := backend.NewOr(backend.TrainingConfig)
	if err != nil {
		return err
	}
	ckpt := filepath.Join(*f.out, train.CheckpointFile)
	_, statErr := os.Stat(ckpt)
	exists := statErr == nil

	var tr *train.Trainer
	if *f.resume {
		tr, err = f.resumeTrainer(b, ckpt, exists, set, stderr)
	} else {
		tr, err = f.newTrainer(b, ckpt, exists, set, stderr)
	}
	if err != nil {
		return err
	}

	// From now on SIGINT/SIGTERM stop the run after the current step, with
	// a checkpoint.
	var stop atomic.Bool
	var caught atomic.Value // the signal that stopped the run
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	stopStartup()
	ended := make(chan struct{}) // the run returned: no signal will come
	defer close(ended)
	go func() {
		select {
		case sig := <-sigs:
			caught.Store(sig)
			stop.Store(true)
		case <-ended:
		}
	}()

	err = tr.Run(train.RunOptions{
		Steps: *f.steps, OutDir: *f.out, CheckpointEvery: *f.every,
		Progress: stderr, Terminal: isTerminal(stderr), LogEvery: *f.logEvery,
		Stop: stop.Load, Check: trainClaimCheck(held, *f.out),
	})
	if errors.Is(err, train.ErrStopped) {
		// The checkpoint holds every step: the folder stays (undo keeps a
		// folder that holds files) and the exit status says the run did
		// not end, so that a job chain waiting for it does not go on.
		sig, _ := caught.Load().(os.Signal)
		return signalExit{sig: sig, msg: fmt.Sprintf("stopped at step %d; continue with --resume", tr.Steps())}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", filepath.Join(*f.out, train.EMAFile))
	return nil
}

// trainClaim is the stem of the claim a training run holds on its output
// folder (files checkpoint.safetensors.claim.N; see claim.Claimer).
const trainClaim = train.CheckpointFile + ".claim"

// claimTrainOut claims the output folder out for the whole run, so that a
// second run into it (fresh or --resume) is refused before it reads or
// writes anything. A run stopped by SIGINT or SIGTERM returns normally and
// releases the claim; one killed leaves a claim that the next run on this
// host takes over at once (claim.Claimer).
func claimTrainOut(claimer *claim.Claimer, out string) (*claim.Claim, error) {
	cl, err := claimer.Claim(filepath.Join(out, trainClaim))
	if errors.Is(err, claim.ErrHeld) {
		return nil, fmt.Errorf("another training run is writing %s: %w", out, err)
	}
	return cl, err
}

// trainClaimCheck is the run's train.RunOptions.Check: once another run
// has taken the folder out over (this one was stopped, e.g. suspended by
// Slurm, for longer than the lease), it refuses every further write.
func trainClaimCheck(cl *claim.Claim, out string) func() error {
	return func() error {
		if cl.Lost() {
			if err := cl.Err(); err != nil {
				return fmt.Errorf("this training run could not keep its claim on %s (%w): stopping without writing", out, err)
			}
			return fmt.Errorf("another training run took %s over while this one was stopped (its claim lapsed): stopping without writing", out)
		}
		return nil
	}
}

// resumeTrainer continues the run whose checkpoint is ckpt, with the
// learning rate and loss weight changed when set says their flags were
// given.
func (f *trainFlags) resumeTrainer(b backends.Backend, ckpt string, exists bool, set map[string]bool, stderr io.Writer) (*train.Trainer, error) {
	for _, n := range modelFlagNames {
		if set[n] {
			return nil, usagef("--%s cannot be changed when resuming: the run keeps the configuration in its checkpoint", n)
		}
	}
	if !exists {
		return nil, fmt.Errorf("--resume: no checkpoint at %s", ckpt)
	}
	peek, err := train.PeekCheckpoint(ckpt)
	if err != nil {
		return nil, err
	}
	ds, err := train.LoadDataset(*f.data, peek.UNet.ImageSize, peek.UNet.ImageChannels())
	if err != nil {
		return nil, err
	}
	tr, err := train.Resume(b, ckpt, ds)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "resuming %s at step %d\n", ckpt, tr.Steps())
	recorded := len(tr.Config().History)
	if set["lr"] {
		if err := tr.SetLearningRate(*f.lr); err != nil {
			return nil, usagef("--lr: %v", err)
		}
	}
	if set["loss-weight"] {
		if err := tr.SetLossWeight(*f.lossWeight); err != nil {
			return nil, usagef("--loss-weight: %v", err)
		}
	}
	names := map[string]string{"lr": "learning rate", "loss_weight": "loss weight"}
	for _, c := range tr.Config().History[recorded:] {
		fmt.Fprintf(stderr, "%s %s from step %d on (was %s)\n", names[c.Setting], c.To, c.Step+1, c.From)
	}
	return tr, nil
}

// newTrainer starts a run in a folder without a checkpoint, with the
// network of --config or of the model flags.
func (f *trainFlags) newTrainer(b backends.Backend, ckpt string, exists bool, set map[string]bool, stderr io.Writer) (*train.Trainer, error) {
	if exists {
		return nil, fmt.Errorf("%s already holds a run: pass --resume to continue it, or choose another --out", *f.out)
	}
	ucfg := unet.Config{
		ImageSize: *f.imageSize, InChannels: 1, NumChannels: *f.numChannels, ChannelMult: *f.channelMult,
		NumResBlocks: *f.numResBlocks, AttentionResolutions: *f.attnRes, NumHeads: 1, NumHeadChannels: *f.headChannels,
		NumHeadsUpsample: -1, LearnSigma: true, UseScaleShiftNorm: true, ResblockUpdown: true,
	}
	if *f.configPath != "" {
		for _, n := range []string{"image-size", "num-channels", "channel-mult", "num-res-blocks", "attention-resolutions", "num-head-channels"} {
			if set[n] {
				return nil, usagef("--%s and --config both describe the model: give one", n)
			}
		}
		raw, err := os.ReadFile(*f.configPath)
		if err != nil {
			return nil, err
		}
		if ucfg, err = unet.ParseConfig(raw); err != nil {
			return nil, fmt.Errorf("%s: %w", *f.configPath, err)
		}
	}
	cfg := train.Config{
		// The shipped prior's process: 1000 linear steps, ε, learned_range.
		UNet: ucfg, Diffusion: small.Diffusion(), BatchSize: *f.batch, LearningRate: *f.lr,
		WarmupSteps: *f.warmup, WeightDecay: *f.wd, EMARate: *f.ema, ClipNorm: *f.clip, Seed: *f.seed,
		LossWeight: *f.lossWeight,
	}
	if err := cfg.Validate(); err != nil {
		return nil, usagef("%v", err)
	}
	ds, err := train.LoadDataset(*f.data, ucfg.ImageSize, ucfg.ImageChannels())
	if err != nil {
		return nil, err
	}
	tr, err := train.New(b, cfg, ds)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "training a %d-parameter UNet on %d images from %s\n", tr.Model().NumParams(), ds.N, ds.Source)
	return tr, nil
}

// trainTerminal reports whether w is a character device (a terminal), for
// the progress bar.
