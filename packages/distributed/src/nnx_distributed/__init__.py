"""nnx-distributed: several JAX processes on one machine, as a cluster runs them.

JAX is the distributed engine: ``jax.distributed`` joins processes into one set of
devices, meshes and the SPMD partitioner spread a model over them, and an nnx training
script needs nothing beyond that. This package only makes the multi-process case easy
to run and test on one machine: ``python -m nnx_distributed.launch --processes 2
--devices-per-process 4 train.py`` starts the processes (``run_local``), and
``initialize()`` at the top of ``train.py`` joins them with gloo collectives over
127.0.0.1. Run without the launcher, ``initialize()`` does nothing; on a cluster,
``jax.distributed.initialize()`` takes its place and the rest of the script is unchanged.
"""

from nnx_distributed._environment import COORDINATOR_ADDRESS as COORDINATOR_ADDRESS
from nnx_distributed._environment import LOCAL_DEVICE_COUNT as LOCAL_DEVICE_COUNT
from nnx_distributed._environment import NUM_PROCESSES as NUM_PROCESSES
from nnx_distributed._environment import PROCESS_ID as PROCESS_ID
from nnx_distributed._environment import initialize as initialize
from nnx_distributed._environment import process_environment as process_environment
from nnx_distributed._launcher import free_port as free_port
from nnx_distributed._launcher import run_local as run_local
