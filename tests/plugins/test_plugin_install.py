"""The install steps: one hook client in the repository, copied beside each plug-in.

plugins/common/moebius_hook_client.py is the only copy; plugins/nuke/install.py,
plugins/resolve/install.py and plugins/blender/build_addon.py put it next to their host's
plug-in. The host tests (test_nuke_script, test_resolve_script, test_blender_addon) load the
plug-ins from what these steps installed.
"""

from __future__ import annotations

import os
import sys
import zipfile

import pytest
from host_fakes import fake_nuke, load_plugin
from plugin_helpers import PLUGINS, REPO
from plugin_install import (
    NUKE_INSTALL,
    build_blender_addon,
    install_nuke,
    install_resolve,
    run_script,
)

CLIENT = PLUGINS / "common" / "moebius_hook_client.py"


def test_the_hook_client_has_one_source():
    copies = sorted(
        path.relative_to(REPO).as_posix() for path in REPO.glob("plugins/**/moebius_hook_client.py")
    )
    assert copies == ["plugins/common/moebius_hook_client.py"], (
        f"expected only plugins/common/moebius_hook_client.py, found {copies}: the install "
        "steps copy the common client next to each plug-in"
    )


def test_nuke_install_puts_the_client_beside_the_plugin(tmp_path):
    target = install_nuke(tmp_path / "moebius_video")
    assert sorted(p.name for p in target.iterdir()) == [
        "menu.py",
        "moebius_hook_client.py",
        "moebius_video_nuke.py",
    ]
    assert (target / "moebius_hook_client.py").read_bytes() == CLIENT.read_bytes()


def test_nuke_runs_the_installed_menu_py(tmp_path, monkeypatch):
    # What Nuke does at start-up for each folder on its plug-in path: import its menu.py.
    target = install_nuke(tmp_path / "moebius_video")
    nuke = fake_nuke()
    monkeypatch.setitem(sys.modules, "nuke", nuke)
    for name in ("menu", "moebius_video_nuke"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    load_plugin(target, "menu", monkeypatch)
    assert list(nuke.menus["Nuke"].commands) == ["Moebius Video/Clean Read Node"]
    assert sys.modules["moebius_hook_client"].__file__ == str(target / "moebius_hook_client.py")


def test_nuke_install_registers_the_folder_once(tmp_path):
    # The default target (~/.nuke/moebius_video) and the line in ~/.nuke/init.py, twice.
    home = tmp_path / "home"
    (home / ".nuke").mkdir(parents=True)
    (home / ".nuke" / "init.py").write_text("# the user's own settings\n")
    env = {**os.environ, "HOME": str(home), "USERPROFILE": str(home)}
    for _ in range(2):
        run_script(NUKE_INSTALL, env=env)
    target = home / ".nuke" / "moebius_video"
    assert (target / "moebius_hook_client.py").read_bytes() == CLIENT.read_bytes()
    init_py = (home / ".nuke" / "init.py").read_text()
    assert init_py == (
        "# the user's own settings\n"
        "import nuke\n"
        f"nuke.pluginAddPath({str(target)!r})  # moebius-video\n"
    ), init_py


def test_resolve_install_puts_the_client_beside_the_script(tmp_path):
    target = install_resolve(tmp_path / "Utility")
    assert sorted(p.name for p in target.iterdir()) == [
        "moebius_hook_client.py",
        "moebius_video_resolve.py",
    ]
    assert (target / "moebius_hook_client.py").read_bytes() == CLIENT.read_bytes()


def test_blender_zip_is_one_addon_folder_with_the_client(tmp_path):
    path = build_blender_addon(tmp_path)
    assert path == tmp_path / "moebius_video_vse.zip"
    addon = PLUGINS / "blender" / "moebius_video_vse"
    with zipfile.ZipFile(path) as archive:
        # One top folder: a legacy add-on install unpacks it into addons/, and Blender 4.2+
        # finds the extension manifest in a single sub-folder.
        assert archive.namelist() == [
            "moebius_video_vse/__init__.py",
            "moebius_video_vse/blender_manifest.toml",
            "moebius_video_vse/moebius_hook_client.py",
        ]
        assert archive.read("moebius_video_vse/moebius_hook_client.py") == CLIENT.read_bytes()
        assert archive.read("moebius_video_vse/__init__.py") == (addon / "__init__.py").read_bytes()
    assert not list(tmp_path.glob("*.tmp-zip")), "the temporary zip was left behind"


def test_blender_zip_depends_on_the_sources_only(tmp_path):
    first = build_blender_addon(tmp_path / "a")
    second = build_blender_addon(tmp_path / "b" / "named.zip")
    assert second.name == "named.zip"
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize(
    "script", ["nuke/install.py", "resolve/install.py", "blender/build_addon.py"]
)
def test_install_scripts_say_what_they_do(script):
    assert "usage:" in run_script(PLUGINS / script, "--help")
