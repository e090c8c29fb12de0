"""The default config tree. Key names follow Dassl's (``DATASET.*``, ``DATALOADER.*``, ``INPUT.*``,
``MODEL.*``, ``OPTIM.*``, ``TRAIN.*``, ``TEST.*``, ``TRAINER.NAME``) so Dassl users feel at home;
``ADV.*`` configures the adversary and ``SLIM.*`` the stochastic intermediate-layer objective.

Every key that can be set from a file or the command line exists here with a typed default:
an unknown key or a wrong type is an error before any work starts.
"""
from yacs.config import CfgNode as CN

_C = CN()
_C.VERSION = 1
_C.OUTPUT_DIR = ""  # empty: output/<dataset>/<trainer>/<target domains>/seed<SEED>
_C.SEED = 1
_C.USE_CUDA = True  # the GPU when one is available (under torchrun: GPU LOCAL_RANK); False: the CPU

# ---------------------------------------------------------------------------- dataset
_C.DATASET = CN()
_C.DATASET.NAME = "digits_dg"
_C.DATASET.ROOT = "datasets"  # relative paths are taken from the current directory
# a dataset missing from ROOT is fetched on first use with tools/download.py's verified downloader;
# False: stop and print that command instead
_C.DATASET.DOWNLOAD = True
_C.DATASET.SOURCE_DOMAINS = []  # empty: every domain that is not a target (leave-one-domain-out)
_C.DATASET.TARGET_DOMAINS = []
_C.DATASET.VAL_RATIO = 0.1  # share of each source domain held out for source validation (folder datasets)
# test: a target is tested on its test list where the protocol has one (domainnet, mini_domainnet, vlcs),
# else on all its images | all: on all its images (datasets/README.md, per dataset)
_C.DATASET.TARGET_SPLIT = "test"
_C.DATASET.IMAGE_FOLDER = ""  # DATASET.NAME image_folder: the folder under ROOT holding <domain>/<class>/<images>
# YAML/JSON {domain: {folder: class}} renaming class folders (image_folder and other class-folder datasets)
_C.DATASET.CLASS_MAP = ""
# evaluate target classes that no source trains on (open-set) instead of stopping; counted in results.json
_C.DATASET.ALLOW_UNSEEN_CLASSES = False

# ---------------------------------------------------------------------------- data loading
_C.DATALOADER = CN()
# loader worker processes per training process; -1: auto, this process's share of the CPUs less the
# threads training keeps busy (torch's threads on a CPU, one on a GPU; at most 8). Workers are kept
# for the whole run and get page-locked memory when training on a GPU.
_C.DATALOADER.NUM_WORKERS = -1
_C.DATALOADER.PREFETCH_FACTOR = 2  # batches each worker prepares ahead
# keep decoded images (uint8) in memory, decoded once up front and shared by the workers, each after
# its resize (INPUT.SIZE; training images before a random_resized_crop are kept whole). True: every
# image (digits_dg: 5 MB); auto: the evaluation images when they fit a quarter of the available
# memory, and the training images too when all fit and their pipeline starts with the resize (the
# log says); False: none
_C.DATALOADER.CACHE = "auto"
_C.DATALOADER.ON_BAD_IMAGE = "fail"  # fail: stop naming the file | skip: leave it out, count it in results.json
# decode every listed image once before training and report all unreadable ones at once (with
# ON_BAD_IMAGE fail: stop before training). On by default: on PACS-sized data it costs a fifth of
# one epoch's image loading, against a corrupt file found hours into a run (README, measured)
_C.DATALOADER.VERIFY_IMAGES = True
_C.DATALOADER.TRAIN_X = CN()
# RandomSampler | SequentialSampler | RandomDomainSampler (Dassl: N_DOMAIN domains per batch, equal share)
_C.DATALOADER.TRAIN_X.SAMPLER = "RandomSampler"
_C.DATALOADER.TRAIN_X.BATCH_SIZE = 32
_C.DATALOADER.TRAIN_X.N_DOMAIN = 0  # 0: all source domains in every batch (RandomDomainSampler)
_C.DATALOADER.TEST = CN()
_C.DATALOADER.TEST.BATCH_SIZE = 128

# ---------------------------------------------------------------------------- input
_C.INPUT = CN()
_C.INPUT.SIZE = (224, 224)
_C.INPUT.INTERPOLATION = "bilinear"  # bilinear | bicubic | nearest
# applied in this order at train time: random_resized_crop | random_crop | random_flip | color_jitter
# (test time: resize only); images are always converted to float and normalised at the end
_C.INPUT.TRANSFORMS = ["random_flip"]
_C.INPUT.RRCROP_SCALE = (0.08, 1.0)
_C.INPUT.CROP_PADDING = 4
_C.INPUT.COLORJITTER_B = 0.4
_C.INPUT.COLORJITTER_C = 0.4
_C.INPUT.COLORJITTER_S = 0.4
_C.INPUT.COLORJITTER_H = 0.1
_C.INPUT.PIXEL_MEAN = [0.485, 0.456, 0.406]  # ImageNet statistics, as timm's pretrained weights expect
_C.INPUT.PIXEL_STD = [0.229, 0.224, 0.225]

