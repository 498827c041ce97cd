"""``deblurnet`` under torchrun with probes (tests/test_torchrun_train.py): run as
``torchrun --nproc_per_node=2 -m ddp_probe train ...`` with ``tests/`` on PYTHONPATH and
``DDP_PROBE_OUT`` set. Each rank logs, after every training step, a digest of its weights and which
triplets its batch held (the mean of each sharp crop: the test's triplets are flat, one level each);
every checkpoint write logs the writing rank."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from deblurnet import checkpoint, train
from deblurnet.cli import main

RANK = int(os.environ.get("RANK", "0"))
OUT = Path(os.environ["DDP_PROBE_OUT"])
_step, _save = train.train_step, checkpoint.save_checkpoint


def probed_step(state, batch):
    result = _step(state, batch)
    params = b"".join(p.detach().cpu().numpy().tobytes() for p in train.unwrap(state.model).parameters())
    levels = [round(float(x) * 255) for x in batch[2].mean(dim=(1, 2, 3))]
    with open(OUT / f"rank{RANK}.jsonl", "a") as log:
        log.write(json.dumps({"step": state.step, "weights": hashlib.sha1(params).hexdigest(),
                              "levels": levels}) + "\n")
    return result


def probed_save(*args, **kwargs):
    with open(OUT / "saves.jsonl", "a") as log:
        log.write(json.dumps({"rank": RANK}) + "\n")
    return _save(*args, **kwargs)


train.train_step = probed_step
checkpoint.save_checkpoint = probed_save

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
