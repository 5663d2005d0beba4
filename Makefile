# Two commands for a fresh machine: `make run` opens AdvLens, `make test` runs every test.
# Both create .venv and install what they need the first time (a few minutes: PyTorch is large).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench screenshot screenshots train-default clean

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

# Every workspace at the smallest supported window and a large one, after its showcase: docs/screens/<name>-WxH.png
SCREEN_SIZES := 1024x640 1600x1000
WORKSPACE_NAMES := Attack Visualize Universal Playground Train Compare Fooling
screenshots: $(STAMP)
	@for name in $(WORKSPACE_NAMES); do for size in $(SCREEN_SIZES); do \
		file=docs/screens/$$(echo $$name | tr A-Z a-z)-$$size.png; \
		QT_QPA_PLATFORM=offscreen nice $(PY) main.py screenshot $$file --workspace $$name --size $$size || exit 1; \
	done; done

train-default: $(STAMP)
	$(PY) main.py train-default

clean:
	rm -rf $(VENV) .pytest_cache
