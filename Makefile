PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): setup.py | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m training.demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=30 tests

BENCHES := serving soak pixelcnn_sampling pixelcnn_mnist vpn_moving_digits vpn_bytenet bytenet sam wavenet parallel_wavenet wavenet_audio bfn bfn_results mixture_vae draw acn kanerva associative_capacity associative_tasks act grid_lstm bptt_msm snap curriculum dni dni_async a3c rl_exploration

bench: $(STAMP)
	for bench in $(BENCHES); do $(BIN)/python -m bench.$$bench || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
