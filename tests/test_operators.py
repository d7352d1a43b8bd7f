"""Every registered operator against its own identities (Moore–Penrose, SVD, adjoint), in float64.

One registry (``OPERATORS``) feeds every parametrised test, so a new operator is tested once registered.
"""

from __future__ import annotations

import doctest
import importlib
from functools import partial

import numpy
import pytest
import torch
import torch.nn.functional as F

from ddnm.operators import OPERATORS, Compose, make, registry
from ddnm.operators.base import SVDOperator
from ddnm.operators.colorize import Colorize
from ddnm.operators.downsample import Bicubic
from ddnm.operators.inpaint import Inpaint

SHAPE = (3, 12, 18)  # odd channel count, non-square, divisible by 3 (and 2, 6)
TINY = (3, 6, 6)  # dense matrices of at most 108 columns
NAMES = sorted(OPERATORS)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def params_for(name: str, shape, gen: torch.Generator) -> dict:
    _, h, w = shape
    mask = (torch.rand(1, h, w, generator=gen) > 0.4).double()
    return {
        "sr_avgpool": {"scale": 3},
        "sr_bicubic": {"scale": 3},
        "inpaint": {"mask": mask},
        "deblur_gaussian": {"sigma": 0.8, "size": 5},
        "deblur_kernel": {"kernel": torch.rand(3, 3, generator=gen)},
        "deblur_motion": {"length": 3, "angle": 30.0},
        "cs": {"ratio": 0.4, "block": 3, "seed": 1},
        "old_photo": {"mask": mask},
    }.get(name, {})


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def build(name, shape, gen):
    return make(name, shape, **params_for(name, shape, gen))


def dense(fn, in_shape) -> torch.Tensor:
    """The matrix of a linear map: column i is fn(e_i) (the basis vectors go through as one batch)."""
    n_in = int(torch.tensor(in_shape).prod())
    columns = fn(torch.eye(n_in, dtype=torch.float64).view(n_in, *in_shape))
    return columns.reshape(n_in, -1).T


def check_moore_penrose(A: torch.Tensor, P: torch.Tensor, tol: float = 1e-8) -> None:
    assert torch.allclose(A @ P @ A, A, atol=tol)
    assert torch.allclose(P @ A @ P, P, atol=tol)
    assert torch.allclose((A @ P).T, A @ P, atol=tol)
    assert torch.allclose((P @ A).T, P @ A, atol=tol)
    assert torch.allclose(P, torch.linalg.pinv(A), atol=1e-6)


