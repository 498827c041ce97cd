# Two entry points on a fresh machine with Python 3.11+ and make:
#   make demo   -- create .venv, build the embedded sample pair, fuse it, write results to demo-output/
#   make test   -- create .venv and run the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch is installed first, pinned: pip takes a local CPU build where one is offered (as on the
# development machines), else PyPI's wheel (the CUDA build on Linux). Set TORCH_SPEC for another build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv demo test bench weights results screenshot gpu-parts clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/burstcap demo --out demo-output

# The browser tests need Debian's Chromium: installed here as .ci/run does (root with apt-get),
# otherwise one line says how, and those tests skip.
test: venv
	@command -v chromium >/dev/null 2>&1 || { \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	            chromium-driver >/dev/null; \
	    else \
	        echo "make test: no Chromium, the browser tests will skip (sudo apt-get install chromium chromium-driver)"; \
	    fi; }
	$(PY) -m pytest -q -ra

# docs/phone-screenshot.png: the browser test's screenshot (shipped weights, Kodak photo from ../shared)
screenshot: venv
	BURSTCAP_SCREENSHOT=docs/phone-screenshot.png $(PY) -m pytest -q tests/test_browser.py -k shoots

# every benchmark, one after the other (outputs in bench-results/; about an hour on 2 CPU cores);
# BENCH_ARGS=--quick checks in minutes that all of them run. The GPU check: benchmarks/device_check.sh
bench: venv
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

# ---- the shipped weights and the README's results tables (CPU; see docs/training.md)
DATA ?= ../shared/data
GOPRO := $(DATA)/gopro/GOPR0477_11_00
DN := $(VENV)/bin/deblurnet
TRAIN := nice -n 5 $(DN) train --threads 1
# Earlier releases, from git history: v1 (before the noise-map input), which the noise-aware runs
# start from; v2 (the released noise-aware first stage), which the RNN's second stage
# (configs/deblur-rnn-mild-noise.toml) starts from; v3 (the released second stage), which the third
# stage (configs/deblur-rnn-coarse-grain-seed23.toml) starts from; v4 (the released third stage), which
# the fourth (configs/deblur-rnn-sharp-long.toml) starts from; v5 (the released fourth stage), which the
# fifth (configs/deblur-rnn-sharp-long-half.toml) starts from; v6 (the shipped weights as
# released), which the three runs tried after it, none shipped, start from (docs/training.md). The
# results tables score the releases in SCORED beside the shipped weights. make weights also reruns the
# earlier stages; their RNNs go to data-cache/init/deblur-rnn-noise-aware.*, deblur-rnn-mild-noise.*,
# deblur-rnn-coarse-grain.* and deblur-rnn-sharp-long.* for comparison with the released v2 to v5,
# which stay what the next stage starts from.
V1 := eadd27b
V2 := 6f10d96
V3 := 71d8e64
V4 := f95bea6
V5 := e958c27
V6 := b4f7378
# the earlier releases the results tables score beside the shipped weights, newest first (all of them
# are fetched by make weights as well: each stage starts from the one before)
SCORED := 5 4 3 2 1
SCORED_RNNS := $(foreach n,$(SCORED),data-cache/init/deblur-rnn-v$(n).safetensors)

data-cache/trainval-stills/meta.json: | venv
	$(DN) synth --protocol stills --source $(DATA)/kodak24 --images 21-24 --count 8 --size 256 --seed 8 \
	    --out data-cache/trainval-stills

# data-cache/init/NAME-vN.safetensors and its card NAME-vN.json: NAME's weights as released in $(VN)
released = mkdir -p data-cache/init && git show $(1):deblurnet/weights/$*.safetensors > $@ && \
    git show $(1):deblurnet/weights/$*.json > $(@:.safetensors=.json)
data-cache/init/%-v1.safetensors: ; $(call released,$(V1))
data-cache/init/%-v2.safetensors: ; $(call released,$(V2))
data-cache/init/%-v3.safetensors: ; $(call released,$(V3))
data-cache/init/%-v4.safetensors: ; $(call released,$(V4))
data-cache/init/%-v5.safetensors: ; $(call released,$(V5))
data-cache/init/%-v6.safetensors: ; $(call released,$(V6))

weights: data-cache/trainval-stills/meta.json data-cache/init/deblur-merger-v1.safetensors $(SCORED_RNNS)
	$(TRAIN) --config configs/deblur-rnn-noise-aware.toml
	$(TRAIN) --config configs/deblur-merger-noise-aware.toml
	$(DN) export runs/deblur-rnn-noise-aware data-cache/init/deblur-rnn-noise-aware.safetensors
	$(TRAIN) --config configs/deblur-rnn-mild-noise.toml
	$(DN) export runs/deblur-rnn-mild-noise data-cache/init/deblur-rnn-mild-noise.safetensors
	$(TRAIN) --config configs/deblur-rnn-coarse-grain-seed23.toml
	$(DN) export runs/deblur-rnn-coarse-grain-seed23 data-cache/init/deblur-rnn-coarse-grain.safetensors
	$(TRAIN) --config configs/deblur-rnn-sharp-long.toml
	$(DN) export runs/deblur-rnn-sharp-long data-cache/init/deblur-rnn-sharp-long.safetensors
	$(TRAIN) --config configs/deblur-rnn-sharp-long-half.toml
	$(DN) export runs/deblur-rnn-sharp-long-half deblurnet/weights/deblur-rnn.safetensors
	$(DN) export runs/deblur-merger-noise-aware deblurnet/weights/deblur-merger.safetensors

