"""The pure helpers of benchmarks/train_speed.py: /proc/stat parsing, the contamination test and
the floor's arithmetic, on synthetic inputs (no timing is asserted)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import speed_floor  # noqa: E402
import speed_quiet  # noqa: E402

PROC_STAT = """cpu  5242 7 2001 40815 272 3 32 5 11 0
cpu0 821 0 431 22868 41 0 9 0 0 0
cpu1 4421 7 1570 17947 230 3 23 5 11 0
intr 106944 0 0
ctxt 2380925
"""


def test_parse_proc_stat_reads_the_aggregate_line():
    assert speed_quiet.parse_proc_stat_cpu(PROC_STAT) == [5242, 7, 2001, 40815, 272, 3, 32, 5,
                                                          11, 0]


def test_parse_proc_stat_without_cpu_line_raises():
    with pytest.raises(ValueError, match="cpu"):
        speed_quiet.parse_proc_stat_cpu("cpu0 1 2 3 4\nintr 5\n")


def test_busy_excludes_idle_iowait_and_guest():
    # user + nice + system + irq + softirq + steal; guest is already inside user
    assert speed_quiet.busy_jiffies([5242, 7, 2001, 40815, 272, 3, 32, 5, 11, 0]) == 7290


def test_busy_accepts_old_kernels_with_fewer_fields():
    assert speed_quiet.busy_jiffies([10, 1, 5, 100]) == 16


def test_others_cores_subtracts_our_own_cpu():
    # 300 jiffies at 100 Hz = 3 s busy over 10 s, 2 s of it ours -> 0.1 of a core
    assert speed_quiet.others_cores(300, 2.0, 10.0, hz=100) == pytest.approx(0.1)


def test_others_cores_is_clipped_at_zero_and_safe_for_zero_wall():
    assert speed_quiet.others_cores(100, 1.5, 10.0, hz=100) == 0.0
    assert speed_quiet.others_cores(100, 0.0, 0.0) == 0.0


@pytest.mark.parametrize("cores, quiet, contaminated", [
    (0.0, True, False), (0.09, True, False), (0.12, False, False), (0.2, False, True)])
def test_quiet_and_contaminated_thresholds(cores, quiet, contaminated):
    assert speed_quiet.is_quiet(cores) is quiet
    assert speed_quiet.is_contaminated(cores) is contaminated
    assert speed_quiet.is_contaminated(cores, threshold=1.0) is False


def test_step_products_are_the_eleven_of_a_step():
    shapes = speed_floor.step_products(32)
    assert len(shapes) == 11
    assert shapes[0] == ((32, 784), (784, 512))  # forward, layer 1
    assert shapes[4] == ((784, 32), (32, 512))  # dW1 = X.T @ dZ1
    assert shapes[-1] == ((32, 10), (10, 128))  # dX of layer 4 = dZ4 @ W4.T
    assert all(a[1] == b[0] for a, b in shapes)


def test_step_flop_matches_the_hand_count():
    # forward and dW: 2B x 566,528 each; dX of layers 2-4: 2B x 165,120
    assert speed_floor.step_flop(32) == 83_083_264
    assert speed_floor.step_flop(256) == 8 * 83_083_264


def test_floor_takes_the_faster_products_plus_adam_at_bandwidth():
    gbs = speed_floor.ADAM_BYTES / 1e-4 / 1e9  # Adam takes exactly 0.1 ms
    assert speed_floor.floor_epoch_s(5e-4, 4e-4, gbs, 1000) == pytest.approx(0.5)
