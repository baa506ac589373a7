"""`.wukong.yaml`: defaults, normalised paths, and errors that name the field, line and fix."""

from __future__ import annotations

import pytest

from wukong_core.errors import SpecError
from wukong_core.spec.repoconfig import RepoConfig, parse_repo_config


@pytest.mark.parametrize("data", [None, b"", b"  \n", b"# only a comment\n", b"---\n"])
def test_no_or_empty_file_means_defaults(data: bytes | None) -> None:
    assert parse_repo_config(data) == RepoConfig("wukong/", "rendered/", None, None)


def test_every_key_is_read() -> None:
    data = b"specPath: vms/specs\noutputPath: deploy/vms\noutputBranch: deploy\nnamespace: vms\n"
    assert parse_repo_config(data) == RepoConfig("vms/specs/", "deploy/vms/", "deploy", "vms")


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("out", "out/"),
        ("./out/", "out/"),
        ("././out//sub/", "out/sub/"),
        ("out/./sub", "out/sub/"),
    ],
)
def test_output_path_is_normalised(written: str, normalised: str) -> None:
    assert parse_repo_config(f"outputPath: {written}\n".encode()).output_path == normalised


@pytest.mark.parametrize(
    ("data", "field", "line", "says"),
    [
        (b"specPath: wukong/\noutptPath: out/\n", "outptPath", 2, "unknown key 'outptPath'"),
        (b"specPath: wukong/\noutputPath: 3\n", "outputPath", 2, "must be a string"),
        (b"namespace: [a]\n", "namespace", 1, "must be a string"),
        (b"\noutputPath: /srv/out\n", "outputPath", 2, "relative to the repo root"),
        (b"outputPath: ../elsewhere\n", "outputPath", 1, "stay inside the repository"),
        (b"outputPath: .git/hooks\n", "outputPath", 1, "stay inside the repository"),
        (b"outputPath: ./\n", "outputPath", 1, "must not be the repo root"),
        (b"outputPath: .\n", "outputPath", 1, "must not be the repo root"),
        (b"specPath: wukong\noutputPath: ./wukong/out\n", "outputPath", 2, "inside specPath"),
        (b"specPath: wukong/\noutputPath: wukong\n", "outputPath", 2, "inside specPath"),
        (b"specPath: .\noutputPath: out\n", "outputPath", 2, "inside specPath the repo root"),
        (b"specPath: rendered/specs\n", "specPath", 1, "must not be inside outputPath"),
        (b"a: 1\nnamespace: Not_A_Label\n", "a", 1, "unknown key 'a'"),
        (b"namespace: Not_A_Label\n", "namespace", 1, "not a valid namespace"),
        (b"outputBranch: 'feature..x'\n", "outputBranch", 1, "not a valid branch name"),
        (b"outputBranch: has space\n", "outputBranch", 1, "not a valid branch name"),
        (b"protectDisks: yes\n", "protectDisks", 1, "must be confirm, never or off"),
        (b"\nprotectDisks: Never\n", "protectDisks", 2, "must be confirm, never or off"),
    ],
)
def test_bad_config_names_field_line_and_fix(data: bytes, field: str, line: int, says: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_repo_config(data)
    err = caught.value
    assert (err.file, err.field, err.line) == (".wukong.yaml", field, line)
    assert says in err.message
    assert str(err).startswith(f".wukong.yaml:{line}: {field}: ")


def test_unknown_key_lists_the_allowed_keys() -> None:
    allowed = (
        "branches, hookImage, hookNamespace, mode, namespace, outputBranch, outputPath, "
        "presyncHooks"
    )
    with pytest.raises(SpecError, match=f"allowed keys: {allowed}, protectDisks, specPath$"):
        parse_repo_config(b"output: x\n")


@pytest.mark.parametrize(
    ("data", "line"),
    [(b"specPath: [unclosed\n", 2), (b"- a\n- b\n", 1), (b"just a string\n", 1)],
)
def test_not_a_mapping_or_not_yaml_is_a_spec_error(data: bytes, line: int) -> None:
    with pytest.raises(SpecError) as caught:
        parse_repo_config(data)
    assert caught.value.file == ".wukong.yaml"
    assert caught.value.line == line


def test_mode_is_push_unless_pull_request_is_asked_for() -> None:
    assert parse_repo_config(None).mode == "push"
    assert parse_repo_config(b"mode: pull-request\n").mode == "pull-request"
    with pytest.raises(SpecError, match="mode: must be push or pull-request, like pull-request"):
        parse_repo_config(b"specPath: wukong/\nmode: pr\n")


def test_strict_types_refuse_yaml_coercions() -> None:
    # `outputBranch: 2024` is an int in YAML; a silent "2024" would hide a typo'd config.
    with pytest.raises(SpecError, match="outputBranch: must be a string"):
        parse_repo_config(b"outputBranch: 2024\n")


def test_presync_hook_settings_are_read_and_checked() -> None:
    config = parse_repo_config(
        b"presyncHooks: false\nhookImage: registry.local/wukong:1\nhookNamespace: ops\n"
    )
    assert (config.presync_hooks, config.hook_image, config.hook_namespace) == (
        False,
        "registry.local/wukong:1",
        "ops",
    )
    assert parse_repo_config(None).presync_hooks is True
    with pytest.raises(SpecError, match=r"^\.wukong\.yaml:2: hookNamespace: 'Ops!'"):
        parse_repo_config(b"presyncHooks: true\nhookNamespace: Ops!\n")
    with pytest.raises(SpecError, match=r"^\.wukong\.yaml:1: presyncHooks: must be true or false"):
        parse_repo_config(b"presyncHooks: 'no'\n")


def test_only_the_default_branch_is_rendered_unless_branches_are_listed() -> None:
    default = parse_repo_config(None)
    assert default.watches("main", "main")
    assert not default.watches("feature/x", "main")
    assert not default.watches("main", ""), "an unknown default branch renders nothing"
    listed = parse_repo_config(b"branches: [main, 'release/*']\n")
    assert listed.watches("release/1.2", "trunk") and listed.watches("main", "trunk")
    assert not listed.watches("feature/x", "main")
    with pytest.raises(SpecError, match=r"^\.wukong\.yaml:1: branches: must be a list"):
        parse_repo_config(b"branches: main\n")


@pytest.mark.parametrize("mode", ["confirm", "never", "off"])
def test_protect_disks_is_read_and_confirm_by_default(mode: str) -> None:
    assert RepoConfig().protect_disks == "confirm"
    assert parse_repo_config(f"protectDisks: {mode}\n".encode()).protect_disks == mode
