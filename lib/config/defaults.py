"""The only home of configuration defaults (yacs). Every key has a comment: meaning, unit, allowed values.

Sizes are [w, h] as in the yamls. Float defaults are written as floats so yacs rejects a wrong type.
Nothing here is `new_allowed`: a misspelt key in a yaml or on the command line is an error.

Paths: every key in PATH_KEYS follows one rule, applied once when the config is loaded (lib.config.resolve_path):
'' means unset; '~' is expanded; an absolute path is kept; a relative path is joined to DATA_DIR (and made absolute)
when DATA_DIR is set, else kept as given, i.e. relative to the working directory. The run scripts (run_*.sh) cd to
the repository root first, so there relative paths are relative to the root, as in the README's commands. The
trainers' default run folders (OmniPose/trained...) follow the same rule. A path a tool needs that does not exist is
an error naming the key and the resolved path (lib.config.require_path). Paths given as command-line options of the
tools (--cfg, --weights, --resume, --work-dir) are relative to the working directory; `_BASE_` in a yaml is
relative to that yaml.
"""
from yacs.config import CfgNode as CN

_C = CN()

# Where runs land: OUTPUT_DIR/<dataset>/<model>/<config name>/. The adversarial trainer defaults to
# OmniPose/trained_GAN (from scratch) or OmniPose/trained_GAN_2 (from a pretrained generator) when this is unset.
_C.OUTPUT_DIR = ""
# TensorBoard folder; '' means <run dir>/tb.
_C.LOG_DIR = ""
# The folder every relative path key (PATH_KEYS: data, weights and outputs alike) is resolved against; '' = the
# working directory. With DATA_DIR set, give OUTPUT_DIR as an absolute path to write runs elsewhere.
_C.DATA_DIR = ""
# DataLoader worker processes per device (0 = load in the main process).
_C.WORKERS = 2
# Log a training line every PRINT_FREQ iterations.
_C.PRINT_FREQ = 20
# Resume from <run dir>/checkpoint.pth when it exists, else start (as --auto-resume); the saved config must match
# (RESUME_MAY_CHANGE below). Off: a folder holding a run is refused unless --resume or --overwrite is given.
_C.AUTO_RESUME = False
# DataLoader pin_memory (only used on CUDA).
_C.PIN_MEMORY = True
# Base random seed; each DDP rank and worker adds its own offset.
_C.SEED = 0
# 'auto' (CUDA when available, else CPU), 'cpu' or 'cuda'.
_C.DEVICE = "auto"
# Weight files (paths, e.g. ['old_run/checkpoint.pth']) that may be read with Python's full unpickler. RISK: unpickling
# can run any code the file's author put in it, with your permissions. Every other .pth is read with
# torch.load(weights_only=True) (tensors and plain values only; everything this project writes) and refused if it
# needs more. List only files from sources you trust; each entry follows the path rule above.
_C.TRUSTED_PICKLE_FILES = []
# Multi-process runs (torchrun): seconds a collective may wait for the other ranks before failing. Bounds a hang when
# a rank stops answering without dying; must exceed rank 0's longest solo work between collectives (COCO evaluation,
# checkpoint writing). A rank that dies or raises makes the others fail at once, whatever this is.
_C.DIST_TIMEOUT_S = 1800.0
# Mixed precision in training: fp16 autocast + GradScaler on CUDA; bf16 autocast on a CPU with native bf16
# (AVX512-BF16 or AMX), fp32 with a warning on other CPUs. Evaluation on CPU always runs fp32.
_C.AMP = False
# Keep the models in channels_last memory format (faster oneDNN convolutions on CPU, tensor cores with AMP on CUDA;
# the weights and checkpoints are unchanged).
_C.CHANNELS_LAST = False
# Deterministic kernels (slower). CPU training is deterministic without it; on CUDA it turns cudnn autotuning off,
# asks for deterministic cudnn/cuBLAS kernels, and warns (does not fail) at ops that have none.
_C.DETERMINISTIC = False

_C.CUDNN = CN()
# cudnn autotuner; good for fixed input sizes.
_C.CUDNN.BENCHMARK = True
# cudnn deterministic kernels.
_C.CUDNN.DETERMINISTIC = False
# Use cudnn at all.
_C.CUDNN.ENABLED = True

