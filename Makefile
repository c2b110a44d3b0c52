# The two commands of README.md:
#   make demo   install what is missing, then run the embedded demo
#   make test   install what is missing (with test packages), then run tests
PY ?= $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV)/bin/python,$(if $(CONDA_PREFIX),$(CONDA_PREFIX)/bin/python,.venv/bin/python))

.PHONY: install install-test demo test check

install:
	bash tools/install.sh

install-test:
	bash tools/install.sh --test

check:
	$(PY) -m mmkd_dense.utils.check_install

demo: install
	$(PY) tools/demo/run_demo.py

test: install-test
	$(PY) -m pytest tests -q -p no:cacheprovider
