import pytest
import torch

from rnnzoo.task import Task


def test_trial_layout_follows_the_paper():
    task = Task(delay_ms=50)
    assert task.n_steps == 16 + 50 // 5
    assert task.n_trials == 128
    u, y = task.inputs(), task.targets()
    assert u.shape == y.shape == (128, 26, 2)
    # cue: 6 steps on the cued channel, nothing else
    assert torch.equal(u[:64, :6, 0], torch.ones(64, 6)) and u[:64, :, 1].sum() == 0
    assert torch.equal(u[64:, :6, 1], torch.ones(64, 6)) and u[:, 6:].sum() == 0
    # reaction: the last 10 steps carry the one-hot of the cue
    assert task.reaction_window == slice(16, 26)
    assert torch.equal(y[:64, 16:, 0], torch.ones(64, 10)) and y[:, :16].sum() == 0 and y[:64, :, 1].sum() == 0


def test_paper_window_reproduces_the_reference_float_truncation():
    """The reference scores [int((0.03 + T) / 0.005) - 1, int((0.03 + T + 0.05) / 0.005) - 1) with T = l * 0.020 s:
    one step earlier than the reaction window, and where float truncation bites (300, 320 ms) shorter or earlier."""
    from rnnzoo.labels import paper_window

    assert paper_window(Task(delay_ms=50)) == slice(15, 25)
    for delay in range(0, 401, 20):
        start = 6 + delay // 5 - 1
        expected = {300: slice(64, 74), 320: slice(69, 78)}.get(delay, slice(start, start + 10))
        assert paper_window(Task(delay_ms=delay)) == expected, delay
    # the long-tau family's delays are l * 0.040 s: 320 ms scores 9 steps, 440 ms scores 11
    assert paper_window(Task(delay_ms=320), delay_grid_ms=40) == slice(69, 78)
    assert paper_window(Task(delay_ms=440), delay_grid_ms=40) == slice(92, 103)


def test_loss_weights_weighted_and_plain():
    task = Task(delay_ms=100)
    L = task.n_steps
    w = task.loss_weights()
    assert torch.allclose(w[-10:], torch.full((10,), 1 - 10 / L))
    assert torch.allclose(w[:-10], torch.full((L - 10,), 10 / L))
    post = Task(delay_ms=100, post_ms=30)
    assert post.n_steps == L + 6 and torch.allclose(post.loss_weights()[-16:], torch.full((16,), 1 - 16 / (L + 6)))
    assert torch.equal(Task(delay_ms=100, weighted=False).loss_weights(), torch.ones(L))


def test_delay_off_the_dt_grid_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"delay_ms = 42 ms is not a non-negative multiple of dt = 5.0 ms.*40"):
        Task(delay_ms=42)
    with pytest.raises(ValueError, match="non-negative"):
        Task(delay_ms=-5)


CONTROL = dict(delay_ms=0, weighted=False, target_held=True, readout="linear")


def test_control_trial_follows_the_reference():
    """The reference's no-memory control (train_parallel_fixed.py, src/data.py): the cue on its channel for the
    first 6 steps only, no delay, a response window of R ms, and the target = the cue's one-hot on every step of the
    trial (its max over time of the reaction target), loss weights all 1."""
    task = Task(reaction_ms=60, **CONTROL)
    assert task.n_steps == 6 + 12 and task.n_trials == 128
    u, y = task.inputs(), task.targets()
    assert torch.equal(u[:64, :6, 0], torch.ones(64, 6)) and torch.equal(u[64:, :6, 1], torch.ones(64, 6))
    assert u[:, 6:].sum() == 0 and u[:64, :, 1].sum() == 0 and u[64:, :, 0].sum() == 0
    assert torch.equal(y[:64, :, 0], torch.ones(64, 18)) and y[:64, :, 1].sum() == 0
    assert torch.equal(y[64:, :, 1], torch.ones(64, 18)) and y[64:, :, 0].sum() == 0
    assert torch.equal(task.loss_weights(), torch.ones(18))
    assert Task(reaction_ms=60, delay_ms=0).targets()[:, :6].sum() == 0  # the memory task's target is not held


def test_control_window_reproduces_the_reference_float_truncation():
    """The reference scores [int((0.03 + R) / 0.005 - 1), int((0.03 + R + R) / 0.005 - 1)) with R = (l + 1) * 0.020 s
    on a trial of 6 + R / 5 ms steps: the last step only, except at 300 ms where (0.03 + 0.3) / 0.005 truncates to 65
    and the last two steps are scored."""
    from rnnzoo.labels import paper_window

    for l in range(20):
        R = (l + 1) * 20
        task = Task(reaction_ms=R, **CONTROL)
        L = 6 + R // 5
        expected = slice(L - 2, L) if R == 300 else slice(L - 1, L)
        assert paper_window(task) == expected, R
    with pytest.raises(ValueError, match="no delay"):
        paper_window(Task(reaction_ms=60, **{**CONTROL, "delay_ms": 20}))


def test_control_metrics_and_outcome_are_the_reference_rule():
    """p = nan_to_num(o / sum(o)) on linear outputs (which can be negative), rounded to 4 decimals; learned when the
    final-10% means of accuracy and reliability both exceed 0.8, with no stability rule."""
    import numpy as np

    from rnnzoo.labels import control_outcome, paper_metrics

    outputs = torch.tensor([[[[2.0, -1.0]], [[0.0, 0.0]]]])  # [M=1, B=2, W=1, O=2]
    acc, rel = paper_metrics(outputs, torch.tensor([[0], [1]]))
    # trial 0: p = (2, -1) / 1 -> argmax 0 (right), p = 2; trial 1: 0 / 0 -> nan -> 0, argmax 0 (wrong), p = 0
    assert acc.item() == 0.5 and rel.item() == 1.0
    lapse = np.r_[np.full(50, 0.9), np.full(40, 0.1), np.full(10, 0.9)]  # would be 'unstable' for the memory families
    assert control_outcome(lapse, lapse) == "learned"
    assert control_outcome(np.full(100, 0.9), np.r_[np.full(90, 0.9), np.full(10, 0.8)]) == "failed"
    with pytest.raises(ValueError, match="readout must be one of"):
        Task(delay_ms=0, readout="relu")
