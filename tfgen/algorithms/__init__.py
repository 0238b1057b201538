"""tfgen.algorithms."""
