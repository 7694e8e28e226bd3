"""nnx-optim: optax optimizers for models that are object graphs.

``Optimizer(model, tx)`` holds the model by reference and the optax state as
Variables, so it can be passed to ``nnx.jit`` next to the model and updated in place:
``optimizer.update(grads)`` applies one step of ``tx`` to the parameters ``wrt`` selects
and increments ``optimizer.step``. ``EMA`` keeps a moving average of a model's Variables.
"""

from nnx_optim._ema import EMA as EMA
from nnx_optim._optimizer import ModelAndOptimizer as ModelAndOptimizer
from nnx_optim._optimizer import OptArray as OptArray
from nnx_optim._optimizer import Optimizer as Optimizer
from nnx_optim._optimizer import OptState as OptState
from nnx_optim._optimizer import OptVariable as OptVariable
from nnx_optim._train_state import TrainState as TrainState
