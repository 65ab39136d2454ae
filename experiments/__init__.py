"""The `capsim` command, the pipelines behind the API, the question scripts and the tools.

Installed as `capsim.experiments`, in four subpackages by role:

- `cli`: the `capsim` command (parser, commands, tables); a thin layer over `capsim.api`.
- `pipelines`: the library the API calls: runs, compare, sweep, sensitivity, calibrate,
  plan, report, figures, history; with the defaults, checks and errors they share.
- `questions`: one question each, runnable as `capsim experiment NAME`; they use the
  public API (`capsim.run`, ...) as a notebook would.
- `tools`: the benchmark and the checks of the queueing and latency formulas.

The modules left at this level (`benchmark`, `feedback`, `rival_tenant`,
`validate_latency`, `validate_queueing`) are entry points only, so that the
`python -m capsim.experiments.NAME` commands the README names keep working.
"""
