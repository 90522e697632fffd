"""SECURITY.md rows 1, 4, 5: archives are judged on real bytes and real entry names."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from inference.conversion.steps.errors import ArchiveUnsafe, ModelCheckError
from inference.conversion.steps.pipeline_steps import ScanCaps, scan
from inference.conversion.steps.safety import check_zip, extract_zip
from tests.runtime.test_formats import malicious_pickle


def _nothing_written(folder: Path) -> bool:
    return not folder.exists() or not any(f.is_file() for f in folder.rglob("*"))


def test_pickle_with_os_system_is_refused_before_any_load(tmp_path):
    marker = tmp_path / "pwned"
    upload = malicious_pickle(tmp_path / "model.pth", marker)
    with pytest.raises(ModelCheckError) as exc:
        scan(upload, tmp_path / "work")
    assert exc.value.code == "unsupported_format"
    assert not marker.exists()
    assert not any((tmp_path / "work" / "source").iterdir())


def test_zip_bomb_is_refused_on_its_expanded_size(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("model.onnx", "w") as fh:
            chunk = b"\0" * 2**20
            for _ in range(64):
                fh.write(chunk)
    assert bomb.stat().st_size < 200_000
    with pytest.raises(ArchiveUnsafe) as exc:
        extract_zip(bomb, tmp_path / "out", max_total_bytes=16 * 2**20)
    assert "16 MiB" in exc.value.message
    assert _nothing_written(tmp_path / "out")


def test_zip_bomb_with_lying_headers_is_stopped_while_streaming(tmp_path):
    bomb = tmp_path / "liar.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", b"\0" * 32 * 2**20)
    # Rewrite the declared sizes (local header and central directory) to 10 bytes.
    data = bytearray(bomb.read_bytes())
    real = (32 * 2**20).to_bytes(4, "little")
    assert data.count(real) == 2
    bomb.write_bytes(bytes(data).replace(real, (10).to_bytes(4, "little")))
    with pytest.raises(ArchiveUnsafe):
        extract_zip(bomb, tmp_path / "out", max_total_bytes=16 * 2**20)
    assert _nothing_written(tmp_path / "out")


def _many_entries(path: Path, count: int) -> Path:
    # Raw stored entries written directly: 100k entries in well under a second.
    local, central, offset = bytearray(), bytearray(), 0
    for i in range(count):
        name = f"f{i}".encode()
        header = b"PK\x03\x04" + (20).to_bytes(2, "little") + bytes(4) + bytes(4) + bytes(12)
        header += len(name).to_bytes(2, "little") + bytes(2) + name
        central += (b"PK\x01\x02" + (20).to_bytes(2, "little") * 2 + bytes(4) + bytes(4)
                    + bytes(12) + len(name).to_bytes(2, "little") + bytes(8)
                    + bytes(4) + offset.to_bytes(4, "little") + name)  # fmt: skip
        local += header
        offset += len(header)
    n = min(count, 0xFFFF)
    end = (b"PK\x05\x06" + bytes(4) + n.to_bytes(2, "little") * 2
           + len(central).to_bytes(4, "little") + offset.to_bytes(4, "little") + bytes(2))  # fmt: skip
    path.write_bytes(bytes(local + central + end))
    return path


def test_zip_with_100k_entries_is_refused(tmp_path):
    z = _many_entries(tmp_path / "many.zip", 100_000)
    assert len(zipfile.ZipFile(z).infolist()) == 100_000  # a real, valid archive
    with pytest.raises(ArchiveUnsafe) as exc:
        check_zip(z, max_entries=10_000)
    assert exc.value.details["entries"] == 100_000
    with pytest.raises(ArchiveUnsafe):
        scan(z, tmp_path / "work", ScanCaps(max_entries=10_000))


@pytest.mark.parametrize("name", ["../evil.onnx", "a/../../evil", "/etc/cron.d/x", "C:/x.onnx"])
def test_entry_escaping_the_archive_is_refused(tmp_path, name):
    z = tmp_path / "escape.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("model.onnx", b"x")
        info = zipfile.ZipInfo("placeholder")
        info.filename = name  # ZipInfo() would normalise it; an attacker's tool does not
        zf.writestr(info, b"owned")
    with pytest.raises(ArchiveUnsafe):
        extract_zip(z, tmp_path / "out")
    assert not (tmp_path / "evil.onnx").exists()
    assert _nothing_written(tmp_path / "out")


def test_symlink_entry_is_refused(tmp_path):
    z = tmp_path / "link.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("model.onnx.data")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
        zf.writestr("model.onnx", b"x")
    with pytest.raises(ArchiveUnsafe) as exc:
        extract_zip(z, tmp_path / "out")
    assert "symbolic link" in exc.value.message
    assert not os.path.lexists(tmp_path / "out" / "model.onnx.data")


def test_duplicate_entry_names_are_refused(tmp_path):
    z = tmp_path / "dup.zip"
    with zipfile.ZipFile(z, "w") as zf, pytest.warns(UserWarning):
        zf.writestr("config.json", "{}")
        zf.writestr("config.json", '{"evil": 1}')
    with pytest.raises(ArchiveUnsafe):
        check_zip(z)


def test_hf_zip_extraction_skips_pickled_weights(tmp_path):
    from tests.runtime.fixtures_models import build_hf_zip

    z = build_hf_zip("bert", tmp_path)
    with zipfile.ZipFile(z, "a") as zf:
        zf.write(malicious_pickle(tmp_path / "p", tmp_path / "pwned"), "pytorch_model.bin")
    scanned = scan(z, tmp_path / "work")
    assert scanned["format"] == "hf_zip"
    assert "pytorch_model.bin" not in scanned["files"]
    assert not (tmp_path / "work" / "source" / "pytorch_model.bin").exists()


def test_pickle_renamed_model_safetensors_inside_an_hf_zip_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    z = tmp_path / "hf.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("config.json", '{"model_type": "bert"}')
        zf.write(malicious_pickle(tmp_path / "p", marker), "model.safetensors")
    with pytest.raises(ModelCheckError) as exc:
        scan(z, tmp_path / "work")
    assert exc.value.code == "malformed_file"
    assert exc.value.details["pickle"] is True
    assert not marker.exists()
