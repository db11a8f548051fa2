"""The engine layer: runs the model and keeps what it produced.

    runs.py       run a scenario for several seeds; write a run folder
    ensemble.py   seed ensembles as dense arrays, and their summaries
    worker.py     what a worker computes (a chunk of runs -> Parquet bytes)
    executors.py  serial, local processes, Dask
    store.py      a grid's results folder (atomic shards, experiments table, manifest)
    fileio.py     atomic writes
"""
