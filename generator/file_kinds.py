"""File suffixes that more than one part of the generator tells apart, kept free of imports: the store reads them
to record a Keras model's package versions without importing the model code."""
KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")
