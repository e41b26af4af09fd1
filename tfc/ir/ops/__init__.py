"""Op definitions. Importing this package registers every built-in op."""
from tfc.ir.ops.base import Attr, OpSpec, get_op, op_traits, register_op, registered_ops  # noqa: F401
from tfc.ir.ops import elementwise, nn, quant, tensor  # noqa: F401  (registration)
from tfc.ir.ops import attention  # noqa: F401,E402  (registration)
