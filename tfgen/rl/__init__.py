"""tfgen.rl."""