# ----------------------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------------------
_C.MODEL = CN()
# Generator architecture: 'omnipose' (HRNet + Gaussian deconv fuse + WASP head) or 'pose_hrnet' (plain HRNet).
_C.MODEL.NAME = "omnipose"
# Multi-process runs: BatchNorm statistics over the global batch (SyncBatchNorm) instead of each process's own batch;
# for small per-GPU batches. CUDA only (torch's SyncBatchNorm refuses CPU tensors); no effect in one process.
_C.MODEL.SYNC_BN = False
# Initialise weights (kaiming/normal) before any loading. False leaves PyTorch's defaults.
_C.MODEL.INIT_WEIGHTS = True
# Backbone init: 'hrnet' (the original's N(0, 0.001), for fine-tuning from ImageNet) or 'kaiming' (He-normal: from
# scratch it learns much faster, see lib/models/hrnet_common.py::init_hrnet_weights).
_C.MODEL.INIT_SCHEME = "hrnet"
# ImageNet-pretrained HRNet backbone, loaded non-strictly (only MODEL.EXTRA.PRETRAINED_LAYERS); '' = none.
_C.MODEL.PRETRAINED = ""
# Number of keypoints: 17 for COCO, 16 for MPII.
_C.MODEL.NUM_JOINTS = 17
# Target type; only 'gaussian' heatmaps are supported.
_C.MODEL.TARGET_TYPE = "gaussian"
# Network input [w, h] in pixels.
_C.MODEL.IMAGE_SIZE = [288, 384]
# Output heatmap [w, h]; must be IMAGE_SIZE / 4 (the generators have stride 4).
_C.MODEL.HEATMAP_SIZE = [72, 96]
# Std of the target Gaussian, in heatmap cells (3.0 for 96x72, 2.0 for 64x48).
_C.MODEL.SIGMA = 3.0

_C.MODEL.EXTRA = CN()
# OmniPose head: 'waspv2' (the paper's and the original code's default) or 'waspv1' (WASPv1 + decoder: the layout
# of the released COCO checkpoint). Ignored by pose_hrnet.
_C.MODEL.EXTRA.HEAD = "waspv2"
# Prefixes of the backbone parameters taken from MODEL.PRETRAINED ('*' = all).
_C.MODEL.EXTRA.PRETRAINED_LAYERS = ["*"]
# Kernel of pose_hrnet's final conv (1 or 3).
_C.MODEL.EXTRA.FINAL_CONV_KERNEL = 1
# hourglass only: stacked hourglasses, each supervised (4 in Adversarial PoseNet's generator, 8 in Newell's).
_C.MODEL.EXTRA.NUM_STACKS = 4
# hourglass only: feature width F of every hourglass (256 in Newell's and the paper's); a multiple of 4.
_C.MODEL.EXTRA.NUM_FEATURES = 256
# hourglass only: halvings per hourglass (4 for 64x64 heatmaps; odd sizes are upsampled back exactly).
_C.MODEL.EXTRA.HOURGLASS_DEPTH = 4

# Stage 1 (layer1): Bottleneck blocks at 1/4 resolution. Its output width NUM_CHANNELS*4 also feeds the WASP head.
_C.MODEL.EXTRA.STAGE1 = CN()
_C.MODEL.EXTRA.STAGE1.NUM_MODULES = 1  # always 1; kept for the HRNet yaml layout
_C.MODEL.EXTRA.STAGE1.NUM_BRANCHES = 1  # always 1
_C.MODEL.EXTRA.STAGE1.BLOCK = "BOTTLENECK"  # BOTTLENECK | BASIC
_C.MODEL.EXTRA.STAGE1.NUM_BLOCKS = [4]  # blocks in layer1
_C.MODEL.EXTRA.STAGE1.NUM_CHANNELS = [64]  # bottleneck width (output = 4x for BOTTLENECK)
_C.MODEL.EXTRA.STAGE1.FUSE_METHOD = "SUM"  # only SUM


def _stage(num_modules, num_branches, num_blocks, num_channels):
    node = CN()
    node.NUM_MODULES = num_modules  # HighResolutionModules in this stage
    node.NUM_BRANCHES = num_branches  # parallel resolutions (1/4, 1/8, ...)
    node.BLOCK = "BASIC"  # BASIC | BOTTLENECK
    node.NUM_BLOCKS = num_blocks  # residual blocks per branch
    node.NUM_CHANNELS = num_channels  # width per branch
    node.FUSE_METHOD = "SUM"  # only SUM
    return node


# Stages 2-4 of HRNet; W48 defaults (the W width is NUM_CHANNELS[0]).
_C.MODEL.EXTRA.STAGE2 = _stage(1, 2, [4, 4], [48, 96])
_C.MODEL.EXTRA.STAGE3 = _stage(4, 3, [4, 4, 4], [48, 96, 192])
_C.MODEL.EXTRA.STAGE4 = _stage(3, 4, [4, 4, 4, 4], [48, 96, 192, 384])

