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
