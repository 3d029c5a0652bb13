"""The QEMU instruction-mix plugin: a hand-written loop counted exactly by class and memory region, and a model's
firmware counted without disturbing what QEMU itself counts; built into the cache once per source, never into the
repository."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinyml_kit.check.plugin import PLUGIN_SOURCE, Window, between, plugin_library, read_mix
from tinyml_kit.check.qemu import qemu_command
from tinyml_kit.core.cores import CORES
from tinyml_kit.core.timing import TIMINGS, ZERO_WAIT, MemoryTiming, cycles_from_counts
from tinyml_kit.export.toolchain import require_tool

M4 = CORES["m4"]
LOOPS = 1000
# Boot (FPU on), LOOPS turns of fourteen instructions of known classes between two reads of SysTick's current value
# (the plugin's marks), a call, exit through semihosting. One load reads a table in flash, the loop's other data is
# in SRAM, CPACR and SysTick are neither. The call's PUSH sits in the last word before a 1 KB page, where QEMU 7.2
# reports a 16-bit instruction as 4 bytes (it reads ahead for the next one).
def _boot(stack: int) -> str:
    """A vector table and the FPU (with Helium on the M55) switched on through CPACR."""
    return f"""
    .syntax unified
    .thumb
    .section .vectors, "a"
    .word {stack:#x}
    .word reset
    .text
    .thumb_func
reset:
    ldr r0, =0xE000ED88
    ldr r1, [r0]
    orr r1, r1, #0xF00000
    str r1, [r0]
    dsb
    isb
"""


MIX_S = _boot(0x20010000) + f"""
    ldr r4, ={LOOPS}
    ldr r5, =0x20000100
    ldr r7, =table
    ldr r8, =0xE000E018
    ldr r9, [r8]
    movs r6, #0
loop:
    ldr r6, [r7]
    ldr r0, [r5]
    str r0, [r5, #4]
    muls r0, r1, r0
    mla r1, r0, r0, r1
    smlad r2, r0, r1, r2
    sxtb16 r3, r0
    udiv r3, r0, r4
    push {{r0-r3}}
    pop {{r0-r3}}
    vadd.f32 s0, s0, s1
    subs r4, #1
    bne loop
    ldr r9, [r8]
    bl func
    b.w exit
    .p2align 4
table:
    .word 1, 2, 3, 4
    .p2align 10
    .skip 1020
func:
    push {{r4, lr}}
    cmp r4, #0
    it eq
    moveq r4, #5
    cmp r4, #5
    it ne
    bxne lr
    pop {{r4, pc}}
exit:
    movs r0, #0x18
    ldr r1, =0x20026
    bkpt 0xab
"""


def _run_asm(core, text: str, tmp_path: Path, memory: MemoryTiming = ZERO_WAIT):
    """Assemble `text` (vectors at the core's reset address, code in its flash), run it on the core's machine with
    the plugin, and read what it counted."""
    source, elf, out = tmp_path / "loop.S", tmp_path / "loop.elf", tmp_path / "loop.json"
    source.write_text(text)
    subprocess.run([require_tool("arm-none-eabi-gcc"), *core.gcc_flags, "-nostdlib", "-nostartfiles",
                    "-Wl,-e,reset", f"-Wl,-Ttext={core.flash[0]:#x}", f"-Wl,--section-start=.vectors={core.vectors:#x}",
                    str(source), "-o", str(elf)], check=True, capture_output=True)
    done = subprocess.run(qemu_command(core, elf, [], out, memory), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return read_mix(out)


def _run_mix_loop(tmp_path: Path, memory: MemoryTiming = ZERO_WAIT):
    return _run_asm(M4, MIX_S, tmp_path, memory)


def test_plugin_counts_a_handwritten_loop_exactly_by_class_and_region(tmp_path):
    mix = _run_mix_loop(tmp_path)
    n = LOOPS
    # ldr r4,=1000 assembles to mov.w; other: dsb, isb, two ITs, bkpt; bxne lr in its IT block is conditional
    assert mix.classes == {"alu": n + 7, "mul": 2 * n, "dsp": 2 * n, "div": n, "load": 2 * n + 8, "store": n + 1,
                           "load_multiple": n + 1, "store_multiple": n + 1, "branch": 2, "branch_cond": n + 1,
                           "fpu": n, "mve_load_store": 0, "mve_compute": 0, "loop_end": 0, "other": 5}
    assert mix.instructions == sum(mix.classes.values()) == 13 * n + 26
    assert (mix.regs_loaded, mix.regs_stored, mix.pc_loads) == (4 * n + 2, 4 * n + 2, 1)
    assert (mix.branch_cond_taken, mix.branch_cond_not_taken) == (n - 1, 2)
    # literals and the table; LDR + 4 per POP; CPACR and SysTick twice
    assert mix.loads == {"flash": n + 5, "ram": 5 * n + 2, "other": 3}
    assert mix.stores == {"flash": 0, "ram": 5 * n + 2, "other": 1}


@pytest.mark.parametrize("memory", [ZERO_WAIT, MemoryTiming(3, 16, 0), MemoryTiming(3, 16, 8)],
                         ids=["zero-wait", "uncached-flash", "cached-flash"])
def test_plugin_sums_cycles_exactly_as_the_timing_table_says(tmp_path, memory):
    """The window between the two SysTick reads, costed by hand from the M4's table: each turn's fourteen
    instructions with the second load pipelined behind the first, PUSH and POP at one cycle a register, a refill
    for each taken branch back; the flash table read waits on every turn without a cache and once with one."""
    mix = _run_mix_loop(tmp_path, memory)
    t, n = TIMINGS["m4"], LOOPS
    turn = (2 * t.costs["load"] + t.pairs[0].delta + t.costs["store"] + 2 * t.costs["mul"] + 2 * t.costs["dsp"]
            + t.costs["div"] + t.costs["load_multiple"] + t.costs["store_multiple"] + 8 * t.per_register
            + t.costs["fpu"] + t.costs["alu"] + t.costs["branch_cond"])
    misses = 0 if memory == ZERO_WAIT else n if memory.lines == 0 else 1
    window = t.costs["alu"] + n * turn + (n - 1) * t.refill + t.costs["load"] + memory.wait_states * misses
    start, end = mix.marks
    assert between(start, end) == Window(13 * n + 2, window, misses, n)
    assert mix.cycles == cycles_from_counts(mix.counts(), t, memory)   # the plugin's sum is the table's


def test_plugin_is_built_into_the_cache_once_per_source(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))
    built = plugin_library()
    assert built.is_file() and tmp_path / "cache" in built.parents
    assert plugin_library() == built   # cached
    changed = tmp_path / "insn_mix.c"
    changed.write_text(PLUGIN_SOURCE.read_text() + "\n/* changed */\n")
    assert plugin_library(changed) != built   # a new source, a new build
    repo = Path(__file__).resolve().parent.parent
    assert not [p for p in repo.glob("**/*.so") if ".venv" not in p.parts]   # never compiled into the repository


@pytest.fixture(scope="module", params=["m4", "m55"])
def tiny_firmware(request, tiny_model, tmp_path_factory):
    """The untrained TinyNet's TFLM firmware with CMSIS-NN kernels on the Cortex-M4F (DSP kernels) and on the M55
    (Helium kernels, flash and RAM elsewhere in the map): (core, ELF, one int8 image)."""
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.check.verify import build_firmware
    from tinyml_kit.core.tflite_info import read_model_file
    from tinyml_kit.export.firmware import ModelSource
    from tinyml_kit.export.toolchain import find_tflm_dir

    data, info = read_model_file(tiny_model[1])
    host = measure_arena(data)
    src = ModelSource(data, info, ["a", "b", "c"], host.total_bytes, host.alloc_bytes)
    core = CORES[request.param]
    elf = build_firmware(src, find_tflm_dir(), "cmsis_nn", core, tmp_path_factory.mktemp("fw"), arena_bytes=1 << 16)
    return core, elf, np.random.default_rng(0).integers(-128, 128, (1, 16, 16, 1)).astype(np.int8)


@pytest.mark.slow
def test_plugin_counts_each_inference_as_qemu_does(tiny_firmware, tmp_path):
    """QEMU's own count of an inference is what the runner reads from SysTick under -icount (to a tick: 40
    instructions on the MPS2, 31.25 on the AN547); the plugin's count between the same two reads of SysTick must
    agree with it, and loading the plugin must change neither the count nor the outputs."""
    from tinyml_kit.check.qemu import parse_run, run_firmware

    core, elf, image = tiny_firmware
    images = np.repeat(image, 3, axis=0)
    out = tmp_path / "mix.json"
    counted = parse_run(run_firmware(core, elf, images, 60, mix=out), 3, str)
    plain = parse_run(run_firmware(core, elf, images, 60), 3, str)
    assert counted.instructions == plain.instructions and np.array_equal(counted.outputs, plain.outputs)
    mix = read_mix(out)
    windows = [end.instructions - start.instructions
               for start, end in zip(mix.marks[-6::2], mix.marks[-5::2], strict=True)]
    assert len(set(windows)) == 1   # the same image three times: the same instructions
    tick = 1000 / core.systick_mhz
    assert all(abs(w - n) < tick for w, n in zip(windows, plain.instructions, strict=True)), (windows, plain)
    assert sum(mix.classes.values()) == mix.instructions > 3 * windows[0]
    vector = "mve_compute" if core.mve else "dsp"   # Helium's VMLADAV and friends, or the DSP extension's SMLAD
    assert mix.classes[vector] > 0 and mix.classes["mul"] + mix.classes[vector] > windows[0] // 100
    if core.mve:   # Helium loads, and the low-overhead loops its kernels are written with
        assert mix.classes["mve_load_store"] > 0 and mix.classes["loop_end"] > 0
    assert mix.loads["flash"] > 0 and mix.loads["ram"] > 0 and mix.stores["ram"] > 0
    assert mix.stores["flash"] == 0


def test_a_missing_host_compiler_is_named_with_its_package(tmp_path, monkeypatch):
    """The plugin and the C engine's host check ask for the host compiler the same way: one line naming the fix."""
    from tinyml_kit.core.errors import UserError

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(UserError, match=r"^gcc not found: install it with `apt-get install gcc`$"):
        plugin_library()


HELIUM_S = _boot(0x31010000) + f"""
    ldr r4, ={LOOPS}
    ldr r5, =0x31000100
    ldr r8, =0xE000E018
    movs r2, #0
    ldr r9, [r8]
    dls lr, r4
loop:
    vldrb.s8 q0, [r5]
    vldrb.s8 q1, [r5, #16]
    vmladava.s8 r2, q0, q1
    le lr, loop
    ldr r9, [r8]
    movs r0, #0x18
    ldr r1, =0x20026
    bkpt 0xab
"""


def test_plugin_times_a_helium_loop_as_the_m55_table_says(tmp_path):
    """A low-overhead loop of two Helium loads and a multiply-accumulate (the shape of CMSIS-NN's int8 dot
    products): each class recognised, the loop end free, the load-to-compute beats overlapping by one cycle."""
    mix, t, n = _run_asm(CORES["m55"], HELIUM_S, tmp_path), TIMINGS["m55"], LOOPS
    assert (mix.classes["mve_load_store"], mix.classes["mve_compute"], mix.classes["loop_end"]) == (2 * n, n, n)
    beats = next(r.delta for r in t.pairs if (r.first, r.then) == ("mve_load_store", "mve_compute"))
    turn = 2 * t.costs["mve_load_store"] + t.costs["mve_compute"] + beats + t.costs["loop_end"]
    start, end = mix.marks   # DLS, the turns, the closing LDR
    assert between(start, end) == Window(4 * n + 2, t.costs["alu"] + n * turn + t.costs["load"], 0, 0)
    assert mix.cycles == cycles_from_counts(mix.counts(), t)
