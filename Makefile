# grasp_pipeline: the two commands a user needs.
#   make demo  - set up everything, then run the simulated Franka pick demo (three ROS nodes composed)
#   make test  - set up everything, then run lint + the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
# Nodes started by tests/demos stay on this machine and in their own DDS domain.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export ROS_DOMAIN_ID ?= 42
export FASTDDS_DEFAULT_PROFILES_FILE ?= $(CURDIR)/config/fastdds_shm.xml
export MPLBACKEND ?= Agg

.PHONY: bootstrap test lint demo clean

bootstrap:
	@VENV=$(VENV) scripts/bootstrap.sh

lint: bootstrap
	$(VENV)/bin/ruff check src tests benchmarks launch
	$(VENV)/bin/ruff format --check src tests benchmarks launch

# Tests run in xdist workers: a test that crashes or hangs its process fails alone, a new worker
# takes the remaining tests and the run goes on. (--dist loadfile/loadscope re-run a crashed test
# until the restarts run out: xdist 3.8 re-queues the crashed test with its file.)
PYTEST_WORKERS ?= 2
PYTEST_XDIST = -n $(PYTEST_WORKERS) --dist load --max-worker-restart 20
test: bootstrap
	$(PY) -m pytest -q $(PYTEST_XDIST)

# A few minutes: 5 single-object picks of each of the 16 objects of the league's current set + 10
# clutter scenes with the shipped parts detector (the demo's defaults). The published figures
# come from the commands recorded in the files under benchmarks/results/.
DEMO_ARGS ?= --robot franka --trials 5 --clutter-trials 10 --pile-trials 0

demo: bootstrap
	$(VENV)/bin/grasp-pipeline demo $(DEMO_ARGS) --json tmp/demo/demo.json --images tmp/demo/images

clean:
	rm -rf $(VENV) build install log .pytest_cache .ruff_cache
