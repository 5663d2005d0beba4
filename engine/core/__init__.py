"""What every computation shares: declared parameters, run control and the frames a step carries, driving a
step-yielding computation to its end, writing files atomically, and the errors a user can act on. Imports nothing
else of the engine."""
from .control import Frame, RunControl
from .files import atomic_open, atomic_path, check_output_dir, check_output_file, write_atomically
from .errors import AdvLensError, ImageError, ModelError, ParameterError, UntrustedModelError
from .params import Declared, Param, ParamSet, Rule, parse_bool, parse_number, resolve
from .run import relay, run_to_end

__all__ = ["AdvLensError", "Declared", "Frame", "ImageError", "ModelError", "Param", "ParamSet", "ParameterError",
           "Rule", "RunControl", "UntrustedModelError", "resolve", "atomic_open", "atomic_path", "check_output_dir",
           "check_output_file", "write_atomically",
           "parse_bool", "parse_number", "relay", "run_to_end"]
