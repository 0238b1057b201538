"""tfgen.layers."""
