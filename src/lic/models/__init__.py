"""One module per paper's model; importing this package registers their codecs."""
