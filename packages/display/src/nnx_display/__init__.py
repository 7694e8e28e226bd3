"""nnx-display: look at models, States and GraphDefs.

``display(model)`` shows a model the way its structure reads: in a Jupyter notebook as
an interactive, foldable treescope rendering; in a terminal or a script as a text tree
with the shape and dtype of every Variable and, on each Object, its parameter count and
bytes per Variable kind. Importing this package does not import treescope: treescope
is loaded the first time something is rendered with it, and treescope's own
``render_to_html`` / ``render_to_text`` / ``register_as_default`` pick up nnx's handlers
through treescope's lazy setup hook.
"""

from nnx_display._display import display as display
from nnx_display._display import in_notebook as in_notebook
from nnx_display._lazy import register_lazy_setup as _register_lazy_setup
from nnx_display._lazy import set_up_treescope as set_up_treescope
from nnx_display._tabulate import tabulate as tabulate

_register_lazy_setup()
