"""The Optuna sweeper of ``hparams_search=optuna_eer``: the Hydra plugin's, except that a search whose every
trial failed ends as any multirun with failed jobs does (each job's error, the sweep's report, exit status 2
for bad input), and one whose trials returned no value says which setting to fix, not with Optuna's "No
trials are completed yet" traceback. Hydra takes sweepers only from the ``hydra_plugins`` namespace package,
hence this one's place."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper as PluginSweeper

from aasist_lightning.cli.errors import JOB_ERROR_FILE, ConfigError, report

log = logging.getLogger(__name__)


class OptunaSweeper(PluginSweeper):
    def setup(self, *, config: Any, **kwargs: Any) -> None:
        self._config = config
        super().setup(config=config, **kwargs)

    def sweep(self, arguments: list[str]) -> None:
        try:
            super().sweep(arguments)
        except ValueError as error:
            if "No trials are completed" not in str(error):
                raise
            if any(Path(self._config.hydra.sweep.dir).glob(f"*/{JOB_ERROR_FILE}")):
                log.error("no trial of the search completed: no best parameters (optimization_results.yaml)")
                return  # the failed jobs are reported at the end of the multirun
            metric = self._config.get("optimized_metric")
            why = ConfigError(
                f"optimized_metric={metric!r}: no trial returned it, so the search has nothing to minimise. "
                "Fix: optimized_metric=val/eer_best (or another metric train.py logs), with train=true"
            )
            raise SystemExit(report(Path(sys.argv[0]).stem, why)) from None


__all__ = ["OptunaSweeper"]
