"""Where the files shipped beside the package live (boards.yaml, firmware_templates/, models/).

The repository keeps them at its top level; `tinyml_kit/shipped/` links there, and a built wheel carries
copies, so both editable and regular installs find them at the same place.
"""

from pathlib import Path

SHIPPED = Path(__file__).resolve().parent.parent / "shipped"
BOARDS_FILE = SHIPPED / "boards.yaml"
TEMPLATES_DIR = SHIPPED / "firmware_templates"
MODELS_DIR = SHIPPED / "models"
SCALING_LAW_FILE = MODELS_DIR / "sweep" / "cifar10-5k-32px" / "law.json"   # made by `tinyml-kit sweep`
