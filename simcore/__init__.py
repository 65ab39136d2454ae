"""Domain-free simulation kernel, installed as `capsim.simcore`."""
