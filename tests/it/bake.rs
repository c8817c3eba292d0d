//! `depot bake --print` against `docker buildx bake --print` (buildx 0.13.1 from Debian
//! trixie, installed by scripts/test.sh): for every case of `tests/bake-corpus/cases.json` (a
//! directory of bake files, the arguments and the environment), both print the same JSON.
//! Then the errors: a file that does not parse names its line and column; an unknown target
//! lists the known ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use depot_tests::{text, workspace_bin};
use serde_json::Value;

/// A case of the corpus: `{"dir": …, "args": […], "env": {…}}`.
struct Case {
    dir: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
}

impl Case {
    fn from_json(case: &Value) -> Case {
        let strings = |v: &Value| v.as_str().expect("a string").to_owned();
        Case {
            dir: strings(&case["dir"]),
            args: case["args"]
                .as_array()
                .expect("args")
                .iter()
                .map(strings)
                .collect(),
            env: case["env"]
                .as_object()
                .map(|env| env.iter().map(|(k, v)| (k.clone(), strings(v))).collect())
                .unwrap_or_default(),
        }
    }
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bake-corpus")
}

/// `command` run in `dir` with `env` added; its output.
fn run(mut command: Command, dir: &Path, env: &BTreeMap<String, String>) -> Output {
    command
        .current_dir(dir)
        .envs(env)
        .output()
        .unwrap_or_else(|err| panic!("running {command:?}: {err}"))
}

fn depot_bake(args: &[&str]) -> Command {
    let mut command = Command::new(workspace_bin("depot"));
    command.arg("bake").args(args);
    command
}

#[test]
fn print_writes_what_buildx_bake_prints_for_every_case_of_the_corpus() {
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(corpus().join("cases.json")).unwrap())
            .unwrap();
    for case in cases
        .as_array()
        .expect("a list of cases")
        .iter()
        .map(Case::from_json)
    {
        let dir = corpus().join(&case.dir);
        let mut buildx = Command::new("docker");
        buildx
            .args(["buildx", "bake"])
            .args(&case.args)
            .arg("--print");
        let theirs = run(buildx, &dir, &case.env);
        assert!(
            theirs.status.success(),
            "docker buildx bake {:?} in {} failed (is docker-buildx installed? scripts/test.sh \
             installs it): {}",
            case.args,
            case.dir,
            text(&theirs.stderr)
        );
        let mut ours = depot_bake(&[]);
        ours.args(&case.args).arg("--print");
        let ours = run(ours, &dir, &case.env);
        assert!(
            ours.status.success(),
            "depot bake {:?} in {}: {}",
            case.args,
            case.dir,
            text(&ours.stderr)
        );
        assert_eq!(
            text(&ours.stdout),
            text(&theirs.stdout),
            "depot bake {:?} --print in {} (env {:?})",
            case.args,
            case.dir,
            case.env
        );
    }
}

#[test]
fn a_file_that_does_not_parse_is_named_with_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-bake.hcl"),
        "target \"app\" {\n  tags = [\"a\"\n}\n",
    )
    .unwrap();
    let out = run(depot_bake(&["--print"]), dir.path(), &BTreeMap::new());
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("docker-bake.hcl:3:1:"), "{stderr}");

    std::fs::write(
        dir.path().join("docker-bake.hcl"),
        "target \"app\" {\n  tag = [\"a\"]\n}\n",
    )
    .unwrap();
    let out = run(depot_bake(&["--print"]), dir.path(), &BTreeMap::new());
    assert!(
        text(&out.stderr).contains("docker-bake.hcl: target \"app\": unsupported argument \"tag\""),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_unknown_target_lists_the_known_ones() {
    let dir = corpus().join("basic");
    let out = run(depot_bake(&["nope", "--print"]), &dir, &BTreeMap::new());
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("failed to find target nope (the files define: base, app, deps, api, worker, default, all)"),
        "{stderr}"
    );
    let empty = tempfile::tempdir().unwrap();
    let out = run(depot_bake(&["--print"]), empty.path(), &BTreeMap::new());
    assert!(
        text(&out.stderr).contains("couldn't find a bake definition"),
        "{}",
        text(&out.stderr)
    );
}
