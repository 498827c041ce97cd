# Two entry points on a fresh machine with Python 3.11+ and make:
#   make demo   -- create .venv, build the embedded sample pair, fuse it, write results to demo-output/
#   make test   -- create .venv and run the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch is installed first, pinned: pip takes a local CPU build where one is offered (as on the
# development machines), else PyPI's wheel (the CUDA build on Linux). Set TORCH_SPEC for another build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv demo test bench weights results screenshot clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/burstcap demo --out demo-output

test: venv
	$(PY) -m pytest -q -ra

# docs/phone-screenshot.png: the browser test's screenshot (shipped weights, Kodak photo from ../shared)
screenshot: venv
	BURSTCAP_SCREENSHOT=docs/phone-screenshot.png $(PY) -m pytest -q tests/test_browser.py -k shoots

bench: venv
	$(PY) benchmarks/run_all.py

# ---- the shipped weights and the README's results table (CPU, ~2 h 20 min on 2 cores; see docs/training.md)
DATA ?= ../shared/data
GOPRO := $(DATA)/gopro/GOPR0477_11_00
DN := $(VENV)/bin/deblurnet
TRAIN := nice -n 5 $(DN) train --threads 1

data-cache/trainval-gopro2/meta.json: | venv
	$(DN) synth --protocol gopro2 --source $(GOPRO) --frames 101-120 --count 8 --size 256 --seed 7 \
	    --out data-cache/trainval-gopro2

data-cache/trainval-stills/meta.json: | venv
	$(DN) synth --protocol stills --source $(DATA)/kodak24 --images 21-24 --count 8 --size 256 --seed 8 \
	    --out data-cache/trainval-stills

# The exact schedule of the shipped runs: Adam lr 2e-4 constant (the paper's) first, then cosine
# decays from 5e-4 (the RNN with a warm restart); --stop-at marks where a phase was cut.
weights: data-cache/trainval-gopro2/meta.json data-cache/trainval-stills/meta.json
	$(TRAIN) --config configs/deblur-rnn-compact.toml --steps 1250
	$(TRAIN) --config configs/deblur-rnn-compact.toml --lr 5e-4 --cosine --steps 4800 --stop-at 4250
	$(TRAIN) --config configs/deblur-rnn-compact.toml --lr 5e-4 --cosine --steps 10000 --stop-at 6500 --workers 1
	$(TRAIN) --config configs/deblur-rnn-compact.toml --lr 5e-4 --cosine --steps 13000 --workers 1
	$(TRAIN) --config configs/deblur-rnn-compact-finetune.toml --workers 1
	$(TRAIN) --config configs/deblur-merger-compact.toml --steps 1750
	$(TRAIN) --config configs/deblur-merger-compact.toml --lr 5e-4 --cosine --steps 5400
	$(TRAIN) --config configs/deblur-merger-compact-finetune.toml --workers 1
	$(DN) export runs/deblur-rnn-compact deblurnet/weights/deblur-rnn.safetensors
	$(DN) export runs/deblur-merger-compact deblurnet/weights/deblur-merger.safetensors

# Validation sets never trained on (GOPRO frames 101..120, Kodak 21..24) and the full evaluation.
results: | venv
	$(DN) synth --protocol gopro2 --source $(GOPRO) --frames 101-120 --count 12 --size full --seed 101 \
	    --out data-cache/val-gopro2
	$(DN) synth --protocol stills --source $(DATA)/kodak24 --images 21-24 --count 12 --size full --seed 121 \
	    --out data-cache/val-stills
	$(DN) evaluate data-cache/val-gopro2 --model deblur-rnn --model deblur-merger --ensemble 8 \
	    --json docs/results/val-gopro2.json
	$(DN) evaluate data-cache/val-stills --model deblur-rnn --model deblur-merger --ensemble 8 \
	    --json docs/results/val-stills.json
	# robustness: the noise of the nine real cameras in hardware_profiles (training used the generic law)
	$(DN) synth --protocol camera --source $(GOPRO) --frames 101-120 --count 8 --size full --seed 131 \
	    --random-profiles --out data-cache/val-camera-profiles
	$(DN) synth --protocol stills --source $(DATA)/kodak24 --images 21-24 --count 8 --size full --seed 141 \
	    --random-profiles --out data-cache/val-stills-profiles
	$(DN) evaluate data-cache/val-camera-profiles --model deblur-rnn --model deblur-merger \
	    --json docs/results/val-camera-profiles.json
	$(DN) evaluate data-cache/val-stills-profiles --model deblur-rnn --model deblur-merger \
	    --json docs/results/val-stills-profiles.json

clean:
	rm -rf $(VENV) demo-output .pytest_cache
