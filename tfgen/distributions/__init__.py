"""tfgen.distributions."""
