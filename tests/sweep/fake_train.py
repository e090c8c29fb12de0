"""A stand-in for tools/train.py (same flags, same files a sweep looks at), in milliseconds: no torch.

It refuses a non-empty output dir (its lock file aside) without --resume/--overwrite like train.py, appends its argv to
``calls.jsonl`` in the run dir (with its CUDA_VISIBLE_DEVICES), writes a checkpoint name and a
results.json that follows the schema.
A run whose directory path contains the value of FAKE_TRAIN_FAIL exits 3 after its checkpoint;
FAKE_TRAIN_SECONDS makes every run take that long (to overlap two sweeps).
"""
import argparse
import json
import os
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--config-file")
p.add_argument("--target-domains", nargs="+")
p.add_argument("--seed", type=int)
p.add_argument("--output-dir")
p.add_argument("--resume")
p.add_argument("--overwrite", action="store_true")
p.add_argument("--plugin", action="append", default=[])
p.add_argument("opts", nargs=argparse.REMAINDER)
args = p.parse_args()
out = args.resume or args.output_dir
if not args.resume and not args.overwrite and os.path.isdir(out) and set(os.listdir(out)) - {".lock"}:
    sys.exit(f"error: Output dir {out} is not empty")
os.makedirs(os.path.join(out, "checkpoints"), exist_ok=True)
with open(os.path.join(out, "calls.jsonl"), "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
                        "threads": os.environ.get("OMP_NUM_THREADS")}) + "\n")
with open(os.path.join(out, "calls.jsonl")) as f:
    first = json.loads(f.readline())["argv"]  # a resumed run finds its target and seed where it started
target, seed = first[first.index("--target-domains") + 1], int(first[first.index("--seed") + 1])
open(os.path.join(out, "checkpoints", "model-epoch1.pt"), "w").close()
time.sleep(float(os.environ.get("FAKE_TRAIN_SECONDS", "0")))
print(f"fake training of {out}")
if os.environ.get("FAKE_TRAIN_FAIL") and os.environ["FAKE_TRAIN_FAIL"] in out:
    sys.exit(3)
final = {"epoch": 1, "target": {target: {"accuracy": 50.0, "num_samples": 10}},
         "source_val": {"a": {"accuracy": 60.0, "num_samples": 5}}}
res = {"dataset": "digits_dg", "trainer": "ERM", "backbone": "resnet10t", "seed": seed, "source_domains": ["a"],
       "target_domains": [target], **final, "history": [final]}
with open(os.path.join(out, "results.json"), "w") as f:
    json.dump(res, f)
