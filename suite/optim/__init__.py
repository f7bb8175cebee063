"""Our optimizers, each a ``torch.optim.Optimizer`` with a functional core (see DESIGN.md)."""

from suite.optim.absignsgd import ABSignSGD, ABSignSGDMV
from suite.optim.signsgd import SignSGD, signsgd

__all__ = ["ABSignSGD", "ABSignSGDMV", "SignSGD", "signsgd"]
