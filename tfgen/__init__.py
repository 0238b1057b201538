"""tfgen: Keras layers and models of twenty DeepMind papers.

Models are trained with Keras ``fit``, exported as SavedModels and served over
the TensorFlow Serving API. ``tfgen.registry`` lists them by name.
"""

__version__ = "0.1.0"
