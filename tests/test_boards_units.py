import pytest

from tinyml_kit.core.boards import DEFAULT_BOARD, get_board, load_boards
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.units import parse_bytes, parse_count


def test_at_least_14_boards_with_required_ids():
    boards = load_boards()
    assert len(boards) >= 14
    for board_id in ("nano33-ble-sense", "nucleo-l4r5zi", "rpi-pico", "uno-r3"):
        assert board_id in boards
    assert DEFAULT_BOARD == "nano33-ble-sense"
    assert all(b.framework in ("arduino", "stm32") for b in boards.values())


def test_budgets_follow_the_reserve_rule():
    nano = get_board("nano33-ble-sense")
    # mbed core: flash reserve max(96 KiB, 25 %), RAM reserve max(16 KiB, 35 %) of the linked sizes
    assert nano.flash_budget_bytes == 815104 - round(0.25 * 815104)
    assert nano.arena_budget_bytes == 248832 - round(0.35 * 248832)
    r4 = get_board("uno-r4-minima")
    assert r4.flash_budget_bytes == 262144 - 98304          # the 96 KiB minimum wins on small parts
    assert r4.arena_budget_bytes == 32768 - 16384


def test_unknown_board_lists_ids():
    with pytest.raises(UserError, match="unknown board 'nope'.*nano33-ble-sense"):
        get_board("nope")


def test_avr_board_is_refused_with_alternatives():
    with pytest.raises(UserError, match="cannot run TFLM.*nucleo-l4r5zi"):
        get_board("uno-r3")
    assert load_boards()["uno-r3"].flash_budget_bytes == 0


@pytest.mark.parametrize("text,expected", [("256KB", 256000), ("96KiB", 98304), ("96K", 98304), ("1.5MB", 1500000),
                                           ("2MiB", 2097152), ("1000", 1000), (4096, 4096)])
def test_parse_bytes(text, expected):
    assert parse_bytes(text) == expected


def test_parse_count_and_errors():
    assert parse_count("5M") == 5_000_000
    assert parse_count("250k") == 250_000
    with pytest.raises(UserError, match="cannot read size '12XB'"):
        parse_bytes("12XB")


def test_shipped_files_resolve_for_wheels():
    """tinyml_kit/shipped/ links to the top-level boards.yaml, firmware_templates/ and models/, and pyproject
    ships them."""
    import tomllib
    from pathlib import Path

    from tinyml_kit.core.resources import (
        BOARDS_FILE,
        MODELS_DIR,
        SCALING_LAW_FILE,
        TEMPLATES_DIR,
    )

    repo = Path(__file__).resolve().parent.parent
    assert BOARDS_FILE.resolve() == (repo / "boards.yaml").resolve()
    assert TEMPLATES_DIR.resolve() == (repo / "firmware_templates").resolve()
    # every template sits two levels down, where the package-data glob `firmware_templates/*/*` picks it up
    files = {p.relative_to(TEMPLATES_DIR) for p in TEMPLATES_DIR.rglob("*") if p.is_file()}
    assert files == {p.relative_to(TEMPLATES_DIR) for p in TEMPLATES_DIR.glob("*/*")}
    assert {"c_array/model_data.h.j2", "model_api/tinyml_model.cc.j2", "model_api/tinyml_ops.h.j2",
            "arduino/library.properties.j2", "stm32/Makefile.j2", "qemu/verify_main.cc"} <= {str(f) for f in files}
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text())
    assert MODELS_DIR.resolve() == (repo / "models").resolve() and SCALING_LAW_FILE.is_file()
    assert pyproject["tool"]["setuptools"]["package-data"]["tinyml_kit"] == [
        "shipped/boards.yaml", "shipped/firmware_templates/*/*", "shipped/models/sweep/*/*",
        "shipped/models/latency/*"]


def test_every_emulated_cortex_m_board_has_its_memory_system_with_a_source():
    """The cycle model adds flash wait states per board: a board whose core QEMU emulates must carry them."""
    from tinyml_kit.core.boards import ACCELERATORS, require_memory
    from tinyml_kit.core.cores import emulated_core

    emulated = [b for b in load_boards().values() if emulated_core(b.core)]
    assert {b.core for b in emulated} == {"Cortex-M4F", "Cortex-M7", "Cortex-M33", "Cortex-M55"}
    for board in emulated:
        memory = require_memory(board)
        assert memory.source.strip() and memory.flash_accelerator in ACCELERATORS, board.id
    # the confirmed ones read as the wait-state tables of ST's drivers give them at the board's clock
    assert [get_board(i).memory.flash_wait_states for i in ("nucleo-f401re", "nucleo-l4r5zi", "nucleo-f746zg")] \
        == [2, 5, 7]
    nano = get_board("nano33-ble-sense").memory
    assert not nano.confirmed and "flash_wait_states" in nano.unconfirmed and "?" in nano.summary()
    # the nRF52840's cache holds instructions only and is recorded off (as out of reset); the F401's ART serves both
    assert (nano.fetches_cached, nano.data_reads_cached) == (False, False)
    f401 = get_board("nucleo-f401re").memory
    assert (f401.fetches_cached, f401.data_reads_cached) == (True, True)


def test_require_memory_names_the_board_in_one_line():
    from dataclasses import replace

    from tinyml_kit.core.boards import require_memory

    board = replace(get_board("nucleo-f401re"), memory=None)
    with pytest.raises(UserError, match=r"board 'nucleo-f401re' \(Cortex-M4F\) has no memory-system data") as e:
        require_memory(board)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("memory,problem", [
    ("{flash_wait_states: 2, flash_accelerator: warp, caches_enabled: true, data_line_bytes: 16, source: RM}",
     "flash_accelerator 'warp' is unknown: choose one of art"),
    ("{flash_wait_states: -1, flash_accelerator: art, caches_enabled: true, data_line_bytes: 16, source: RM}",
     "flash_wait_states -1 must be a whole number"),
    ("{flash_wait_states: 2, flash_accelerator: art, caches_enabled: true, data_line_bytes: 16}", "lacks source"),
    ("{flash_wait_states: 2, flash_accelerator: art, caches_enabled: true, data_line_bytes: 16, source: RM, "
     "unconfirmed: [clock]}", "unconfirmed"),
])
def test_malformed_memory_entry_is_one_line_naming_the_board(tmp_path, memory, problem):
    path = tmp_path / "boards.yaml"
    path.write_text("reserve: {flash_min_bytes: 1, flash_fraction: 0.25, ram_min_bytes: 1, ram_fraction: 0.25}\n"
                    "boards:\n- {id: my-board, name: B, mcu: M, core: Cortex-M4F, clock_mhz: 80, flash_bytes: 1,"
                    " sram_bytes: 1, flash_linked_bytes: 1, ram_linked_bytes: 1, framework: stm32, source: s,"
                    f" memory: {memory}}}\n")
    with pytest.raises(UserError, match=f"boards.yaml: board 'my-board': memory .*{problem}") as e:
        load_boards(path)
    assert "\n" not in str(e.value)


def test_board_with_memory_survives_a_record_round_trip():
    from tinyml_kit.core.boards import Board

    board = get_board("nucleo-u575zi-q")
    d = board.to_dict()
    assert d["memory"]["confirmed"] is False and d["memory"]["unconfirmed"] == ["data_line_bytes"]
    assert Board.from_dict(d) == board
    assert Board.from_dict({k: v for k, v in d.items() if k != "memory"}).memory is None   # a record from before
