"""One perturbation for many images: universal adversarial perturbations (`uap`), targeted universal images,
their differentiable augmentations, the cross-model table and the resumable one-image-per-class gallery.
Importing this package registers the universal attacks beside the per-image ones."""
from . import targeted, uap  # noqa: F401  (each registers its attack)
