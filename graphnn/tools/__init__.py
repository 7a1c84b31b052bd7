"""The Python API behind the ``graphnn`` command: built-in example models, kernel benchmarks
(``bench``), compiler inspection (``inspect``); ahead-of-time compilation is ``graphnn.aot``."""
