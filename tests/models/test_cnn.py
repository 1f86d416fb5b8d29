import pytest
import torch

from logitrepro.models.cnn import AgarapCNN, CNNConfig, max_pool2


def _pooled_with_grads(pool, x, upstream):
    x = x.clone().requires_grad_(True)
    y = pool(x)
    y.backward(upstream)
    return y.detach(), x.grad


@pytest.mark.parametrize("shape", [(3, 4, 28, 28), (2, 5, 14, 14), (1, 1, 2, 2)])
def test_max_pool2_is_torch_max_pool_to_the_bit_ties_included(shape):
    g = torch.Generator().manual_seed(0)
    x = torch.relu(torch.randn(shape, generator=g))  # ReLU's zeros: whole windows tied at 0
    x[..., 0, 0] = x[..., 0, 1] = x[..., 1, 0] = 2.5  # positive ties: the first maximum takes the gradient
    upstream = torch.randn(shape[0], shape[1], shape[2] // 2, shape[3] // 2, generator=g)
    y, grad = _pooled_with_grads(max_pool2, x, upstream)
    y_ref, grad_ref = _pooled_with_grads(lambda z: torch.max_pool2d(z, 2), x, upstream)
    assert y.is_contiguous() and grad.is_contiguous()
    assert torch.equal(y, y_ref) and torch.equal(grad, grad_ref)
    assert grad[..., 0, 0].eq(upstream[..., 0, 0]).all() and grad[..., 0, 1].eq(0).all()


def test_cnn_step_gives_the_reference_pools_gradients():
    torch.manual_seed(0)
    model = AgarapCNN(CNNConfig(conv1_channels=4, conv2_channels=8, hidden=16, dropout=0.0))
    x, y = torch.rand(6, 1, 28, 28), torch.randint(0, 10, (6,))

    def grads():
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        return [p.grad.clone() for p in model.parameters()]

    fast = grads()
    import logitrepro.models.cnn as cnn

    original, cnn.max_pool2 = cnn.max_pool2, lambda z: torch.max_pool2d(z, 2)
    try:
        reference = grads()
    finally:
        cnn.max_pool2 = original
    assert all(torch.equal(a, b) for a, b in zip(fast, reference))
