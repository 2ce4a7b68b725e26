"""The collector policy of serving and importing processes (no database)."""

import gc

from service import gc_policy


def test_collects_less_often_and_freezes_start_up_objects_until_the_block_ends() -> None:
    before = gc.get_threshold()
    with gc_policy.long_lived_process():
        assert gc.get_threshold() == gc_policy.THRESHOLDS
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