# Test sets, none trained on (see the README): Kodak 21..24 stills, LSD2's published triplets, real
# camera noise (PolyU), a camera protocol with every noise profile and in-camera JPEGs, and GOPRO2 on
# frames 101..120 of the training scene (labelled so), and RAW pairs from a real Bayer DNG of an unseen
# scene (burstcap.raw_testset). The previous weights (v1 to v5) are scored beside.
NETS := --model deblur-rnn --model deblur-merger $(addprefix --weights ,$(SCORED_RNNS))
results: $(SCORED_RNNS) | venv
	$(DN) synth --protocol stills --source $(DATA)/kodak24 --images 21-24 --count 12 --size full --seed 121 \
	    --config configs/testsets.toml --out data-cache/val-stills
	$(DN) heldout lsd2 --source $(DATA)/lsd2_train --out data-cache/test-lsd2
	$(DN) heldout polyu --source $(DATA)/polyu --out data-cache/test-polyu --seed 1
	$(DN) synth --protocol camera --source $(GOPRO) --frames 101-120 --count 8 --size full --seed 131 \
	    --config configs/testsets.toml --out data-cache/val-camera
	$(DN) synth --protocol gopro2 --source $(GOPRO) --frames 101-120 --count 12 --size full --seed 101 \
	    --out data-cache/val-gopro2
	$(PY) -m burstcap.raw_testset $(DATA)/raw/valid/Blackmagic.dng data-cache/test-raw
	$(DN) evaluate data-cache/val-stills $(NETS) --json docs/results/val-stills.json
	$(DN) evaluate data-cache/test-lsd2 $(NETS) --json docs/results/test-lsd2.json
	$(DN) evaluate data-cache/test-polyu $(NETS) --json docs/results/test-polyu.json
	$(DN) evaluate data-cache/val-camera $(NETS) --json docs/results/val-camera.json
	$(DN) evaluate data-cache/val-gopro2 $(NETS) --json docs/results/val-gopro2.json
	$(DN) evaluate data-cache/test-raw $(NETS) --json docs/results/test-raw.json
	# rows added to the same files: the shipped DeblurRNN as an x8 self-ensemble, then the whole
	# burstcap fuse path (alignment, ghost guard, colour; sRGB files keep their brightness; on the RAW set
	# the command on its DNGs, with the camera's profile, the map estimated, a profile x4), plain and x8
	for set in val-stills test-lsd2 test-polyu val-camera val-gopro2 test-raw; do \
	    $(DN) evaluate data-cache/$$set --model deblur-rnn --ensemble 8 --json docs/results/$$set.json && \
	    $(PY) -m burstcap.evaluation data-cache/$$set --json docs/results/$$set.json && \
	    $(PY) -m burstcap.evaluation data-cache/$$set --ensemble 8 --json docs/results/$$set.json || exit 1; done
	$(PY) -m deblurnet.results_table docs/results/val-stills.json docs/results/test-lsd2.json \
	    docs/results/test-polyu.json > docs/results/tables.md
	$(PY) -m deblurnet.results_table docs/results/val-camera.json docs/results/val-gopro2.json \
	    >> docs/results/tables.md
	$(PY) -m deblurnet.results_table docs/results/test-raw.json >> docs/results/tables.md

# The training material in four parts of at most 57 MB, each small enough to travel to a lent GPU
# machine in one call beside the code (64 MiB a call); carried back to back, the parts stay on the
# warm machine and are merged there into one data folder: cp -rl data-cache/gpu-parts/*/. DIR, then
# BURSTCAP_DATA=DIR (docs/training.md, "What a GPU burst needs").
GPU_PARTS := data-cache/gpu-parts
gpu-parts:
	rm -rf $(GPU_PARTS)
	mkdir -p $(GPU_PARTS)/1/gopro/GOPR0477_11_00 $(GPU_PARTS)/2/gopro/GOPR0477_11_00 $(GPU_PARTS)/2/kodak24 \
	    $(GPU_PARTS)/3/stills $(GPU_PARTS)/4/stills
	for i in $$(seq 1 100); do f=$$(printf %06d $$i).png; \
	    cp $(GOPRO)/$$f $(GPU_PARTS)/$$(( i <= 50 ? 1 : 2 ))/gopro/GOPR0477_11_00/$$f || exit 1; done
	for i in $$(seq 1 20); do cp $(DATA)/kodak24/kodim$$(printf %02d $$i).png $(GPU_PARTS)/2/kodak24/ || exit 1; done
	cp -r $(DATA)/stills/imagenet $(GPU_PARTS)/3/stills/
	cp -r $(DATA)/stills/cbsd432 $(DATA)/stills/sun_hays80 $(GPU_PARTS)/4/stills/
	du -sh $(GPU_PARTS)/*

clean:
	rm -rf $(VENV) demo-output .pytest_cache