# ----------------------------------------------------------------------------------------------------------------
# Loss
# ----------------------------------------------------------------------------------------------------------------
_C.LOSS = CN()
# Heatmap loss: 'mse' (target-weighted, 0.5 * mean, as HRNet) or 'bce' (weighted BCE with positives up-weighted).
_C.LOSS.TYPE = "mse"
# Multiply each joint's loss by its target weight (0 for unlabelled or out-of-crop joints).
_C.LOSS.USE_TARGET_WEIGHT = True
# 'bce' only: weight of a target pixel relative to background, applied as 1 + (POS_WEIGHT - 1) * target.
_C.LOSS.BCE_POS_WEIGHT = 10.0
# 'bce' only: 'fixed' (the BCE_POS_WEIGHT form above) or 'balanced' (the Adversarial-Pose-Estimation project's form:
# pixels within 3 sigma of a labelled joint weigh n_negative / n_positive of the batch; lib/core/loss.py).
_C.LOSS.BCE_WEIGHTING = "fixed"

# ----------------------------------------------------------------------------------------------------------------
# Dataset
# ----------------------------------------------------------------------------------------------------------------
_C.DATASET = CN()
# Dataset root; layouts are in docs/datasets.md (COCO: annotations/ + images/<set>/ or images/<set>.zip).
_C.DATASET.ROOT = "data/coco"
# A synthetic root (a path containing 'synthetic') is generated by the run scripts on first use with
# tools/data/make_synthetic_coco.py: this preset ('default' = the benchmark difficulty, 'quickstart' = the easier CPU
# quickstart set; lib/dataset/synthetic/config.py PRESETS) and these image counts [train, val].
_C.DATASET.SYNTHETIC_PRESET = "default"
_C.DATASET.SYNTHETIC_IMAGES = [5000, 500]
# 'coco' or 'mpii' (the synthetic set is COCO-format, so 'coco').
_C.DATASET.DATASET = "coco"
# Split names, e.g. train2017 / val2017 (COCO), train / valid (MPII).
_C.DATASET.TRAIN_SET = "train2017"
_C.DATASET.TEST_SET = "val2017"
# Image storage: 'auto' (folder, else zip), 'jpg' (ROOT/images/<set>/ or ROOT/<set>/), 'zip' (ROOT/images/<set>.zip).
_C.DATASET.DATA_FORMAT = "auto"
# Random horizontal flip in training (with left/right joint swap).
_C.DATASET.FLIP = True
# Scale augmentation: scale *= clip(1 + N(0,1) * SCALE_FACTOR, 1 - SCALE_FACTOR, 1 + SCALE_FACTOR).
_C.DATASET.SCALE_FACTOR = 0.35
# Rotation augmentation in degrees: clip(N(0,1) * ROT_FACTOR, -2 ROT_FACTOR, 2 ROT_FACTOR), applied with ROT_PROB.
_C.DATASET.ROT_FACTOR = 45.0
# Probability that a training sample is rotated.
_C.DATASET.ROT_PROB = 0.6
# Probability of the half-body crop (upper or lower body); <= 0 disables it.
_C.DATASET.PROB_HALF_BODY = 0.3
# Half-body needs more than this many visible joints.
_C.DATASET.NUM_JOINTS_HALF_BODY = 8
# Feed RGB (True) or OpenCV's BGR (False) to the network.
_C.DATASET.COLOR_RGB = True
# Skip unreadable or corrupt images (counted and reported per epoch) instead of raising.
_C.DATASET.SKIP_CORRUPT = False

