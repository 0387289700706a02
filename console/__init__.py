"""The operator console: a web view of the running shop (sagas, orders, traces, dead letters,
lag), server-rendered, calling the same operations as `shopctl`. `python -m console serve`."""
