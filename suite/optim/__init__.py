"""Our optimizers, each a ``torch.optim.Optimizer`` that gathers tensors for a functional core doing the
arithmetic, the way ``torch.optim`` is written: a fast in-place default path and a plain per-tensor one."""

from suite.optim.absignsgd import ABSignSGD, ABSignSGDMV
from suite.optim.alias import ALIAS, ALIASWithAdamW
from suite.optim.signsgd import SignSGD, signsgd
from suite.optim.sqmeft import SQMEFT
from suite.optim.stosignsgd import SignConverted, StoSignAdaMax, StoSignSGD

__all__ = [
    "ALIAS",
    "ALIASWithAdamW",
    "ABSignSGD",
    "ABSignSGDMV",
    "SignConverted",
    "SQMEFT",
    "SignSGD",
    "StoSignAdaMax",
    "StoSignSGD",
    "signsgd",
]
