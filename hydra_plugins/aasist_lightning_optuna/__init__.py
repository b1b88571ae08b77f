"""The Optuna sweeper of ``hparams_search=optuna_eer``: the Hydra plugin's, except that a search whose every
trial failed ends as any multirun with failed jobs does (each job's error, the sweep's report, exit status 2
for bad input), not with Optuna's "No trials are completed yet" traceback. Hydra takes sweepers only from the
``hydra_plugins`` namespace package, hence this one's place."""

from __future__ import annotations

import logging

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper as PluginSweeper

log = logging.getLogger(__name__)


class OptunaSweeper(PluginSweeper):
    def sweep(self, arguments: list[str]) -> None:
        try:
            super().sweep(arguments)
        except ValueError as error:
            if "No trials are completed" not in str(error):
                raise
            log.error("no trial of the search completed: no best parameters (optimization_results.yaml)")


__all__ = ["OptunaSweeper"]
