# m2dino: `make reproduce` and `make test` are all a newcomer types; both set up the environment first.
PROFILE ?= demo
PYTHON ?= python3
VENV := .venv
PY := $(abspath $(VENV))/bin/python
STAMP := $(VENV)/.setup-stamp
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
OUTDIR := $(abspath results/$(PROFILE)/notebooks)
# torch 2.14.1/torchvision 0.29.1 lie on this project's build machines' disk; elsewhere pip picks any release >= the
# floors in pyproject.toml. Override TORCH_PINS= to let pip choose.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
# make test's pytest workers (pytest-xdist) for tests/, one test file per worker at a time; the notebooks, which build
# on each other's results/smoke, then run in order in one process.
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: setup reproduce test lab clean readme-figures rehearse

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PINS) || $(PY) -m pip install -q "torch>=2.4" "torchvision>=0.19"
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (m2dino)" >/dev/null
	touch $(STAMP)

reproduce: setup
	@mkdir -p $(OUTDIR)
	@start=$$(date +%s); for nb in $(NOTEBOOKS); do \
	  name=$$(basename $$nb); t0=$$(date +%s); echo "== $$name (PROFILE=$(PROFILE))"; \
	  M2DINO_PROFILE=$(PROFILE) M2DINO_HEADLESS=1 M2DINO_NOTEBOOK=$$name \
	  M2DINO_COMMAND="make reproduce PROFILE=$(PROFILE)" $(PY) -m papermill -k python3 --cwd $(abspath notebooks) \
	    $(abspath $$nb) $(OUTDIR)/$$name -p profile $(PROFILE) --log-level WARNING \
	    || { echo "make reproduce: $$name failed (executed copy with the failing cell: $(OUTDIR)/$$name)"; exit 1; }; \
	  echo "   $$name took $$(( $$(date +%s) - t0 )) s"; \
	done; echo "all notebooks ran in $$(( $$(date +%s) - start )) s; executed copies in $(OUTDIR)"
	$(PY) -m m2dino htmlreport profile=$(PROFILE)
	$(PY) -m m2dino costs profile=$(PROFILE)

test: setup
	@$(PY) -c "import sys, m2dino.lab as lab; sys.exit(lab.chromium() is None)" \
	  || echo "make test: NO CHROMIUM FOUND (apt-get install chromium, or set M2DINO_CHROMIUM): the JupyterLab and report browser tests (tests/test_ui_*.py) will be SKIPPED"
	M2DINO_PROFILE=smoke $(PY) -m pytest tests -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile
	M2DINO_PROFILE=smoke $(PY) -m pytest --nbval-lax notebooks -p no:cacheprovider

# The paper run rehearsed on CPU at full model and input size with tiny counts (m2dino/checks/rehearse.py; tens of
# minutes on a 2-core CPU).
rehearse: setup
	$(PY) -m m2dino rehearse profile=paper

# JupyterLab on the repository, opened at notebooks/, with the project's kernel; --allow-root when run as root.
lab: setup
	$(PY) -m m2dino.lab

# Small copies of three key figures of the documented demo run for the README (PROFILE=smoke to try it).
readme-figures:
	$(PY) -m m2dino.readme_figures $(PROFILE)

clean:
	rm -rf $(VENV) results figures/smoke figures/demo figures/paper data/synthetic outputs multirun .pytest_cache
