"""node_files on real files in a temporary directory."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat

import pytest
from module_args import patch_module_args

from ansible_collections.netboot.dhcp_failover.plugins.modules import node_files


def run(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit):
        node_files.main()
    return json.loads(capsys.readouterr().out)


def read(path):
    with open(path) as handle:
        return handle.read()


def test_writes_then_reports_nothing_to_do(tmp_path, capsys):
    conf, dropin = str(tmp_path / "a.conf"), str(tmp_path / "unit.d" / "x.conf")
    files = [{"path": conf, "content": "one\n", "mode": "0600"},
             {"path": dropin, "content": "[Unit]\n", "parents": True}]
    first = run(capsys, files=files, _ansible_diff=True)
    assert first["changed"] is True and first["files"][conf] == {"changed": True, "differs": True}
    assert read(conf) == "one\n" and stat.S_IMODE(os.stat(conf).st_mode) == 0o600
    assert read(dropin) == "[Unit]\n" and stat.S_IMODE(os.stat(os.path.dirname(dropin)).st_mode) == 0o755
    assert [d["after"] for d in first["diff"]] == ["one\n", "[Unit]\n"]
    second = run(capsys, files=files)
    assert second["changed"] is False
    assert second["files"][dropin] == {"changed": False, "differs": False}


def test_a_mode_change_alone_is_a_change(tmp_path, capsys):
    conf = str(tmp_path / "a.conf")
    run(capsys, files=[{"path": conf, "content": "x"}])
    result = run(capsys, files=[{"path": conf, "content": "x", "mode": "0640"}])
    assert result["files"][conf] == {"changed": True, "differs": False}
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o640


def test_check_mode_reports_and_writes_nothing(tmp_path, capsys):
    conf, new = str(tmp_path / "a.conf"), str(tmp_path / "new.d" / "b.conf")
    (tmp_path / "a.conf").write_text("old\n")
    files = [{"path": conf, "content": "new\n"}, {"path": new, "content": "b", "parents": True}]
    result = run(capsys, files=files, _ansible_check_mode=True, _ansible_diff=True)
    assert result["changed"] is True and result["files"][new]["changed"] is True
    assert result["diff"][0]["before"] == "old\n" and result["diff"][0]["after"] == "new\n"
    assert read(conf) == "old\n" and not (tmp_path / "new.d").exists()


def test_compare_only_never_writes(tmp_path, capsys):
    live = str(tmp_path / "live.conf")
    (tmp_path / "live.conf").write_text("old")
    result = run(capsys, files=[{"path": live, "content": "new", "write": False}])
    assert result["changed"] is False and result["files"][live] == {"changed": False, "differs": True}
    assert read(live) == "old"
    missing = str(tmp_path / "missing.conf")
    assert run(capsys, files=[{"path": missing, "content": "", "write": False}])["files"][missing]["differs"] is True


def test_absent_removes_once(tmp_path, capsys):
    path = str(tmp_path / "override.conf")
    (tmp_path / "override.conf").write_text("x")
    assert run(capsys, files=[{"path": path, "state": "absent"}])["files"][path] == {"changed": True, "differs": True}
    assert not os.path.exists(path)
    assert run(capsys, files=[{"path": path, "state": "absent"}])["changed"] is False


def test_private_contents_stay_out_of_the_output(tmp_path, capsys):
    key = str(tmp_path / "omapi.key")
    text = "c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    result = run(capsys, private_files=[{"path": key, "content": text, "mode": "0640"}], _ansible_diff=True)
    assert result["files"][key]["changed"] is True and result["diff"] == []
    assert text not in json.dumps(result)
    assert read(key) == text


@pytest.mark.parametrize("files,message", [
    ([{"path": "relative.conf", "content": "x"}], "path 'relative.conf' is relative"),
    ([{"path": "{tmp}/none"}], "has state=present and no content"),
    ([{"path": "{tmp}/x", "content": "a", "write": False}] * 2, "is listed twice"),
])
def test_bad_input_is_named(tmp_path, capsys, files, message):
    files = [dict(item, path=item["path"].format(tmp=tmp_path)) for item in files]
    result = run(capsys, files=files)
    assert result["failed"] is True and message in result["msg"]