# ---------------------------------------------------------------------------- model
_C.MODEL = CN()
_C.MODEL.BACKBONE = CN()
_C.MODEL.BACKBONE.NAME = "resnet18"  # any timm model name, or a name in the backbone registry
_C.MODEL.BACKBONE.PRETRAINED = False
_C.MODEL.BACKBONE.WEIGHTS = ""  # local weights file (timm/torchvision state dict) used instead of a download
_C.MODEL.INIT_WEIGHTS = ""  # a whole-model checkpoint (backbone + head) to start from

# ---------------------------------------------------------------------------- optimisation
_C.OPTIM = CN()
_C.OPTIM.NAME = "sgd"  # sgd | adam | adamw
_C.OPTIM.LR = 0.01
_C.OPTIM.WEIGHT_DECAY = 5e-4
_C.OPTIM.MOMENTUM = 0.9
_C.OPTIM.SGD_NESTEROV = False
_C.OPTIM.ADAM_BETA1 = 0.9
_C.OPTIM.ADAM_BETA2 = 0.999
_C.OPTIM.FUSED = True  # torch's fused optimizer kernel where it has one for the device (same update, faster)
_C.OPTIM.LR_SCHEDULER = "cosine"  # cosine | single_step | multi_step | constant
_C.OPTIM.STEPSIZE = [-1]  # epochs at which the LR is multiplied by GAMMA (step schedulers)
_C.OPTIM.GAMMA = 0.1
_C.OPTIM.MAX_EPOCH = 10
_C.OPTIM.WARMUP_EPOCH = 0
_C.OPTIM.WARMUP_TYPE = "linear"  # linear | constant
_C.OPTIM.WARMUP_CONS_LR = 1e-5  # LR during a constant warmup
_C.OPTIM.WARMUP_MIN_LR = 1e-5  # starting LR of a linear warmup

# ---------------------------------------------------------------------------- training
_C.TRAIN = CN()
_C.TRAIN.PRINT_FREQ = 50  # iterations between log lines
_C.TRAIN.EVAL_FREQ = 0  # evaluate every N epochs (0: only at the end)
_C.TRAIN.CHECKPOINT_FREQ = 0  # also save every N steps within an epoch (0: only at the end of each epoch)
_C.TRAIN.CHECKPOINT_KEEP = 3  # keep the newest N periodic checkpoints (0: all); model-best.pt is kept apart
_C.TRAIN.DETERMINISTIC = False  # torch's deterministic algorithms (slower on GPU; CPU runs are exact anyway)
_C.TRAIN.MAX_ITERS_PER_EPOCH = 0  # 0: one pass over the training data
# Speed. AMP: autocast the step (the adversaries' inner loops included) and evaluation to AMP_DTYPE
# (bfloat16: GPUs since Ampere and recent CPUs, no loss scaling; float16: GPUs only, with a
# GradScaler). CHANNELS_LAST: NHWC memory format (faster convolutions with AMP on GPUs and with
# oneDNN on CPUs). COMPILE: torch.compile the model (slow first steps while it compiles).
_C.TRAIN.AMP = False
_C.TRAIN.AMP_DTYPE = "bfloat16"  # bfloat16 | float16
_C.TRAIN.CHANNELS_LAST = False
_C.TRAIN.COMPILE = False
# On the CPU, with CHANNELS_LAST and COMPILE off: activations channels-last through the stages whose
# maps are at least 8x8, contiguous after (modeling/cpu_layout.py: a ResNet-18 step at 64 px 0.91x the
# time, the same evaluation logits). False: every tensor contiguous.
_C.TRAIN.CPU_EARLY_CHANNELS_LAST = True

# ---------------------------------------------------------------------------- testing
_C.TEST = CN()
# robustness trainers: PGD steps of the per-epoch validation attack that picks model-best-pgd.pt
# (Rice et al., 2020); 0: no robust validation
_C.TEST.ROBUST_VAL_STEPS = 10