# ----------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------
_C.TRAIN = CN()
# 'adam', 'adamw' or 'sgd'. Weight decay TRAIN.WD is applied by all three (the original's Adam dropped it).
_C.TRAIN.OPTIMIZER = "adam"
# Base learning rate (not rescaled with the number of processes unless TRAIN.AUTO_SCALE_LR).
_C.TRAIN.LR = 1e-3
# LR schedule after the warm-up: 'step' (LR_FACTOR at each LR_STEP milestone) or 'cosine' (a half cosine from LR
# down to LR * LR_FACTOR at the end of END_EPOCH; LR_STEP unused).
_C.TRAIN.LR_SCHEDULE = "step"
# MultiStepLR factor and milestones (epochs, 0-based: the LR changes before epoch LR_STEP[i]); the cosine's floor.
_C.TRAIN.LR_FACTOR = 0.1
_C.TRAIN.LR_STEP = [170, 200]
# Linear warm-up from LR * WARMUP_FACTOR to LR over this many iterations (0 = off).
_C.TRAIN.WARMUP_ITERS = 0
_C.TRAIN.WARMUP_FACTOR = 0.001
# Weight decay (L2 for adam/sgd, decoupled for adamw).
_C.TRAIN.WD = 0.0
# SGD momentum and Nesterov.
_C.TRAIN.MOMENTUM = 0.9
_C.TRAIN.NESTEROV = False
# Number of epochs to train.
_C.TRAIN.END_EPOCH = 210
# Batch size per device (DDP: per process). WASPv2's image-pooling BN needs > 1 in training.
_C.TRAIN.BATCH_SIZE_PER_GPU = 32
# Linear LR scaling rule (as mmpose's auto_scale_lr): when True, TRAIN.LR and GAN.D_LR are multiplied by the global
# batch (BATCH_SIZE_PER_GPU x number of processes) / BASE_BATCH_SIZE, the global batch the LRs were tuned for.
_C.TRAIN.AUTO_SCALE_LR = False
_C.TRAIN.BASE_BATCH_SIZE = 0
# Shuffle the training set.
_C.TRAIN.SHUFFLE = True
# Validate every VAL_INTERVAL epochs and always after the last one.
_C.TRAIN.VAL_INTERVAL = 1
# Clip the gradient norm to this value (0 = off).
_C.TRAIN.CLIP_GRAD_NORM = 0.0
# Exponential moving average of the generator's weights (lib/core/ema.py): 0 = off; e.g. 0.999 (about the last
# 1,000 steps). When on, validation, model_best.pth and final_state.pth use the average.
_C.TRAIN.EMA_DECAY = 0.0
# With EMA on, also validate the raw weights (metrics prefixed 'raw '), to see what the average adds.
_C.TRAIN.EMA_VALIDATE_RAW = False
# Stop after this many iterations per epoch (0 = whole epoch); for smoke tests.
_C.TRAIN.MAX_ITERS_PER_EPOCH = 0

# ----------------------------------------------------------------------------------------------------------------
# Testing / evaluation
# ----------------------------------------------------------------------------------------------------------------
_C.TEST = CN()
# Batch size per device for validation.
_C.TEST.BATCH_SIZE_PER_GPU = 32
# Average with the prediction on the mirrored input (left/right channels swapped back).
_C.TEST.FLIP_TEST = True
# Shift the flipped heatmaps one cell right before averaging, for weights trained on the original HRNet code's
# targets (the released HRNet files). Applies only to weights without this project's record: weights trained here
# record the codec's centred targets and are never shifted (lib/core/inference.py: flip_shift).
_C.TEST.SHIFT_HEATMAP = False
# DARK refinement when decoding (blur, log, Taylor step); False = argmax + quarter-pixel offset.
_C.TEST.POST_PROCESS = True
# DARK blur kernel size (odd), in heatmap cells.
_C.TEST.BLUR_KERNEL = 11
# Evaluate on ground-truth boxes (True) or on detections from COCO_BBOX_FILE (False).
_C.TEST.USE_GT_BBOX = True
# Person detections in COCO results format, used when USE_GT_BBOX is False.
_C.TEST.COCO_BBOX_FILE = ""
# Minimum detection score for a box to be evaluated.
_C.TEST.IMAGE_THRE = 0.0
# OKS-NMS threshold over the persons of one image.
_C.TEST.OKS_THRE = 0.9
# Joints scoring above this count in the rescoring mean.
_C.TEST.IN_VIS_THRE = 0.2
# Soft-OKS-NMS instead of hard OKS-NMS.
_C.TEST.SOFT_NMS = False
# Weights evaluated by tools/test.py (checkpoint, bare state_dict or an original release file).
_C.TEST.MODEL_FILE = ""

# ----------------------------------------------------------------------------------------------------------------
# Logging
# ----------------------------------------------------------------------------------------------------------------
_C.LOG = CN()
# Images written to TensorBoard per validation (input crop, predicted and target heatmaps); 0 = none.
_C.LOG.NUM_IMAGES = 4

