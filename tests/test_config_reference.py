"""docs/CONFIG.md documents every key and stays in step with the code."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from evoforge.config import Config, config_reference

DOC = Path(__file__).resolve().parent.parent / "docs" / "CONFIG.md"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += _keys(annotation, f"{prefix}{name}.")
    return keys


def test_reference_documents_every_key() -> None:
    text = config_reference()
    for key in _keys(Config):
        assert f"| `{key}` |" in text, key
    for line in text.splitlines():
        if line.startswith("| `"):
            assert not line.rstrip().endswith("|  |"), f"undocumented: {line}"


def test_committed_reference_is_current() -> None:
    assert DOC.read_text() == config_reference(), (
        "run: evoforge config --reference > docs/CONFIG.md"
    )
