"""TFP-based distributions (discretised logistic mixtures, ...)."""

from tfgen.distributions.logistic_mixture import DiscretizedLogisticMixture

__all__ = ["DiscretizedLogisticMixture"]
