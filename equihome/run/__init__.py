"""Running the model: the Monte Carlo engine (chunks, events, the result), the backend
interface and its Dask backend, and sweeps of many runs."""
