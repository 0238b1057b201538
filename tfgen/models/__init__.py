"""One module per paper; each model is a `tf.keras.Model` subclass."""
