"""Firmware: the generated op resolver and model API, the Arduino library and STM32 project they go into, and
`verify` on an emulated Cortex-M4F. Needs arm-none-eabi-gcc, QEMU and the TFLM directory (.ci/run installs the
first two; conftest points TINYML_TFLM_DIR at ../shared/third_party/tflm-qemu unless it is set)."""

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_cli import assert_one_line_error, run

from tinyml_kit.check.qemu import _overflow_error, compile_for_qemu, link_for_qemu, run_firmware
from tinyml_kit.core.cores import CORES
from tinyml_kit.core.tflite_info import read_model_file
from tinyml_kit.core.tflm_flatbuffer import compact_flatbuffer
from tinyml_kit.export.c_sources import write_model_api
from tinyml_kit.export.op_resolver import TFLM_BUILTINS, tree_builtins
from tinyml_kit.export.toolchain import CXX_FLAGS, REQUANTIZE_ASM, REQUANTIZE_ASM_GUARD, TFLM_DEFINES, find_tflm_dir

SHIM = Path(__file__).parent / "data" / "arduino_shim"
PLATFORM = Path(__file__).parent.parent / "firmware_templates" / "qemu"
M4 = CORES["m4"]


@pytest.fixture(scope="module")
def tflm():
    return find_tflm_dir()


def test_resolver_table_is_the_tflm_trees(tflm):
    assert tree_builtins(tflm.tree) == TFLM_BUILTINS


def test_resolver_registers_exactly_the_models_ops(tiny_model, tmp_path):
    _, path = tiny_model
    data, info = read_model_file(path)
    write_model_api(data, info, tmp_path, ["a", "b", "c"], 1000, 1024)
    ops_h = (tmp_path / "tinyml_ops.h").read_text()
    calls = re.findall(r"resolver\.(Add\w+)\(\)", ops_h)
    assert calls == [TFLM_BUILTINS[op] for op in info.ops] and len(set(calls)) == len(calls)
    assert f"constexpr unsigned int kNumOps = {len(info.ops)};" in ops_h
    assert "alignas(16) uint8_t g_arena[TINYML_ARENA_BYTES]" in (tmp_path / "tinyml_model.cc").read_text()


def test_model_api_compiles_on_the_host_with_all_warnings(tiny_model, tflm, tmp_path):
    _, path = tiny_model
    data, info = read_model_file(path)
    for source in write_model_api(data, info, tmp_path, ["a", "b", "c"], 1000, 1024):
        if source.suffix == ".cc":
            subprocess.run(["g++", *CXX_FLAGS, *TFLM_DEFINES, "-I", str(tmp_path), *tflm.includes(), "-c",
                            str(source), "-o", str(tmp_path / f"{source.stem}.o")], check=True)


def test_an_op_tflm_lacks_is_refused_at_export(tmp_path):
    from tinyml_kit._tf import keras, tf
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8

    k = keras()
    inputs = k.Input((8, 8, 1))
    x = k.layers.Conv2D(4, 3, padding="same")(inputs)
    x = k.layers.Lambda(lambda t: tf().tile(t, [1, 1, 2, 1]))(x)   # TILE: TFLite has it, TFLM does not
    outputs = k.layers.Flatten()(k.layers.Conv2D(3, 1)(k.layers.GlobalAveragePooling2D(keepdims=True)(x)))
    rng = np.random.default_rng(0)
    flatbuffer = quantize_int8(k.Model(inputs, outputs),
                               calibration_images(rng.integers(0, 256, (8, 8, 8, 1), dtype=np.uint8)))
    model = tmp_path / "tiled.tflite"
    model.write_bytes(flatbuffer)
    for target in ("c", "arduino"):
        assert_one_line_error(run("export", model, "--target", target, "--out", tmp_path / target), "TILE",
                              "TFLM cannot run")
        assert not (tmp_path / target).exists()


