from domain.levels import Level, level_for


def test_level_is_the_highest_threshold_reached() -> None:
    levels = [Level(1, "Seedling", 0), Level(2, "Sapling", 10_000), Level(3, "Tree", 100_000)]
    assert level_for(0, levels) == levels[0]
    assert level_for(9_999, levels) == levels[0]
    assert level_for(10_000, levels) == levels[1]
    assert level_for(10**9, levels) == levels[2]
    assert level_for(5, []) is None


def test_the_next_level_is_the_lowest_threshold_not_yet_reached() -> None:
    from domain.levels import next_level

    levels = [Level(1, "Seedling", 0), Level(2, "Sapling", 10_000), Level(3, "Tree", 100_000)]
    assert next_level(0, levels) == levels[1]
    assert next_level(10_000, levels) == levels[2]
    assert next_level(100_000, levels) is None
