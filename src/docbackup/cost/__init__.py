"""What the stack costs a month for a workload: a pure model over a dated price table.

`model` (the estimate), `prices` (the dated table), `stack` (what the template deploys),
`workload` (what an office stores) and `measured` (what the benchmarks measured). Nothing is
imported here: the config file reads sizes with `workload.parse_size` on every command, and
must not load the model with it.
"""
