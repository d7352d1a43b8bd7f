"""Every registered operator against its own identities (Moore–Penrose, SVD, adjoint), in float64."""

from __future__ import annotations

import pytest
import torch

from ddnm.operators import OPERATORS, Compose, make
from ddnm.operators.base import SVDOperator
from ddnm.operators.colorize import Colorize
from ddnm.operators.downsample import Bicubic

SHAPE = (3, 12, 18)
TINY = (3, 6, 6)


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


def dense(fn, in_shape, n_in):
    """The matrix of a linear map, built column by column."""
    eye = torch.eye(n_in, dtype=torch.float64)
    return torch.stack([fn(eye[i].view(1, *in_shape)).flatten() for i in range(n_in)], dim=1)


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_moore_penrose_conditions_on_dense_matrices(name, gen):
    op = build(name, TINY, gen)
    n = op.n
    y_shape = op.y_shape()
    m = int(torch.tensor(y_shape).prod())
    A = dense(op.A, TINY, n)
    P = dense(op.A_pinv, y_shape, m)
    tol = 1e-8
    assert torch.allclose(A @ P @ A, A, atol=tol)
    assert torch.allclose(P @ A @ P, P, atol=tol)
    assert torch.allclose((A @ P).T, A @ P, atol=tol)
    assert torch.allclose((P @ A).T, P @ A, atol=tol)
    assert torch.allclose(P, torch.linalg.pinv(A), atol=1e-6)


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_pseudo_inverse_identities(name, gen):
    op = build(name, SHAPE, gen)
    x = torch.randn(2, *SHAPE, generator=gen, dtype=torch.float64)
    y = torch.randn(2, *op.y_shape(), generator=gen, dtype=torch.float64)
    Ax = op.A(x)
    assert torch.allclose(op.A(op.A_pinv(Ax)), Ax, atol=1e-9)
    assert torch.allclose(op.A_pinv(op.A(op.A_pinv(y))), op.A_pinv(y), atol=1e-9)
    if isinstance(op, SVDOperator) and bool((op.singulars > 1e-5).all()):  # full row rank
        assert torch.allclose(op.A(op.A_pinv(y)), y, atol=1e-9)


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_factored_svd_matches_fast_paths(name, gen):
    op = build(name, SHAPE, gen)
    x = torch.randn(2, *SHAPE, generator=gen, dtype=torch.float64)
    y = torch.randn(2, *op.y_shape(), generator=gen, dtype=torch.float64)
    z = op.V_t(x)
    assert z.shape == (2, op.n)
    assert torch.allclose(op.V(z), x, atol=1e-10)
    assert torch.allclose(op.V_t(op.V(z)), z, atol=1e-10)
    assert torch.allclose(op.U(op.U_t(y)), y, atol=1e-10)
    k = op.U_t(y).shape[1]
    assert torch.allclose(op.U_t(op.U(op.U_t(y))), op.U_t(y), atol=1e-10)
    assert torch.allclose(SVDOperator.A(op, x), op.A(x), atol=1e-10)
    assert torch.allclose(SVDOperator.A_pinv(op, y), op.A_pinv(y), atol=1e-8)
    assert op.singulars.shape[-1] == k
    # V and U are orthogonal: norms are kept
    assert torch.allclose(z.norm(dim=1), x.flatten(1).norm(dim=1))


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_adjoint_matches_inner_product_and_autograd(name, gen):
    op = build(name, SHAPE, gen)
    x = torch.randn(2, *SHAPE, generator=gen, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, *op.y_shape(), generator=gen, dtype=torch.float64)
    lhs = (op.A(x) * v).sum()
    assert torch.allclose(lhs, (x * op.A_adjoint(v)).sum(), atol=1e-9)
    (grad,) = torch.autograd.grad(lhs, x)
    assert torch.allclose(grad, op.A_adjoint(v), atol=1e-9)


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_float32_shape_and_dtype_kept(name, gen):
    op = build(name, SHAPE, gen)
    x = torch.randn(3, *SHAPE, generator=gen)
    y = op.A(x)
    assert y.dtype == torch.float32 and y.shape[0] == 3
    back = op.A_pinv(y)
    assert back.dtype == torch.float32 and back.shape == x.shape
    assert torch.allclose(op.A(back), y, atol=1e-4)


def test_per_image_masks_keep_batch_items_independent(gen):
    masks = (torch.rand(2, 1, *SHAPE[1:], generator=gen) > 0.5).double()
    op = make("inpaint", SHAPE, mask=masks)
    x = torch.randn(2, *SHAPE, generator=gen, dtype=torch.float64)
    y = op.A(x)
    for i in range(2):
        single = make("inpaint", SHAPE, mask=masks[i])
        assert torch.equal(y[i : i + 1], single.A(x[i : i + 1]))
    assert op.singulars.shape == (2, op.n)
    with pytest.raises(ValueError, match="holds 2 masks"):
        op.A(x[:1].repeat(3, 1, 1, 1))


def test_bicubic_matches_pillow_style_weights():
    op = Bicubic((1, 8, 8), scale=2)
    rows = op.A_h.sum(dim=1)
    assert torch.allclose(rows, torch.ones_like(rows))
    const = torch.full((1, 1, 8, 8), 0.3, dtype=torch.float64)
    assert torch.allclose(op.A(const), torch.full((1, 1, 4, 4), 0.3, dtype=torch.float64))


def test_bad_parameters_give_clear_errors(gen):
    with pytest.raises(ValueError, match="unknown operator 'sr'.*valid"):
        make("sr", SHAPE)
    with pytest.raises(ValueError, match="factor 5 must divide image size 12×18; pad to 15×20"):
        make("sr_avgpool", SHAPE, scale=5)
    with pytest.raises(ValueError, match="mask"):
        make("inpaint", SHAPE, mask=torch.ones(5, 5))
    with pytest.raises(ValueError, match="binary"):
        make("inpaint", SHAPE, mask=torch.full((12, 18), 0.5))
    with pytest.raises(ValueError, match="bad parameters"):
        make("colorize", SHAPE, scale=2)
    with pytest.raises(ValueError, match="sigma"):
        make("deblur_gaussian", SHAPE, sigma=-1)


def test_compose_refuses_unprovable_pseudo_inverse(gen):
    blur = make("deblur_gaussian", SHAPE, sigma=1.0)
    with pytest.raises(ValueError, match="orthonormal rows"):
        Compose(make("colorize", SHAPE), blur)
    ok = Compose(make("inpaint", (1, *SHAPE[1:]), mask=torch.ones(*SHAPE[1:])), Colorize(SHAPE))
    x = torch.randn(1, *SHAPE, generator=gen, dtype=torch.float64)
    assert torch.allclose(ok.A(x), x.mean(1, keepdim=True))


def test_operators_move_with_to():
    op = make("sr_bicubic", SHAPE, scale=3).to(torch.float32)
    assert op.A(torch.zeros(1, *SHAPE)).dtype == torch.float32
