"""Where the files shipped beside the package live (boards.yaml, firmware_templates/)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BOARDS_FILE = REPO_ROOT / "boards.yaml"
TEMPLATES_DIR = REPO_ROOT / "firmware_templates"
