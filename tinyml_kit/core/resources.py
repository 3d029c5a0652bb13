"""Where the files shipped beside the package live (boards.yaml, firmware_templates/, models/).

The repository keeps them at its top level; `tinyml_kit/shipped/` links there, and a built wheel carries
copies, so both editable and regular installs find them at the same place.
"""

from pathlib import Path

from tinyml_kit.core.family import PHINET, RANKED_NAMES

SHIPPED = Path(__file__).resolve().parent.parent / "shipped"
BOARDS_FILE = SHIPPED / "boards.yaml"
TEMPLATES_DIR = SHIPPED / "firmware_templates"
MODELS_DIR = SHIPPED / "models"
# Each ranked family's accuracy law, made by `tinyml-kit sweep` with fit's recipe (bench/fit_scaling_law.py)
SCALING_LAW_FILES = {name: MODELS_DIR / "sweep" / f"{name}-cifar10-5k-32px" / "law.json"
                     for name in RANKED_NAMES}
SCALING_LAW_FILE = SCALING_LAW_FILES[PHINET.name]
# Instructions per op on each emulated core and engine, fitted on QEMU profiles (bench/latency_model.py)
INSTRUCTION_MODEL_FILE = MODELS_DIR / "latency" / "instructions.json"
