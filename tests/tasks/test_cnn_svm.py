import torch

from logitrepro.models.cnn import AgarapCNN, CNNConfig
from logitrepro.tasks.cnn_svm import accuracy_scores, l2_svm_loss


def test_exact_network_shape_and_parameter_count():
    model = AgarapCNN(CNNConfig())
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    # conv1 5*5*1*32+32, conv2 5*5*32*64+64, dense 3136*1024+1024, out 1024*10+10
    expected = 832 + 51264 + 3212288 + 10250
    assert sum(p.numel() for p in model.parameters()) == expected


def test_init_follows_truncated_normal_and_constant_bias():
    model = AgarapCNN(CNNConfig())
    w = model.fc.weight
    assert w.abs().max() <= 0.2 + 1e-6 and abs(w.std().item() - 0.088) < 0.01  # sd of N(0,.1) cut at 2 sd
    assert torch.all(model.fc.bias == 0.1)


def test_l2_svm_loss_by_hand():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, -2.0, 0.3]])
    target = torch.tensor([0, 2])
    w = torch.tensor([[1.0, -1.0], [2.0, 0.0]])
    # y = [[1,-1,-1],[-1,-1,1]]; hinge = max(0, 1 - y*o) = [[0,1.5,0],[1,0,0.7]]
    expected = (1 + 1 + 4 + 0) / 4 + 0.5 * (1.5**2 + 1 + 0.7**2) / 6
    assert torch.isclose(l2_svm_loss(logits, target, w, c=0.5), torch.tensor(expected))


def test_sign_argmax_breaks_ties_towards_first_class():
    # Two positive outputs: argmax(o) picks class 2, argmax(sign(o)) the first +1 (class 0).
    logits = torch.tensor([[0.3, -1.0, 0.9], [-0.5, 2.0, -0.1]])
    target = torch.tensor([2, 1])
    acc = accuracy_scores(logits, target)
    assert acc["acc"] == 100.0 and acc["acc_sign"] == 50.0
