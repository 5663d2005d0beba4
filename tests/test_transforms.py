"""The shared differentiable transforms: the blur matches torchvision's where both apply, and every transform
lets gradients through."""
import torch
import torchvision.transforms.v2.functional as TF

from engine.transforms import REFLECT, ZEROS, gaussian_blur, jitter, random_blur, random_flip_and_crop


def test_reflect_blur_equals_torchvisions_gaussian_blur():
    x = torch.rand(3, 2, 17, 13, generator=torch.Generator().manual_seed(0))
    for sigma, radius in ((0.5, 2), (1.0, 3), (2.0, 6)):
        ours = gaussian_blur(x, sigma, radius=radius, padding=REFLECT)
        theirs = TF.gaussian_blur(x, kernel_size=[2 * radius + 1] * 2, sigma=[sigma, sigma])
        assert torch.allclose(ours, theirs, atol=1e-6)


def test_zero_padded_blur_keeps_mass_away_from_the_border_and_allows_kernels_wider_than_the_image():
    field = torch.zeros(1, 2, 9, 9)
    field[0, :, 4, 4] = 1.0
    assert abs(float(gaussian_blur(field, 0.5, padding=ZEROS).sum()) - 2.0) < 1e-5
    wide = gaussian_blur(field, 20.0, padding=ZEROS)  # radius 80 on a 9 x 9 field
    assert wide.shape == field.shape and torch.isfinite(wide).all()
    assert torch.equal(gaussian_blur(field, 0.0), field)


def test_every_transform_is_differentiable_and_keeps_the_shape():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    generator = torch.Generator().manual_seed(1)
    outputs = [gaussian_blur(x, 1.0), jitter(x, 2, generator), random_blur(x, 3.0, generator),
               random_flip_and_crop(x, generator, flip=True, min_crop=0.8)]
    for out in outputs:
        assert out.shape == x.shape
        (grad,) = torch.autograd.grad(out.sum(), x)
        assert grad.abs().sum() > 0


def test_jitter_is_a_wrap_around_shift():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    shifted = jitter(x, 1, torch.Generator().manual_seed(3))
    assert sorted(shifted.flatten().tolist()) == sorted(x.flatten().tolist())
