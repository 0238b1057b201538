"""`python -m export`: checkpoint -> SavedModel with signatures.

>>> import export
>>> model = export.load_trained("/tmp/run")           # a training model_dir
>>> export.export_model(model, "/tmp/models/pixelcnn")  # -> /tmp/models/pixelcnn/1
"""

from export.saved_model import export_model, load_trained, next_version

__all__ = ["export_model", "load_trained", "next_version"]
