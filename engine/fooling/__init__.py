"""Fooling ("rubbish") images (Nguyen, Yosinski, Clune 2015): MAP-Elites evolution with pluggable genome
encodings (direct pixels here, a CPPN in `cppn.py`) and gradient ascent of a class's softmax probability."""
from .archive import Archive
from .ascent import FOOLING_ASCENT, AscentResult, fooling_ascent
from .direct import DirectEncoding, polynomial_mutation, sbx_crossover
from .evolution import FOOLING, Encoding, FoolingStep, evolve

__all__ = ["FOOLING", "FOOLING_ASCENT", "Archive", "AscentResult", "DirectEncoding", "Encoding",
           "FoolingStep", "evolve", "fooling_ascent", "polynomial_mutation", "sbx_crossover"]