@pytest.mark.slow
def test_fit_verify_is_bit_exact_on_the_emulated_cortex_m4(fitted):
    out, report = fitted
    v = report["verify"]
    assert v["bit_exact"] and v["kernels"] == "ref" and v["images"] == 20 and v["top1_agreement"] == 1.0
    assert v["fits"] and v["board"] == "nucleo-f401re"
    # the firmware links the compact flatbuffer: the converter's file without names and repeated zero points
    assert v["model_bytes"] == len(compact_flatbuffer((out / "model.tflite").read_bytes())) == report["flash_bytes"]
    assert v["model_bytes"] < v["elf_flash_bytes"] <= v["board_flash_bytes"]
    assert v["elf_ram_bytes"] > v["arena_reserved_bytes"] == report["arena_alloc_bytes"]
    # a 32-bit build needs no more arena than the 64-bit host measured, and the runtime reports it
    assert 0 < v["arena_used_bytes"] <= v["arena_host_bytes"] == report["arena_bytes"]
    assert v["instructions_per_inference"] > 1000 and v["stack_used_bytes"] > 0
    assert json.loads((out / "verify_ref.json").read_text())["bit_exact"]
    html = (out / "report.html").read_text()   # the page was written again, with the Cortex-M4F table
    assert "emulated core (QEMU)" in html and "<td>Cortex-M4F</td>" in html
    assert f"{v['instructions_per_inference']:,}" in html
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_verify_cmsis_nn_and_an_arena_too_small(fitted):
    out, report = fitted
    result = run("verify", out, "--kernels", "cmsis_nn", "--images", "5", "--json")
    assert result.exit_code == 0, result.output
    v = json.loads(result.stdout)
    assert v["kernels"] == "cmsis_nn" and v["images"] == 5 and 0 <= v["top1_agreement"] <= 1
    assert v["instructions_per_inference"] < report["verify"]["instructions_per_inference"]
    small = run("verify", out, "--images", "1", "--arena-bytes", "2KiB")
    assert_one_line_error(small, "arena of 2,048 bytes is too small", f"{report['arena_bytes']:,}")


@pytest.mark.slow
def test_verify_names_what_is_missing(fitted, monkeypatch, tmp_path):
    out, _ = fitted
    monkeypatch.setenv("TINYML_TFLM_DIR", str(tmp_path))
    assert_one_line_error(run("verify", out), "is not a TFLM directory")
    monkeypatch.delenv("TINYML_TFLM_DIR")
    assert_one_line_error(run("verify", out), "--tflm-dir", "TINYML_TFLM_DIR")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert_one_line_error(run("verify", out), "apt-get install gcc-arm-none-eabi")


def run_arduino_example(library: Path, tflm, build: Path) -> str:
    """The library's example sketch as the Arduino builder sees it (.ino + Arduino.h, every source under src/,
    only src/ on the include path), against a test-only core shim, built for the emulated Cortex-M4F and run
    once under QEMU: what it printed. A library without C sources (the TFLM engine) links TFLM."""
    build.mkdir()
    example = library / "examples" / "classify"
    sketch = build / "classify.ino.cpp"
    sketch.write_text("#include <Arduino.h>\n" + (example / "classify.ino").read_text())
    shutil.copy(example / "sample_input.h", build / "sample_input.h")
    shutil.copy(PLATFORM / "startup.c", build / "startup.c")
    c_sources = sorted((library / "src").rglob("*.c"))
    sources = [*sorted((library / "src").rglob("*.cpp")), sketch, SHIM / "arduino_main.cc", build / "startup.c"]
    flags = ["-I", str(SHIM), "-I", str(library / "src")]
    if c_sources:   # the C engine: its model and CMSIS-NN, compiled as C with the library's src/ on the path
        objects = compile_for_qemu(M4, sources, build, flags)
        objects += compile_for_qemu(M4, c_sources, build, c_flags=["-std=c11", "-O2", "-I", str(library / "src")])
        elf = link_for_qemu(M4, objects, [], build)
    else:
        objects = compile_for_qemu(M4, sources, build, [*TFLM_DEFINES, *flags, *tflm.includes()])
        elf = link_for_qemu(M4, objects, [tflm.library("ref")], build)
    return run_firmware(M4, elf, np.zeros(0, np.int8), timeout=120)


