"""Our optimizers, each a ``torch.optim.Optimizer`` with a functional core (see DESIGN.md)."""

from suite.optim.absignsgd import ABSignSGD, ABSignSGDMV
from suite.optim.alias import ALIAS
from suite.optim.signsgd import SignSGD, signsgd
from suite.optim.sqmeft import SQMEFT
from suite.optim.stosignsgd import SignConverted, StoSignAdaMax, StoSignSGD

__all__ = [
    "ALIAS",
    "ABSignSGD",
    "ABSignSGDMV",
    "SignConverted",
    "SQMEFT",
    "SignSGD",
    "StoSignAdaMax",
    "StoSignSGD",
    "signsgd",
]
