"""Passes from the user's own code: `--plugin MODULE` and the `tfc.passes` entry-point group.

The first tests run the real `tfc` process from a folder outside the repository, as a user
would; the rest load plugins in this process, with the registry restored after each test.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tfc.data import DEMO_MODEL
from tfc.errors import TfcError
from tfc.passes import base, get_pass, parse_pipeline, plugins, registered_passes

REPO = Path(__file__).resolve().parents[2]

# A plugin written against the documented API (docs/writing-a-pass.md), and nothing else.
MYPASSES = '''
from dataclasses import dataclass

from tfc.passes import Pass, PassResult, register_pass


@register_pass
class TagConvs(Pass):
    name = "my-pass"
    description = "tags each conv2d (plugin test)"

    @dataclass(frozen=True)
    class Options:
        label: str = "seen"

    def run(self, graph, ctx):
        convs = graph.nodes_of("conv2d")
        for node in convs:
            node.meta[self.options.label] = True
        ctx.decline("tag-linears", None, "no linear layer to tag — déjà vu")
        return PassResult(changed=bool(convs), stats={"tagged": len(convs)},
                          notes=f"tagged {len(convs)} convs ✓")
'''


def _tfc(args, cwd, *extra_path, flags=()):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *map(str, extra_path)]))
    return subprocess.run([sys.executable, *flags, "-m", "tfc.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=300)


@pytest.fixture
def user_folder(tmp_path) -> Path:
    """A folder outside the repository holding the user's model and their mypasses.py."""
    assert REPO not in tmp_path.parents
    shutil.copy(DEMO_MODEL, tmp_path / "model.onnx")
    (tmp_path / "mypasses.py").write_text(MYPASSES, encoding="utf-8")
    return tmp_path


def test_compile_runs_a_pass_from_the_users_folder(user_folder):
    proc = _tfc(["compile", "model.onnx", "--plugin", "mypasses", "--pipeline", "canonicalize,my-pass",
                 "-v", "--dump-ir", "dumps"], user_folder)
    assert proc.returncode == 0, proc.stderr
    assert "with pipeline: canonicalize,my-pass" in proc.stdout
    convs = (user_folder / "dumps" / "01-canonicalize.tfcir").read_text(encoding="utf-8").count(" = conv2d(")
    assert convs > 0
    # -v: its stats, notes and decline (not ASCII) in the log, each once
    assert re.search(rf"^tfc: pass my-pass: changed in [\d.]+ s \(tagged={convs}\)$", proc.stderr, re.M), proc.stderr
    assert f"pass my-pass notes:\ntagged {convs} convs ✓" in proc.stderr
    assert proc.stderr.count("my-pass: tag-linears declined: no linear layer to tag — déjà vu") == 1, proc.stderr
    # the dump: stats and notes in the header, the pass's meta on each conv2d
    dump = (user_folder / "dumps" / "02-my-pass.tfcir").read_text(encoding="utf-8")
    assert dump.startswith(f"# tfc IR after pass 2: my-pass\n# pipeline: canonicalize,my-pass\n"
                           f"# stats: tagged={convs}\n#\n# tagged {convs} convs ✓\n")
    tagged = [line for line in dump.splitlines() if " = conv2d(" in line]
    assert len(tagged) == convs and all(line.endswith('  # meta: node {"seen": true}') for line in tagged)
    # the dump replays, meta and all, with the plugin given as a file this time
    replay = _tfc(["inspect", "dumps/02-my-pass.tfcir", "--plugin", "./mypasses.py",
                   "--pipeline", "my-pass{label=again}"], user_folder)
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout.count('# meta: node {"again": true, "seen": true}') == convs


@pytest.mark.skipif(sys.version_info < (3, 11), reason="python -P (no current directory on sys.path) is 3.11+")
def test_plugin_is_found_in_the_current_directory_without_it_on_sys_path(user_folder):
    """The `tfc` console script does not put the current directory on sys.path; -P mimics it."""
    proc = _tfc(["passes", "--plugin", "mypasses"], user_folder, flags=["-P"])
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^from plugin 'mypasses':\nmy-pass +tags each conv2d", proc.stdout, re.M), proc.stdout
    assert proc.stdout.startswith("built-in passes:\ncanonicalize ")


@pytest.mark.parametrize("plugin, source, message", [
    ("nosuch", None, "plugin 'nosuch': no module named 'nosuch' on sys.path or in "),
    ("broken", "def f(:\n", "plugin 'broken' failed to import: SyntaxError: "),
    ("clash.py", "from tfc.passes import Pass, register_pass\n\n@register_pass\nclass Fuse(Pass):\n"
                 "    name = 'fuse'\n", "plugin 'clash.py': pass name 'fuse' is already registered by "
                                       "tfc.passes.fuse.Fuse"),
])
def test_a_bad_plugin_is_one_message_naming_it_and_exit_2(user_folder, plugin, source, message):
    if source is not None:
        (user_folder / (plugin if plugin.endswith(".py") else plugin + ".py")).write_text(source)
    proc = _tfc(["compile", "model.onnx", "--plugin", "mypasses", "--plugin", plugin], user_folder)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"tfc: error: {message}"), proc.stderr
    assert "Traceback" not in proc.stderr