@pytest.mark.slow
def test_arduino_library_builds_and_its_example_runs_on_cortex_m4(fitted, tflm, tmp_path):
    out, _ = fitted
    result = run("export", out, "--target", "arduino", "--out", tmp_path / "lib")
    assert result.exit_code == 0, result.output
    library = tmp_path / "lib" / "tinyml_model"
    properties = (library / "library.properties").read_text()
    assert "depends=Chirale_TensorFlowLite" in properties and "name=tinyml_model" in properties
    names = zipfile.ZipFile(tmp_path / "lib" / "tinyml_model.zip").namelist()
    assert "tinyml_model/library.properties" in names and "tinyml_model/examples/classify/classify.ino" in names
    assert all(n.startswith("tinyml_model/") for n in names)

    printed = run_arduino_example(library, tflm, tmp_path / "build")
    host = re.search(r'kSampleHostLabel = "([^"]*)"',
                     (library / "examples" / "classify" / "sample_input.h").read_text()).group(1)
    assert re.search(rf"^label: {re.escape(host)}  score: 0\.\d{{3}}  latency: ", printed, re.M), printed
    assert "tensor arena used: " in printed


@pytest.mark.slow
def test_arduino_library_with_the_c_engine_carries_cmsis_nn_and_runs_on_cortex_m4(fitted, tflm, tmp_path):
    out, _ = fitted
    result = run("export", out, "--target", "arduino", "--engine", "c", "--out", tmp_path / "lib")
    assert result.exit_code == 0, result.output
    library = tmp_path / "lib" / "tinyml_model"
    assert "depends=" not in (library / "library.properties").read_text()
    assert (library / "src" / "arm_nnfunctions.h").is_file() and (library / "src" / "cmsis_nn" / "LICENSE").is_file()
    # built as verify builds it: the requantization define heads the header the kernels and the model include
    assert (library / "src" / "arm_nnsupportfunctions.h").read_text().startswith(REQUANTIZE_ASM_GUARD)
    assert "Chirale" not in (library / "examples" / "classify" / "classify.ino").read_text()
    printed = run_arduino_example(library, tflm, tmp_path / "build")
    host = re.search(r'kSampleHostLabel = "([^"]*)"',
                     (library / "examples" / "classify" / "sample_input.h").read_text()).group(1)
    assert re.search(rf"^label: {re.escape(host)}  score: 0\.\d{{3}}  latency: ", printed, re.M), printed