def check_factored_svd(op, x: torch.Tensor, y: torch.Tensor) -> None:
    """V, U orthogonal; the first k coordinates carry Σ; factored A, A⁺ equal the operator's own."""
    z = op.V_t(x)
    assert z.shape == (x.shape[0], op.n)
    assert torch.allclose(op.V(z), x, atol=1e-10)
    assert torch.allclose(op.V_t(op.V(z)), z, atol=1e-10)
    assert torch.allclose(z.norm(dim=1), x.flatten(1).norm(dim=1))
    w = op.U_t(y)
    k = w.shape[1]
    assert op.singulars.shape[-1] == k
    assert torch.allclose(op.U(w), y, atol=1e-10)
    assert torch.allclose(op.U_t(op.U(w)), w, atol=1e-10)
    assert torch.allclose(SVDOperator.A(op, x), op.A(x), atol=1e-10)
    assert torch.allclose(SVDOperator.A_pinv(op, y), op.A_pinv(y), atol=1e-8)
    assert torch.allclose(SVDOperator.A_adjoint(op, y), op.A_adjoint(y), atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_moore_penrose_conditions_on_dense_matrices(name, gen):
    op = build(name, TINY, gen)
    check_moore_penrose(dense(op.A, TINY), dense(op.A_pinv, op.y_shape()))


@pytest.mark.parametrize("name", NAMES)
def test_pseudo_inverse_identities(name, gen):
    op = build(name, SHAPE, gen)
    x = torch.randn(2, *SHAPE, generator=gen, dtype=torch.float64)
    y = torch.randn(2, *op.y_shape(), generator=gen, dtype=torch.float64)
    Ax = op.A(x)
    assert torch.allclose(op.A(op.A_pinv(Ax)), Ax, atol=1e-9)
    assert torch.allclose(op.A_pinv(op.A(op.A_pinv(y))), op.A_pinv(y), atol=1e-9)
    if bool((op.singulars > 1e-5).all()):  # full row rank: A A⁺ = I
        assert torch.allclose(op.A(op.A_pinv(y)), y, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_factored_svd_matches_fast_paths(name, gen):
    op = build(name, SHAPE, gen)
    x = torch.randn(2, *SHAPE, generator=gen, dtype=torch.float64)
    y = torch.randn(2, *op.y_shape(), generator=gen, dtype=torch.float64)
    check_factored_svd(op, x, y)


@pytest.mark.parametrize("name", NAMES)
def test_structure_flags_are_true(name, gen):
    """Compose trusts u_is_flatten (U = I on y.flatten) and is_diagonal (U = V = I): they must not lie."""
    op = build(name, SHAPE, gen)
    x = torch.randn(2, *SHAPE, generator=gen, dtype=torch.float64)
    y = torch.randn(2, *op.y_shape(), generator=gen, dtype=torch.float64)
    if op.u_is_flatten or op.is_diagonal:
        assert torch.equal(op.U_t(y), y.flatten(1))
    if op.is_diagonal:
        assert torch.equal(op.V_t(x), x.flatten(1))
    if op.row_gram is not None:  # A Aᵀ = c I
        assert torch.allclose(op.A(op.A_adjoint(y)), op.row_gram * y, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_adjoint_matches_inner_product_and_autograd(name, gen):
    op = build(name, SHAPE, gen)
    x = torch.randn(2, *SHAPE, generator=gen, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, *op.y_shape(), generator=gen, dtype=torch.float64)
    lhs = (op.A(x) * v).sum()
    assert torch.allclose(lhs, (x * op.A_adjoint(v)).sum(), atol=1e-9)
    (grad,) = torch.autograd.grad(lhs, x)
    assert torch.allclose(grad, op.A_adjoint(v), atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", NAMES)
def test_float32_device_shape_and_dtype_kept(name, device, gen):
    op64 = build(name, SHAPE, gen)
    op = build(name, SHAPE, torch.Generator().manual_seed(0)).to(device=device, dtype=torch.float32)
    assert all(b.device.type == device for b in op.buffers())
    x = torch.randn(3, *SHAPE, generator=gen)
    y = op.A(x.to(device))
    assert y.dtype == torch.float32 and y.device.type == device and y.shape == (3, *op.y_shape())
    # the float32 operator is the same map as the float64 one (a cast must not drop e.g. K̂'s phase)
    assert torch.allclose(y.cpu().double(), op64.A(x.double()), atol=1e-5)
    back = op.A_pinv(y)
    assert back.dtype == torch.float32 and back.device.type == device and back.shape == x.shape
    assert torch.allclose(op.A(back), y, atol=1e-4)
    assert op.V_t(x.to(device)).dtype == torch.float32


@pytest.mark.parametrize("name", ["inpaint", "old_photo"])
def test_per_image_masks_keep_batch_items_independent(name, gen):
    masks = (torch.rand(2, 1, *SHAPE[1:], generator=gen) > 0.5).double()
    op = make(name, SHAPE, mask=masks)
    x = torch.randn(2, *SHAPE, generator=gen, dtype=torch.float64)
    y = op.A(x)
    assert y.shape == (2, *op.y_shape())
    for i in range(2):
        single = make(name, SHAPE, mask=masks[i])
        assert torch.equal(y[i : i + 1], single.A(x[i : i + 1]))
        assert torch.allclose(op.A_pinv(y)[i : i + 1], single.A_pinv(y[i : i + 1]))
    assert op.singulars.shape == (2, op.U_t(y).shape[1])
    check_factored_svd(op, x, y)
    with pytest.raises(ValueError, match="2 .*batch has 3 images"):
        SVDOperator.A(op, x[:1].repeat(3, 1, 1, 1))


@pytest.mark.parametrize("name", ["inpaint", "old_photo"])
def test_per_image_masks_satisfy_the_pseudo_inverse_identities(name, gen):
    """A A⁺ A = A, A⁺ A A⁺ = A⁺ and ⟨Ax, v⟩ = ⟨x, Aᵀv⟩ row by row when every image has its own mask."""
    masks = (torch.rand(3, 1, *SHAPE[1:], generator=gen) > 0.5).double()
    op = make(name, SHAPE, mask=masks)
    x = torch.randn(3, *SHAPE, generator=gen, dtype=torch.float64)
    y = torch.randn(3, *op.y_shape(), generator=gen, dtype=torch.float64)
    for A, A_pinv in ((op.A, op.A_pinv), (partial(SVDOperator.A, op), partial(SVDOperator.A_pinv, op))):
        torch.testing.assert_close(A(A_pinv(A(x))), A(x), rtol=0, atol=1e-10)
        torch.testing.assert_close(A_pinv(A(A_pinv(y))), A_pinv(y), rtol=0, atol=1e-10)
    per_row = lambda t: t.flatten(1).sum(1)  # noqa: E731
    torch.testing.assert_close(per_row(op.A(x) * y), per_row(x * op.A_adjoint(y)), rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["inpaint", "old_photo"])
def test_rows_select_repeat_and_pad_per_image_masks(name, gen):
    """``op.rows(index)`` is the operator of ``x[index]``: the one built from those images' masks, by name too."""
    masks = (torch.rand(3, 1, *SHAPE[1:], generator=gen) > 0.5).double()
    op = make(name, SHAPE, mask=masks)
    x = torch.randn(3, *SHAPE, generator=gen, dtype=torch.float64)
    for index in ([2, 0], slice(1, 3), [0, 1, 2, 0, 1, 2], [0, 1, 2, 2, 2], torch.tensor([1])):
        part = op.rows(index)
        assert torch.equal(part.A(x[index]), make(name, SHAPE, mask=masks[index]).A(x[index]))
        assert torch.equal(part.A_pinv(op.A(x)[index]), op.A_pinv(op.A(x))[index])
        assert registry.name_of(part) == name
    shared, scaled = make(name, SHAPE, mask=masks[0, 0]), make("sr_avgpool", SHAPE, scale=3)
    assert shared.rows([0, 0, 0]) is shared and scaled.rows(slice(0, 1)) is scaled  # the batch shares them
    with pytest.raises(IndexError):
        op.rows([3])


def test_per_channel_inpaint_mask(gen):
    mask = (torch.rand(3, *SHAPE[1:], generator=gen) > 0.5).double()
    x = torch.randn(1, *SHAPE, generator=gen, dtype=torch.float64)
    assert torch.equal(make("inpaint", SHAPE, mask=mask).A(x), mask * x)


@pytest.mark.parametrize(("scale", "shape"), [(2, (1, 8, 8)), (3, (2, 12, 18)), (4, (1, 16, 12)), (5, (1, 5, 10))])
def test_bicubic_equals_torch_antialiased_downscale(scale, shape, gen):
    op = Bicubic(shape, scale=scale)
    x = torch.randn(2, *shape, generator=gen, dtype=torch.float64)
    ref = F.interpolate(x, size=(shape[1] // scale, shape[2] // scale), mode="bicubic", antialias=True)
    assert torch.allclose(op.A(x), ref, atol=1e-12)


@pytest.mark.parametrize(("scale", "shape"), [(3, (1, 12, 18)), (5, (1, 10, 5))])
def test_bicubic_equals_pillow_downscale(scale, shape, gen):
    """PIL is the reference: torch's antialiased bicubic differs from it when the output width is 1."""
    image_module = pytest.importorskip("PIL.Image")
    x = torch.rand(1, *shape, generator=gen, dtype=torch.float64)
    plane = image_module.fromarray(x[0, 0].numpy().astype("float32"))  # mode "F": 32-bit float
    small = plane.resize((shape[2] // scale, shape[1] // scale), image_module.BICUBIC)
    ref = torch.tensor(numpy.asarray(small), dtype=torch.float64)
    assert torch.allclose(Bicubic(shape, scale=scale).A(x)[0, 0], ref, atol=1e-6)


def test_old_photo_svd_is_mask_over_sqrt3(gen):
    mask = (torch.rand(*SHAPE[1:], generator=gen) > 0.5).double()
    op = make("old_photo", SHAPE, mask=mask)
    assert torch.allclose(op.singulars, mask.flatten() / 3**0.5)
    y = torch.randn(1, *op.y_shape(), generator=gen, dtype=torch.float64)
    assert torch.equal(op.U_t(y), y.flatten(1))


@pytest.mark.parametrize("inner_name", ["colorize", "sr_avgpool", "cs", "denoise"])
def test_compose_with_each_row_orthogonal_inner_is_a_pseudo_inverse(inner_name, gen):
    inner = build(inner_name, TINY, gen)
    m_shape = inner.y_shape()
    op = Compose(Inpaint(m_shape, (torch.rand(m_shape, generator=gen) > 0.4).double()), inner)
    check_moore_penrose(dense(op.A, TINY), dense(op.A_pinv, op.y_shape()))
    x = torch.randn(2, *TINY, generator=gen, dtype=torch.float64)
    check_factored_svd(op, x, torch.randn(2, *m_shape, generator=gen, dtype=torch.float64))


def test_compose_refuses_what_it_cannot_prove(gen):
    blur = make("deblur_gaussian", SHAPE, sigma=1.0)
    with pytest.raises(ValueError, match="orthonormal rows"):
        Compose(make("colorize", SHAPE), blur)
    with pytest.raises(ValueError, match=r"measures \(1, 12, 18\).*shape \(3, 12, 18\)"):
        Compose(make("inpaint", SHAPE, mask=torch.ones(*SHAPE[1:])), Colorize(SHAPE))
    no_svd = Compose(make("deblur_gaussian", (1, *SHAPE[1:]), sigma=1.0), Colorize(SHAPE))
    x = torch.randn(1, *SHAPE, generator=gen, dtype=torch.float64)
    assert torch.allclose(no_svd.A(no_svd.A_pinv(no_svd.A(x))), no_svd.A(x), atol=1e-9)
    with pytest.raises(NotImplementedError, match="no factored SVD"):
        no_svd.V_t(x)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("sr", {}, "unknown operator 'sr'; valid: colorize, cs, deblur_gaussian"),
        ("sr_avgpool", {"scale": 5}, "factor 5 must divide image size 12×18; pad to 15×20"),
        ("sr_bicubic", {"scale": 2.5}, "positive integer, got 2.5"),
        ("sr_bicubic", {"scale": "2"}, "positive integer, got '2'"),
        ("sr_bicubic", {"factor": 2}, r"bad parameters \{'factor': 2\}.*takes scale"),
        ("colorize", {"scale": 2}, "bad parameters"),
        ("inpaint", {"mask": torch.ones(5, 5)}, r"mask of shape \(5, 5\) does not fit"),
        ("inpaint", {"mask": torch.full((12, 18), 0.5)}, "binary"),
        ("deblur_gaussian", {"sigma": -1}, "sigma must be .* got -1"),
        ("deblur_gaussian", {"sigma": 1.0, "size": 0}, "size must be a positive integer.*got 0"),
        ("deblur_kernel", {"kernel": torch.ones(2, 2, 2)}, r"2-D array .* got shape \(2, 2, 2\)"),
        ("deblur_kernel", {"kernel": torch.ones(13, 3)}, "larger than the image"),
        ("deblur_motion", {"length": 0}, "length must be an integer >= 1"),
        ("cs", {"ratio": 1.5}, r"ratio must be a number in \(0, 1\].*got 1.5"),
        ("cs", {"block": 5}, "block 5 must divide image size 12×18; pad to 15×20"),
        ("cs", {"block": 0}, "block must be a positive integer.*got 0"),
    ],
)
def test_bad_parameters_give_clear_errors(name, params, match):
    with pytest.raises(ValueError, match=match):
        make(name, SHAPE, **params)


def test_doctests_run():
    for module in ("ddnm.operators", "ddnm.operators.colorize", "ddnm.operators.cs", "ddnm.operators.inpaint"):
        result = doctest.testmod(importlib.import_module(module))
        assert result.attempted > 0 and result.failed == 0, module