def _fake_distribution(folder: Path, entry_points: str, modules: dict[str, str]) -> Path:
    """An installed distribution `fakeplug 1.0` as importlib.metadata finds it on sys.path."""
    info = folder / "fakeplug-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{plugins.ENTRY_POINT_GROUP}]\n{entry_points}")
    for name, source in modules.items():
        (folder / f"{name}.py").write_text(source, encoding="utf-8")
    return folder


def test_entry_point_plugins_load_lazily_without_any_flag(user_folder, tmp_path_factory):
    site = _fake_distribution(tmp_path_factory.mktemp("site"), "tag = fakeplug_passes\n",
                              {"fakeplug_passes": MYPASSES})
    proc = _tfc(["passes"], user_folder, site)
    assert proc.returncode == 0, proc.stderr
    assert "\nfrom entry point 'tag = fakeplug_passes' of fakeplug 1.0 (group tfc.passes):\nmy-pass " \
        in proc.stdout, proc.stdout
    proc = _tfc(["compile", "model.onnx", "--pipeline", "canonicalize,my-pass", "-v"], user_folder, site)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"pass my-pass: changed in [\d.]+ s \(tagged=\d+\)", proc.stderr), proc.stderr
    lazy = subprocess.run(
        [sys.executable, "-c", "import sys, tfc.passes\nassert 'fakeplug_passes' not in sys.modules\n"
                               "tfc.passes.get_pass('canonicalize')\nassert 'fakeplug_passes' in sys.modules"],
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(site)])), cwd=user_folder,
        capture_output=True, text=True, timeout=300)
    assert lazy.returncode == 0, lazy.stderr


# ------------------------------------------------------------------------------- in process
@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """The registry and the plugin loader as before the test; tmp_path on sys.path."""
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    monkeypatch.setattr(plugins, "_origins", dict(plugins._origins))
    monkeypatch.setattr(plugins, "_loaded", {})
    registered_passes()   # the installed entry points, if any, before the test's own
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith(("plug_", "fakeplug")):
            del sys.modules[name]


def test_a_plugin_registers_once_and_says_where_its_passes_come_from(fresh):
    (fresh / "plug_a.py").write_text(MYPASSES, encoding="utf-8")
    module = plugins.load_plugin("plug_a")
    assert plugins.load_plugin("plug_a") is module
    cls = get_pass("my-pass")
    assert cls.__module__ == "plug_a" and plugins.pass_origin(cls) == "plugin 'plug_a'"
    assert plugins.pass_origin(get_pass("fuse")) == "built-in"
    assert parse_pipeline("my-pass{label=x}")[0].options.label == "x"


def test_a_plugin_that_fails_halfway_leaves_no_pass_behind(fresh):
    (fresh / "plug_half.py").write_text(MYPASSES.replace('"my-pass"', '"half-pass"') + "\nraise RuntimeError('late')\n")
    with pytest.raises(TfcError, match=r"plugin 'plug_half' failed to import: RuntimeError: late") as e:
        plugins.load_plugin("plug_half")
    assert isinstance(e.value.__cause__, RuntimeError)
    assert "half-pass" not in registered_passes()


def test_two_plugins_with_one_pass_name(fresh):
    (fresh / "plug_one.py").write_text(MYPASSES)
    (fresh / "plug_two.py").write_text(MYPASSES)
    plugins.load_plugin("plug_one")
    with pytest.raises(TfcError, match=r"plugin '.*plug_two.py': pass name 'my-pass' is already registered "
                                       r"by plug_one.TagConvs"):
        plugins.load_plugin(str(fresh / "plug_two.py"))
    assert get_pass("my-pass").__module__ == "plug_one"


def test_entry_points_name_modules_or_pass_classes_and_load_once(fresh, monkeypatch):
    import importlib.metadata
    source = MYPASSES.replace("@register_pass\n", "")   # the entry point names the class itself
    _fake_distribution(fresh, "by-class = fakeplug_cls:TagConvs\n", {"fakeplug_cls": source})
    scans = []
    real = importlib.metadata.entry_points
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: scans.append(kw) or real(**kw))
    assert "my-pass" in registered_passes()
    get_pass("my-pass")
    parse_pipeline("canonicalize,my-pass")
    assert scans == [{"group": "tfc.passes"}]
    assert plugins.pass_origin(get_pass("my-pass")) == \
        "entry point 'by-class = fakeplug_cls:TagConvs' of fakeplug 1.0 (group tfc.passes)"


def test_a_broken_entry_point_is_named_and_reported_again(fresh):
    _fake_distribution(fresh, "bad = fakeplug_missing\n", {})
    for _ in range(2):   # not swallowed after the first report
        with pytest.raises(TfcError, match=r"entry point 'bad = fakeplug_missing' of fakeplug 1.0 \(group "
                                           r"tfc.passes\) failed to import: ModuleNotFoundError"):
            get_pass("canonicalize")
