"""Command line (`capsim`) and experiment scripts, installed as `capsim.experiments`."""
