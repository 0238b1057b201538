"""Embedded datasets and synthetic tasks as `tf.data.Dataset`s (DESIGN 7).

Nothing is downloaded: the data ships with the package or its dependencies,
or is generated from a seed.
"""
