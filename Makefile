# Two commands do everything on a fresh machine (they create .venv first):
#   make demo   - the main job: an FE² plate-with-hole run on 2 ranks, plus the homogenized
#                 tensor of the shipped default microstructure, all written to results/
#   make test   - the whole test suite, serially and under mpiexec -n 2
PY := .venv/bin/python
MPIEXEC := .venv/bin/mpiexec

.PHONY: venv demo test clean

venv:
	@bash tools/bootstrap.sh

demo: venv
	OMP_NUM_THREADS=1 $(MPIEXEC) -n 2 $(PY) demos/fe2_plate_with_hole.py --out results
	$(PY) -m dolfinx_multiscale.cli homogenize meshes/square_circle.msh --bc periodic \
		--phase 1:E=1,nu=0.3 --phase 2:E=10,nu=0.3 --json results/square_circle.json \
		--png results/square_circle.png

test: venv
	OMP_NUM_THREADS=1 $(PY) -m pytest tests --ignore=tests/mpi -q
	OMP_NUM_THREADS=1 $(MPIEXEC) -n 2 $(PY) -m mpi4py -m pytest tests/mpi -q -p no:cacheprovider

clean:
	rm -rf results .pytest_cache
