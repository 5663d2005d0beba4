"""What every computation shares: declared parameters, run control and the frames a step carries, driving a
step-yielding computation to its end, and the errors a user can act on. Imports nothing else of the engine."""
from .control import Frame, RunControl
from .errors import AdvLensError, ImageError, ModelError, ParameterError
from .params import Param, parse_bool, parse_number
from .run import relay, run_to_end

__all__ = ["AdvLensError", "Frame", "ImageError", "ModelError", "Param", "ParameterError", "RunControl",
           "parse_bool", "parse_number", "relay", "run_to_end"]