# ----------------------------------------------------------------------------------------------------------------
# Adversarial training (tools/train_AN.py; docs/adversarial_training.md). Ignored by train.py.
# ----------------------------------------------------------------------------------------------------------------
_C.GAN = CN()
# Use the Pose Discriminator (image downsampled to heatmap size + heatmaps -> one logit per joint).
_C.GAN.POSE_DISC = True
# Use the Confidence Discriminator (heatmaps only -> one logit per joint).
_C.GAN.CONF_DISC = True
# Pose Discriminator encoder widths (E0..E4) and decoder widths (D3, D2, D1).
_C.GAN.POSE_WIDTHS = [64, 128, 256, 256, 256]
_C.GAN.POSE_DEC_WIDTHS = [256, 256, 128]
# Confidence Discriminator widths: half of the Pose Discriminator's by default.
_C.GAN.CONF_WIDTHS = [32, 64, 128, 128, 128]
_C.GAN.CONF_DEC_WIDTHS = [128, 128, 64]
# Weights of the generator's adversarial terms (calibrated by the logged gradient ratio, not loss values).
_C.GAN.LAMBDA_P = 0.01
_C.GAN.LAMBDA_C = 0.008
# The adversarial weight ramps linearly from 0 to 1 over this many epochs of the adversarial phase (0 = no ramp).
_C.GAN.RAMP_EPOCHS = 1.0
# A fake joint is labelled correct for the Pose Discriminator when its OKS term exp(-d^2 / (2 A k^2)) >= TAU_P.
_C.GAN.TAU_P = 0.75
# A fake joint is labelled confident when ||clamp(pred) - gt||^2 / ||gt||^2 < EPS_C.
_C.GAN.EPS_C = 0.3
# One-sided label smoothing: the discriminators' positive target (1.0 = none). The generator always aims at 1.
_C.GAN.LABEL_SMOOTH = 0.9
# Datasets without OKS constants (LSP, MPII): a fake joint is labelled correct for the Pose Discriminator when its
# decoded position lies within PCK_ALPHA x the person's PCK normaliser (LSP: torso, MPII: head segment) of the truth;
# 0 = the dataset's evaluation threshold (LSP 0.2, MPII 0.5). TAU_P applies to COCO-format data only.
_C.GAN.PCK_ALPHA = 0.0
# Negative fake terms are up-weighted by n_pos / n_neg of the batch, clamped to [1, BALANCE_MAX].
_C.GAN.BALANCE_MAX = 10.0
# Discriminator optimizer: 'adam' or 'adamw'; LR, betas and weight decay (constant LR).
_C.GAN.D_OPTIMIZER = "adam"
_C.GAN.D_LR = 1e-4
_C.GAN.D_BETAS = [0.5, 0.999]
_C.GAN.D_WD = 0.0
# Epochs at the start in which only the discriminators train while the generator is frozen (0 = none).
_C.GAN.WARMUP_EPOCHS = 0
# R1 gradient penalty weight on real inputs (0 = off).
_C.GAN.R1_GAMMA = 0.0
# Generator weights to start from (a pure run's model_best.pth or an original release file); '' = from scratch.
# Setting this (or --init-from) switches the default output to OmniPose/trained_GAN_2.
_C.GAN.GENERATOR_INIT = ""

# The path keys, resolved by the one rule in the module docstring. A new path key must be listed here.
# A list-valued path key has the rule applied to each entry.
PATH_KEYS = ("OUTPUT_DIR", "LOG_DIR", "DATASET.ROOT", "MODEL.PRETRAINED", "TEST.MODEL_FILE", "TEST.COCO_BBOX_FILE",
             "GAN.GENERATOR_INIT", "TRUSTED_PICKLE_FILES")

# Keys a resume (--resume, --auto-resume, AUTO_RESUME) may change: where files are and how a run is watched or
# stopped, never what it learns. Every other key must equal the checkpoint's saved config, or the resume is refused
# with the list of differing keys (a changed TRAIN.LR, say, would be silently replaced by the restored optimizer).
RESUME_MAY_CHANGE = (
    "OUTPUT_DIR", "LOG_DIR", "DATA_DIR", "DATASET.ROOT",  # the same data and run, moved
    "WORKERS", "PIN_MEMORY", "PRINT_FREQ", "AUTO_RESUME", "DEVICE", "CUDNN.BENCHMARK", "DIST_TIMEOUT_S",  # how it runs
    "TRAIN.END_EPOCH",  # to train longer (or stop earlier)
    "TRAIN.VAL_INTERVAL", "TRAIN.EMA_VALIDATE_RAW", "TEST.BATCH_SIZE_PER_GPU", "LOG.NUM_IMAGES",  # how often / how
    # fast it is validated; the evaluation itself (TEST.FLIP_TEST, ...) stays fixed so bests stay comparable
    # start-up weights (a resume restores every weight from the checkpoint instead), and which files may be unpickled
    "MODEL.PRETRAINED", "MODEL.INIT_WEIGHTS", "GAN.GENERATOR_INIT", "TEST.MODEL_FILE", "TRUSTED_PICKLE_FILES",
)
