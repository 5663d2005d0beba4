# Two commands for a fresh machine: `make run` opens AdvLens, `make test` runs every test.
# Both create .venv and install what they need the first time (a few minutes: PyTorch is large).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench screenshot train-default clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) main.py

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

bench: $(STAMP)
	$(PY) -m pip install --quiet -r benchmarks/requirements.txt
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/pgd_streaming.py
	$(PY) benchmarks/deepfool_adef.py
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/playground_fps.py
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/train_responsiveness.py --seconds 15
	$(PY) benchmarks/universal.py
	$(PY) benchmarks/universal.py --model resnet18:random
	$(PY) benchmarks/fooling_generation.py
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/fooling_gui.py
	-$(PY) benchmarks/startup.py  # needs Xvfb and xdotool (see README); skipped with a note without them

screenshot: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) main.py screenshot docs/screenshot.png

train-default: $(STAMP)
	$(PY) main.py train-default

clean:
	rm -rf $(VENV) .pytest_cache
