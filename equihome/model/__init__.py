"""The model: one module per engine stage, the kernels' Python side (kernel choice, the numpy
reference twins of ``equihome._core``) and the names they share (``layout``)."""
