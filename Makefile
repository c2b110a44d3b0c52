# The two commands of README.md:
#   make demo   install what is missing, then run the embedded demo
#               (make demo-ds2d2: the DS2D2 3-stage version)
#   make test   install what is missing (with test packages), then run tests
PY ?= $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV)/bin/python,$(if $(CONDA_PREFIX),$(CONDA_PREFIX)/bin/python,.venv/bin/python))

.PHONY: install install-test demo demo-ds2d2 test check

install:
	bash tools/install.sh

install-test:
	bash tools/install.sh --test

check:
	$(PY) -m mmkd_dense.utils.check_install

demo: install
	$(PY) tools/demo/run_demo.py

demo-ds2d2: install
	$(PY) tools/demo/run_demo.py --method ds2d2

test: install-test
	$(PY) -m pytest tests -q -p no:cacheprovider
