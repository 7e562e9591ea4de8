"""The batched trainer: batch independence, and agreement with a plain per-network torch.nn + SGD loop."""

import math

import numpy as np
import pytest
import torch

from generation.train import init_network, train_population
from rnnzoo.dynamics import NOISE_STD, RATE_STD, STREAM_INIT, STREAM_TRAIN, stream_generator
from rnnzoo.task import Task

STEPS = 200


class PlainRNN(torch.nn.Module):
    """An independent per-network implementation of the paper's model, written with nn.Linear."""

    def __init__(self, n_units=100, alpha=0.5):
        super().__init__()
        self.alpha = alpha
        self.W_in, self.W_rec, self.W_out = torch.nn.Linear(2, n_units), torch.nn.Linear(n_units, n_units), torch.nn.Linear(n_units, 2)

    def forward(self, u, r, noise):
        outs = []
        for t in range(u.shape[1]):
            outs.append(torch.sigmoid(self.W_out(r)))
            pre = self.W_rec(r) + self.W_in(u[:, t]) + noise[:, t]
            r = (1 - self.alpha) * r + self.alpha * torch.tanh(pre)
        return torch.stack(outs, 1)


def plain_train(seed, lr, task, steps, dtype):
    g = stream_generator(seed, STREAM_INIT)
    model = PlainRNN()
    with torch.no_grad():
        for layer in (model.W_in, model.W_rec, model.W_out):  # Xavier weights, nn.Linear default biases, in order
            torch.nn.init.xavier_uniform_(layer.weight, generator=g)
            bound = 1 / math.sqrt(layer.in_features)
            layer.bias.uniform_(-bound, bound, generator=g)
        model.W_rec.weight.fill_diagonal_(0)
    model = model.to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-7)
    gen = stream_generator(seed, STREAM_TRAIN)
    u, y, w = task.inputs(dtype=dtype), task.targets(dtype=dtype), task.loss_weights(dtype=dtype)
    B, T, N = task.n_trials, task.n_steps, 100
    for _ in range(steps):
        draws = torch.randn(B * N + B * T * N, generator=gen, dtype=dtype)
        r0 = torch.tanh(RATE_STD * draws[: B * N].reshape(B, N))
        noise = NOISE_STD * draws[B * N :].reshape(T, B, N).transpose(0, 1)  # the trainer's time-major stream
        opt.zero_grad()
        loss = (w.view(1, -1, 1) * (model(u, r0, noise) - y) ** 2).mean()
        loss.backward()
        opt.step()
    return model


def test_init_matches_the_protocol():
    w = init_network(3)
    assert torch.equal(torch.diagonal(w.W_rec[0]), torch.zeros(100))
    bound = math.sqrt(6 / 200)
    assert w.W_rec.abs().max() <= bound and w.W_rec.abs().max() > 0.9 * bound
    assert torch.equal(w.W_rec, init_network(3).W_rec) and not torch.equal(w.W_rec, init_network(4).W_rec)


def test_result_depends_only_on_own_seed_and_lr():
    task = Task(delay_ms=20)
    together = train_population([0, 1, 2], [0.1, 0.05, 0.2], [STEPS] * 3, task, 0.5)
    alone = train_population([1], [0.05], [STEPS], task, 0.5)
    pair = train_population([2, 0], [0.2, 0.1], [STEPS] * 2, task, 0.5)
    for name, tensor in alone.weights.tensors().items():
        assert torch.allclose(tensor[0], together.weights.tensors()[name][1], atol=1e-4), name
    assert torch.allclose(pair.weights.W_rec[1], together.weights.W_rec[0], atol=1e-4)
    assert torch.allclose(pair.weights.W_rec[0], together.weights.W_rec[2], atol=1e-4)
    # different learning rates really do give different networks
    assert (together.weights.W_rec[0] - together.weights.W_rec[1]).abs().max() > 1e-3


def test_batched_trainer_matches_plain_torch_nn_sgd():
    task = Task(delay_ms=20)
    seeds, lrs = [5, 6], [0.1, 0.03]
    batched = train_population(seeds, lrs, [STEPS] * 2, task, 0.5, dtype=torch.float64)
    for m, (seed, lr) in enumerate(zip(seeds, lrs)):
        plain = plain_train(seed, lr, task, STEPS, torch.float64)
        pairs = {"W_rec": plain.W_rec.weight, "b_rec": plain.W_rec.bias, "W_in": plain.W_in.weight,
                 "b_in": plain.W_in.bias, "W_out": plain.W_out.weight, "b_out": plain.W_out.bias}
        for name, ref in pairs.items():
            got = batched.weights.tensors()[name][m].double()
            assert torch.allclose(got, ref.detach(), atol=1e-4), (name, (got - ref).abs().max())
        # the weights moved far more than the tolerance: the comparison is not vacuous
        assert (batched.weights.W_rec[m] - init_network(seed).W_rec[0]).abs().max() > 1e-2


def test_curves_are_recorded_per_step_and_learning_happens():
    task = Task(delay_ms=20)
    result = train_population([0, 1], [0.3, 0.1], [300, 150], task, 0.5)
    assert [len(c) for c in result.curves["loss"]] == [300, 150]
    for name in ("loss", "accuracy", "reliability", "grad_norm"):
        assert all(np.isfinite(c).all() for c in result.curves[name])
    loss = result.curves["loss"][0]
    assert loss[-20:].mean() < 0.5 * loss[:20].mean()
    assert result.curves["accuracy"][0][-20:].mean() > 0.9


CONTROL_TASK = dict(delay_ms=0, reaction_ms=60, weighted=False, target_held=True, readout="linear")


