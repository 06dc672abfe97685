# tutor: `make run` opens the app on the demo piece; `make test` runs the test suite.
# Both create .venv and install everything the first time; later runs install nothing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint bench demo setup clean

run: $(STAMP)
	$(VENV)/bin/tutor app assets/demo/twinkle.musicxml

demo: $(STAMP)
	$(VENV)/bin/tutor info assets/demo/twinkle.musicxml

test: $(STAMP)
	$(VENV)/bin/ruff check tutor ui models tests
	$(PY) -m pytest -q -p no:cacheprovider tests

lint: $(STAMP)
	$(VENV)/bin/ruff check tutor ui models tests

bench: $(STAMP)
	$(PY) -m tests.bench $(BENCH)

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/system-deps.sh
	bash scripts/system-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[app,serve,dev,ray]'
	# the piano transcriber's model (issue 20): transkun's own requirements are its training tools
	# (tensorboard, torch-optimizer, seaborn, sox...); inference needs only what pyproject.toml lists
	$(PY) -m pip install -q --no-deps -c constraints.txt transkun
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info
