# coldrec: `make demo` trains a small model on generated data and serves it; `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: install demo test lint clean

install: $(VENV)/.installed

# torch is installed first and pinned to the CPU wheel this machine carries (a plain `torch`
# would pull a CUDA build of several GB); the project's range then installs nothing more.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

# Generated shop items with words (synthetic:words, 3,000 items, 10 themes; text = MiniLM), so a
# raw-text POST /items works; the README shows the requests to try. Its live state (the
# embedded Redis) lives beside the run, in runs/demo/state/.
demo: install
	$(VENV)/bin/coldrec train --data synthetic:words --model lightgcn --out runs/demo --epochs 30 \
		--set model.dim=64 --set train.projector_epochs=20
	$(VENV)/bin/coldrec serve --bundle runs/demo --port $(PORT)

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) runs .pytest_cache