@pytest.mark.parametrize("fields", [{}, {"readout": "linear"}, CONTROL_TASK], ids=["sigmoid", "linear", "control"])
def test_fused_bptt_is_the_gradient_of_the_one_dynamics_definition(fields):
    """The trainer's hand-written forward and backward equal rnnzoo.dynamics.simulate and autograd through it,
    for both readouts and the no-memory control's task (target over the whole trial, unit weights)."""
    from generation.train import _Workspace, init_population, loss_and_grads
    from rnnzoo.dynamics import Weights, simulate, weighted_mse

    f64 = torch.float64
    task = Task(**{"delay_ms": 20, "trials_per_class": 4, **fields})
    M, B, T, N = 2, task.n_trials, task.n_steps, 100
    init = init_population([0, 1]).to(dtype=f64)
    init.W_rec.mul_(3.0)  # a strongly recurrent regime, where gradient errors would compound through time
    ws = _Workspace(M, task, N, "cpu", f64)
    ws.draws.copy_(torch.randn(ws.draws.shape, generator=torch.Generator().manual_seed(0), dtype=f64))
    r0 = torch.tanh(RATE_STD * ws.draws[:, : B * N].reshape(M, B, N)).clone()
    noise = (NOISE_STD * ws.draws[:, B * N :].reshape(M, T, B, N).permute(0, 2, 1, 3)).clone()

    leaves = {k: v.clone().requires_grad_(True) for k, v in init.tensors().items()}
    outputs, _ = simulate(Weights(**leaves), task.inputs(dtype=f64), 0.5, r0=r0, noise=noise, readout=task.readout)
    losses = weighted_mse(outputs, task.targets(dtype=f64), task.loss_weights(dtype=f64))
    losses.sum().backward()

    grads = {k: torch.zeros_like(v) for k, v in init.tensors().items()}
    targets = task.targets(dtype=f64).permute(2, 1, 0).contiguous()
    fused_losses, fused_outputs = loss_and_grads(init.tensors(), grads, targets, task.loss_weights(dtype=f64), 0.5,
                                                 NOISE_STD, RATE_STD, ws, task.readout)
    if task.readout == "linear":  # unbounded outputs: a sigmoid would keep them in (0, 1)
        assert (outputs < 0).any()
    assert torch.allclose(fused_outputs.permute(0, 3, 2, 1), outputs.detach(), atol=1e-12)
    assert torch.allclose(fused_losses, losses.detach(), rtol=1e-10)
    for name, leaf in leaves.items():
        assert torch.allclose(grads[name], leaf.grad, rtol=1e-8, atol=1e-14), name
        assert leaf.grad.abs().max() > 0, name


def test_early_stop_leaves_the_batch_and_changes_no_other_network():
    """A network whose loss exceeds stop_loss stops after that step (its curves end there, its weights are those
    after it, early_stopped marks it); the networks still training get the same numbers as without the stop."""
    task = Task(delay_ms=0, reaction_ms=20, trials_per_class=8, weighted=False, target_held=True, readout="linear")
    # Four networks, so the batch is also cut over two threads; the stopped ones sit among the ones that go on.
    seeds, lrs, steps = [0, 1, 2, 3], [1.0, 0.05, 1.0, 0.05], [12, 12, 10, 11]
    free = train_population(seeds, lrs, steps, task, 0.5)
    peaks = [float(np.max(c)) for c in free.curves["loss"]]
    high, low = min(peaks[0], peaks[2]), max(peaks[1], peaks[3])
    assert high > 10 * low, "the test needs lr = 1 to blow up while lr = 0.05 does not"
    threshold = float(np.sqrt(high * low))
    stopped = train_population(seeds, lrs, steps, task, 0.5, stop_loss=threshold)
    for m in range(4):
        loss = free.curves["loss"][m]
        crossed = np.flatnonzero(loss > threshold)
        done = int(crossed[0]) + 1 if crossed.size else steps[m]
        assert stopped.early_stopped[m] == bool(crossed.size)
        for name in ("loss", "accuracy", "reliability"):
            assert np.array_equal(stopped.curves[name][m], free.curves[name][m][:done]), (m, name)
        alone = train_population([seeds[m]], [lrs[m]], [done], task, 0.5)
        for name, tensor in alone.weights.tensors().items():
            assert torch.equal(stopped.weights.tensors()[name][m], tensor[0]), (m, name)
    assert stopped.early_stopped == [True, False, True, False]


def test_checkpoint_schedules_and_snapshots_that_do_not_change_training():
    from generation.train import checkpoint_steps

    assert checkpoint_steps(40, 2) == [0, 1, 2, 4, 8, 16, 32, 40]
    assert checkpoint_steps(1000, 32, first=32) == [0, 32, 1000]  # the embedded sample's schedule
    assert checkpoint_steps(1118, 32, first=32) == [0, 32, 1024, 1118]
    with pytest.raises(ValueError, match="step 1 or later"):
        checkpoint_steps(10, 2, first=0)
    task = Task(delay_ms=20)
    doubling = train_population([3], [0.1], [40], task, 0.5, checkpoint_factor=2)
    sparse = train_population([3], [0.1], [40], task, 0.5, checkpoint_factor=4, checkpoint_first=8)
    (steps_d, weights_d), = doubling.checkpoints
    (steps_s, weights_s), = sparse.checkpoints
    assert steps_s == [0, 8, 32, 40]
    for k, step in enumerate(steps_s):  # the same snapshot at every step both keep
        j = steps_d.index(step)
        assert torch.equal(weights_s.W_rec[k], weights_d.W_rec[j]) and torch.equal(weights_s.b_out[k], weights_d.b_out[j])
    assert torch.equal(sparse.weights.W_rec, doubling.weights.W_rec)  # keeping checkpoints does not change training
    assert torch.equal(weights_s.W_rec[-1], sparse.weights.W_rec[0])  # the last checkpoint is the final weights