# ---------------------------------------------------------------------------- trainer
_C.TRAINER = CN()
_C.TRAINER.NAME = "ERM"
# adversarial-robustness trainers (slim_dg/engine/robust.py); PGD settings come from ADV.*
_C.TRAINER.TRADES = CN()
_C.TRAINER.TRADES.BETA = 6.0  # weight of KL(p(x) || p(x_adv)) (Zhang et al., 2019)
_C.TRAINER.MART = CN()
_C.TRAINER.MART.BETA = 6.0  # weight of the misclassification-weighted KL (Wang et al., 2020)
# ce: the attack ascends the plain CE, as in the paper's Algorithm 1 and the authors' code | bce: the
# boosted CE of MART's outer loss (an ablation)
_C.TRAINER.MART.INNER_LOSS = "ce"

# ---------------------------------------------------------------------------- adversary
# The keys every adversarial trainer reads. An adversary's own keys (PGD's ``ADV.EPS``, FeatAdvStyle's
# ``ADV.FEAT_STAGES``, ...) are declared in its file (``Adversary.config_keys``) and added here when it is
# registered (``add_config_keys``), so a new adversary needs no edit of this file.
_C.ADV = CN()
_C.ADV.NAME = ""  # adversary for TRAINER.NAME "Adversarial" (advstyle | pgd | feat_advstyle | yours); named trainers set it
_C.ADV.STEPS = 1  # inner-maximisation steps
# Random start. AdvStyle: std of a Gaussian added to the style (mu, sigma); PGD: uniform start in
# RANDOM_START * EPS; FeatAdvStyle: std of a Gaussian on the relative statistics shift. 0: off.
_C.ADV.RANDOM_START = 0.0
# clean+adv (augmentation) | adv (adversarial training); the robustness trainers (PGDAT, TRADES, MART)
# train on what their outer loss decides and refuse adv
_C.ADV.TRAIN_ON = "clean+adv"
# clean+adv: one forward of cat([x, x_adv]) after the inner loop (one BN batch, as public AdvStyle
# re-implementations do) instead of two (the default). See the README for the measured difference.
_C.ADV.JOINT_FORWARD = False
_C.ADV.BN_MODE = "train"  # train | eval: BN/dropout mode of the adversarial forward passes
_C.ADV.UPDATE_BN = False  # let adversarial passes update BN running statistics

# ---------------------------------------------------------------------------- SLIM
_C.SLIM = CN()
_C.SLIM.ENABLED = False  # for TRAINER.NAME "Adversarial"; the *SLIM trainers turn it on
_C.SLIM.LAYERS = []  # candidate taps (names like "layer2" or indices); empty: every tap of the backbone
_C.SLIM.LOSS = "cosine"  # cosine | orthogonal | reverse
_C.SLIM.LAMBDA_MIN = -1.0
_C.SLIM.LAMBDA_MAX = 1.0
_C.SLIM.SAMPLE_PER = "step"  # step: new layer and lambda every adversarial step | batch: once per batch
# none: lambda weighs L_ILL as it is | grad_norm: per sample, L_ILL is rescaled so that its gradient w.r.t.
# the adversary's parameters has the norm of the output loss's (lambda = that fraction of the output's push)
_C.SLIM.BALANCE = "none"


#: declared key -> the adversaries that declared it (``add_config_keys``)
DECLARED_BY: dict[str, list[str]] = {}


def add_config_keys(keys: dict, owner: str) -> None:
    """Add ``{"ADV.EPS": 8 / 255, "ADV.MINE.SCALE": 0.5, ...}`` to the defaults, so files and the command
    line may set them (every other key stays an error). A key declared twice must have the same default:
    two adversaries reading ``ADV.LR`` share one setting. Nothing is added unless every key can be."""
    new = []
    for dotted, default in keys.items():
        *parents, leaf = dotted.split(".")
        node = _C
        for i, part in enumerate(parents):
            if part in node and not isinstance(node[part], CN):
                raise ValueError(f"{owner} declares config key {dotted}, but {'.'.join(parents[:i + 1])} is a value")
            node = node.get(part, CN())
        if leaf in node:
            old = node[leaf]
            if isinstance(old, CN) or type(old) is not type(default) or old != default:
                raise ValueError(f"{owner} declares config key {dotted} = {default!r}, but it exists with default "
                                 f"{old!r} (declared by {', '.join(DECLARED_BY.get(dotted, ['the defaults']))})")
        new.append((dotted, parents, leaf, default))
    for dotted, parents, leaf, default in new:
        node = _C
        for part in parents:
            if part not in node:
                node[part] = CN()
            node = node[part]
        node[leaf] = default
        DECLARED_BY.setdefault(dotted, []).append(owner)


def get_cfg_defaults() -> CN:
    """A fresh, mutable copy of the defaults, with every registered adversary's keys."""
    from .. import adversarial  # noqa: F401  (registering the built-in adversaries declares their keys)

    return _C.clone()
