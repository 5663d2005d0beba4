"""Seeing what a classifier learned without attacking it: first-layer filters, the layers and their receptive
fields, maximally activating patches, saliency / deconvnet / guided backprop, class models, unit
visualization and DeepDream. PyTorch only; the long computations yield `VisStep`s and return a result, like the
attacks."""
from .ascent import (ASCENT_KINDS, ASCENT_PARAMS, CLASS_MODEL, DEEPDREAM, UNIT, AscentResult, AscentSettings,
                     ascent_params, class_model, deepdream, default_settings, settings_domain, unit_visualization)
from .export import save_picture, tile
from .filters import FilterGrid, first_layer_filters
from .gradients import (DECONVNET, GUIDED, METHODS, SALIENCY, GradientMaps, all_gradient_maps, gradient_maps,
                        magnitude, map_picture, overlay, relus_replaced)
from .layers import LayerInfo, ReceptiveField, check_channel, layer_info, list_layers, receptive_field
from .patches import TopPatches, max_activating_patches, never_fires
from .report import VISUALIZATION_PARAMS, visualization_params
from .steps import RunControl, VisStep

__all__ = ["ASCENT_KINDS", "ASCENT_PARAMS", "CLASS_MODEL", "DECONVNET", "DEEPDREAM", "GUIDED", "METHODS", "SALIENCY",
           "UNIT", "VISUALIZATION_PARAMS", "AscentResult", "AscentSettings", "FilterGrid", "GradientMaps",
           "LayerInfo", "ReceptiveField", "RunControl", "TopPatches", "VisStep", "all_gradient_maps",
           "ascent_params", "check_channel", "class_model", "deepdream", "default_settings", "first_layer_filters",
           "gradient_maps", "layer_info", "list_layers", "magnitude", "map_picture", "max_activating_patches",
           "never_fires", "overlay", "receptive_field", "relus_replaced", "save_picture", "settings_domain", "tile",
           "unit_visualization", "visualization_params"]
