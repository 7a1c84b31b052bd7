"""Datasets: the bundled digits (offline), and Keras's MNIST, CIFAR-10, IMDB and Reuters files
read from a local path, ``$GRAPHNN_DATA`` or ``~/.keras/datasets`` (nothing is downloaded)."""