@pytest.mark.slow
def test_stm32_project_with_the_c_engine_makes_without_tflm(fitted, tflm, tmp_path):
    out, _ = fitted
    result = run("export", out, "--target", "stm32", "--engine", "c", "--board", "nucleo-h743zi2", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    project = tmp_path / "tinyml_model_stm32"
    makefile = (project / "Makefile").read_text()
    assert "TFLM_DIR" not in makefile and "CMSIS_NN_DIR ?= /" in makefile
    assert f"NN_DEFINES := -D{REQUANTIZE_ASM}\n" in makefile   # the Cortex-M7 builds CMSIS-NN as verify does
    subprocess.run(["make", "-j2"], cwd=project, check=True, capture_output=True)
    assert (project / "build" / "libtinyml.a").stat().st_size > 0


@pytest.mark.slow
def test_stm32_project_makes_for_the_boards_core(fitted, tflm, tmp_path):
    out, _ = fitted
    result = run("export", out, "--target", "stm32", "--board", "nucleo-h743zi2", "--tflm-dir", tflm.root,
                 "--out", tmp_path)
    assert result.exit_code == 0, result.output
    project = tmp_path / "tinyml_model_stm32"
    makefile = (project / "Makefile").read_text()
    assert "-mcpu=cortex-m7 -mfpu=fpv5-d16 -mthumb -mfloat-abi=hard" in makefile
    assert "STM32CubeIDE" in (project / "README.md").read_text()
    subprocess.run(["make", "-j2"], cwd=project, check=True, capture_output=True)
    attributes = subprocess.run(["arm-none-eabi-readelf", "-A", str(project / "build" / "app_tinyml.o")],
                                capture_output=True, text=True, check=True).stdout
    assert "FPv5" in attributes and "VFP registers" in attributes
    assert (project / "build" / "libtinyml.a").stat().st_size > 0
    assert_one_line_error(run("export", out, "--target", "stm32", "--board", "esp32-s3-devkitc-1",
                              "--out", tmp_path / "esp"), "not an Arm Cortex-M")


@pytest.mark.slow
def test_c_engine_verifies_bit_exact_on_cortex_m4_with_less_flash_and_ram(fitted, tmp_path):
    """`verify --engine c`: the generated C and CMSIS-NN built for the emulated Cortex-M4F agree with LiteRT's
    reference kernels, and the whole firmware is smaller than the TFLM build of the same model."""
    out, report = fitted
    result = run("verify", out, "--engine", "c", "--images", "5", "--json")
    assert result.exit_code == 0, result.output
    c = json.loads(result.stdout)
    tflm = report["verify"]
    assert c["engine"] == "c" and c["bit_exact"] and c["images"] == 5
    assert c["arena_used_bytes"] == c["arena_host_bytes"]   # the plan is what the firmware reserves
    # RAM apart from the constants the plan copied into what the board has to spare, for speed
    assert c["elf_flash_bytes"] < tflm["elf_flash_bytes"]
    assert c["elf_ram_bytes"] - c.get("ram_constant_bytes", 0) < tflm["elf_ram_bytes"]
    assert (out / "verify_c.json").is_file()
    exported = run("export", out, "--engine", "c", "--out", tmp_path / "c")
    assert exported.exit_code == 0, exported.output
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["plan.json", "tinyml_export.json",
                                                                  "tinyml_model.c", "tinyml_model.h"]


def test_c_engine_bad_inputs_are_one_line(fitted, tmp_path, monkeypatch):
    out, _ = fitted
    assert_one_line_error(run("verify", out, "--engine", "c", "--arena-bytes", "100"),
                          "below the C engine's static plan", "--arena-bytes")
    assert_one_line_error(run("verify", out, "--engine", "c", "--kernels", "ref"), "--engine")
    assert_one_line_error(run("verify", out, "--engine", "c", "--cmsis-nn-dir", tmp_path),
                          "is not a CMSIS-NN directory", "--cmsis-nn-dir")
    monkeypatch.delenv("TINYML_TFLM_DIR")
    monkeypatch.delenv("TINYML_CMSIS_NN_DIR", raising=False)
    assert_one_line_error(run("verify", out, "--engine", "c"), "no CMSIS-NN directory given", "--cmsis-nn-dir")
    assert_one_line_error(run("export", out, "--engine", "c", "--target", "arduino", "--out", tmp_path / "a"),
                          "no CMSIS-NN directory given", "--cmsis-nn-dir")   # the library must carry it
    assert not (tmp_path / "a").exists()


def test_an_arena_the_emulated_machine_cannot_hold_names_the_region_and_the_overflow(fitted):
    """Past the machine's RAM: refused before building. Within it, but with data and stack no longer: the linker's
    overflow read back as the region and the bytes over. Flash likewise."""
    out, _ = fitted
    for engine in ("tflm", "c"):
        assert_one_line_error(run("verify", out, "--engine", engine, "--arena-bytes", "900MB"),
                              "a tensor arena of 900,000,000 bytes is larger than the RAM of QEMU's mps2-an386 "
                              "(4,194,304 bytes", "reserve a smaller one", "(--arena-bytes)")
    result = run("verify", out, "--arena-bytes", 4 * 2**20 - 1024)
    assert_one_line_error(result, "the firmware does not fit the RAM of QEMU's mps2-an386 (4,194,304 bytes)",
                          "overflow it by", "reserve a smaller tensor arena", "(--arena-bytes)")
    over = int(re.search(r"overflow it by ([\d,]+) bytes", result.stderr).group(1).replace(",", ""))
    assert 0 < over < 2**20
    room = _overflow_error(M4, "ld: RAM overflow: data + bss (arena) + heap + stack exceed RAM")
    assert "its data and bss (the tensor arena with it) leave too little of it for the heap and the stack" in str(room)
    flash = _overflow_error(M4, "ld: firmware.elf section `.text' will not fit in region `FLASH'\n"
                                "ld: region `FLASH' overflowed by 5120 bytes\ncollect2: error: ld returned 1")
    assert str(flash) == ("the firmware does not fit the FLASH region of QEMU's mps2-an386 (4,193,280 bytes): its "
                          "code and the model overflow it by 5,120 bytes; verify a smaller model")
