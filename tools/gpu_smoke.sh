#!/usr/bin/env bash
# GPU smoke test (issue 22): what only a CUDA machine can show. On one GPU, for every trainer on
# digits_dg with AMP bfloat16, AMP float16 and channels_last (and torch.compile for ERM and
# AdvStyleSLIM): train, --resume from a mid-epoch checkpoint, --eval-only; torchrun with 1 process
# (and 2 when there are two GPUs); the host-device synchronisations per training step.
#
#   tools/gpu_smoke.sh [OUT_DIR]        (default: a temporary directory; PYTHON=... to pick python)
#
# Exits 0 with a SKIP line on a machine without CUDA; otherwise 0 only when every check passed.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "SKIP gpu_smoke: no CUDA device here (torch.cuda.is_available() is False); these checks need a GPU"
    exit 0
fi
OUT=${1:-$(mktemp -d -t gpu_smoke.XXXXXX)}
mkdir -p "$OUT"
GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count())")
TRAINERS="ERM AdvStyle AdvStyleSLIM PGD PGDSLIM FeatAdvStyle FeatAdvStyleSLIM PGDATSLIM TRADESSLIM MARTSLIM"
# a short run: 2 epochs of 6 steps, a checkpoint every 3 steps, every step logged
COMMON=(--root "$OUT/data" --target-domains texture MODEL.BACKBONE.NAME resnet18 OPTIM.MAX_EPOCH 2
        TRAIN.MAX_ITERS_PER_EPOCH 6 TRAIN.CHECKPOINT_FREQ 3 TRAIN.CHECKPOINT_KEEP 0 TRAIN.PRINT_FREQ 1)
FAILED=()
check() {  # check NAME COMMAND...: run it, log it, remember a failure
    local name=$1; shift
    if "$@" > "$OUT/$name.log" 2>&1; then echo "ok     $name"; else echo "FAILED $name (log: $OUT/$name.log)"; FAILED+=("$name"); fi
}
config_of() {  # the digits_dg experiment config a trainer name comes with
    case $1 in
        ERM) echo configs/digits_dg_erm.yaml ;;
        AdvStyle|AdvStyleSLIM) echo configs/digits_dg_advstyle_slim.yaml ;;
        PGD|PGDSLIM) echo configs/digits_dg_pgd_slim.yaml ;;
        FeatAdvStyle|FeatAdvStyleSLIM) echo configs/digits_dg_featadvstyle_slim.yaml ;;
        *) echo configs/digits_dg_pgd_slim.yaml ;;  # the robust trainers: PGD settings, their own method
    esac
}
modes() {  # the option sets each trainer runs under
    echo "bf16:TRAIN.AMP=True,TRAIN.AMP_DTYPE=bfloat16"
    echo "fp16:TRAIN.AMP=True,TRAIN.AMP_DTYPE=float16"
    echo "channels_last:TRAIN.CHANNELS_LAST=True"
    case $1 in ERM|AdvStyleSLIM) echo "compile:TRAIN.COMPILE=True,TRAIN.AMP=True" ;; esac
}
for trainer in $TRAINERS; do
    cfg=$(config_of "$trainer")
    for mode in $(modes "$trainer"); do
        tag=${mode%%:*}; opts=$(echo "${mode#*:}" | tr ',=' '  ')
        run="$OUT/$trainer-$tag"
        # shellcheck disable=SC2086
        check "$trainer-$tag-train" "$PY" tools/train.py --config-file "$cfg" "${COMMON[@]}" --output-dir "$run" \
            TRAINER.NAME "$trainer" $opts
        # resume from the mid-epoch checkpoint of epoch 2 (its RNG states load onto the CPU, the rest onto the GPU)
        if [ -f "$run/checkpoints/model-epoch1-step3.pt" ]; then
            rm -f "$run/checkpoints/model-epoch2.pt" "$run/results.json"
            check "$trainer-$tag-resume" "$PY" tools/train.py --resume "$run"
        else
            echo "FAILED $trainer-$tag-resume (no mid-epoch checkpoint)"; FAILED+=("$trainer-$tag-resume")
        fi
        check "$trainer-$tag-eval-only" "$PY" tools/train.py --eval-only --model-dir "$run"
        # shellcheck disable=SC2086
        "$PY" tools/gpu_syncs.py --config-file "$cfg" DATASET.ROOT "$OUT/data" DATASET.TARGET_DOMAINS "['texture']" \
            MODEL.BACKBONE.NAME resnet18 OUTPUT_DIR "$run-syncs" TRAIN.PRINT_FREQ 50 TRAINER.NAME "$trainer" $opts \
            2>"$run-syncs.err" | grep '^SYNCS' || { echo "FAILED $trainer-$tag-syncs (log: $run-syncs.err)"; FAILED+=("$trainer-$tag-syncs"); }
    done
done
for n in 1 2; do
    if [ "$n" -gt "$GPUS" ]; then echo "skip   torchrun-$n (only $GPUS GPU(s))"; continue; fi
    check "torchrun-$n" "$PY" -m torch.distributed.run --standalone --nproc_per_node "$n" tools/train.py \
        --config-file configs/digits_dg_advstyle_slim.yaml "${COMMON[@]}" --output-dir "$OUT/torchrun-$n"
    rm -f "$OUT/torchrun-$n/checkpoints/model-epoch2.pt" "$OUT/torchrun-$n/results.json"
    check "torchrun-$n-resume" "$PY" -m torch.distributed.run --standalone --nproc_per_node "$n" tools/train.py \
        --resume "$OUT/torchrun-$n"
done
if [ ${#FAILED[@]} -gt 0 ]; then echo "gpu_smoke: ${#FAILED[@]} FAILED: ${FAILED[*]}"; exit 1; fi
echo "gpu_smoke: all passed (outputs in $OUT)"
