"""The synthetic city: a population, its enrollments and payments, department feeds, truth.

`lifesign synth` (see `lifesign.synth.cli`) writes it; `lifesign.synth.city.build_city` is the
entry point for code. Everything is a pure function of the seed: same seed, same bytes.
"""
