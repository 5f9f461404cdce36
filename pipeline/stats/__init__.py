"""Statistics over replicates and over calls: bootstrap intervals of condition means, permutation
tests between conditions (Holm-corrected), count intervals from the calls' own scores and
audit-corrected counts. Arrays and tables in, tables out; every random draw is seeded."""

from marrowflow.stats.bootstrap import BootstrapInterval, bootstrap_mean, replicate_estimates
from marrowflow.stats.count_intervals import call_probability, count_intervals, poisson_binomial_interval
from marrowflow.stats.params import UncertaintyParams
from marrowflow.stats.permutation import condition_tests, holm, permutation_pvalue

__all__ = [
    "BootstrapInterval", "bootstrap_mean", "call_probability", "condition_tests", "count_intervals",
    "holm", "permutation_pvalue", "poisson_binomial_interval", "replicate_estimates", "UncertaintyParams",
]
