"""The supernode's pure core: it decides, supernode/service.py does the I/O.

Modules here import only the standard library and `common` (a unit test checks it). Time and
randomness come in as an injected clock and rng. Every command returns an `effects.Outcome`: the
protocol answer plus the effects (start a CDN build, wake long-polls, delete files, count a metric)
the shell must carry out.
"""
