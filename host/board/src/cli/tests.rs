//! Every board command's flags against its config: leaving out every flag (giving only
//! the required arguments) means exactly the config's `Default`, so a library caller and
//! the command line do the same; and the flags reach their fields.
use super::bench::BenchArgs;
use super::deploy::DeployArgs;
use super::flash::FlashArgs;
use super::image::{BuildArgs, InspectArgs};
use super::runtime::RuntimeArgs;
use super::status::StatusArgs;
use crate::board::bench::BenchConfig;
use crate::board::deploy::DeployConfig;
use crate::board::flash::FlashConfig;
use crate::board::image::{ImageBuildConfig, ImageInspectConfig};
use crate::board::status::StatusConfig;
use crate::board::TargetConfig;
use std::fmt::Debug;
use std::path::PathBuf;

/// The config that the command line `args` of `A` gives.
fn config<A, C>(args: &[&str]) -> C
where
    A: clap::Args + clap::FromArgMatches,
    C: From<A>,
{
    match super::parse::<A, _, _>(args) {
        Ok(a) => C::from(a),
        Err(e) => panic!("{args:?} does not parse: {e}"),
    }
}

fn assert_config<A, C>(args: &[&str], want: C)
where
    A: clap::Args + clap::FromArgMatches,
    C: From<A> + PartialEq + Debug,
{
    assert_eq!(config::<A, C>(args), want, "{args:?}");
}

fn paths(p: &[&str]) -> Vec<PathBuf> {
    p.iter().map(PathBuf::from).collect()
}

#[test]
fn deploy_without_flags_is_the_default() {
    let want = DeployConfig {
        models: paths(&["a.safetensors", "b.safetensors"]),
        ..DeployConfig::default()
    };
    assert_config::<DeployArgs, _>(&["a.safetensors", "b.safetensors"], want);
    assert!(super::parse::<DeployArgs, _, _>(["--json"]).is_err());
}

#[test]
fn bench_without_flags_is_the_default() {
    let want = BenchConfig {
        models: paths(&["a.safetensors"]),
        ..BenchConfig::default()
    };
    assert_config::<BenchArgs, _>(&["a.safetensors"], want);
}

#[test]
fn flash_without_flags_is_the_default() {
    let want = FlashConfig {
        image: "s.img".into(),
        ..FlashConfig::default()
    };
    assert_config::<FlashArgs, _>(&["s.img"], want);
}

#[test]
fn image_build_and_inspect_without_flags_are_the_default() {
    let want = ImageBuildConfig {
        models: paths(&["m.safetensors"]),
        output: "s.img".into(),
        ..ImageBuildConfig::default()
    };
    assert_config::<BuildArgs, _>(&["m.safetensors", "-o", "s.img"], want);
    let want = ImageInspectConfig {
        image: "s.img".into(),
        ..ImageInspectConfig::default()
    };
    assert_config::<InspectArgs, _>(&["s.img"], want);
}

#[test]
fn board_status_without_flags_is_the_default() {
    assert_config::<StatusArgs, _>(&[], StatusConfig::default());
}

#[test]
fn runtime_without_flags_is_the_default_target() {
    let a: RuntimeArgs = match super::parse(Vec::<String>::new()) {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(a.target, TargetConfig::default().target);
}

/// The shared flag groups (ssh, target, transfer, print) reach their configs.
#[test]
fn shared_flags_reach_the_config() {
    let c: DeployConfig = config::<DeployArgs, _>(&[
        "m.safetensors",
        "-b",
        "root@h:2222",
        "-o",
        "A=1",
        "-o",
        "B=2",
        "--connect-timeout",
        "3",
        "-t",
        "x.toml",
        "--label",
        "v1",
        "--chunk-size",
        "8192",
        "--retries",
        "0",
        "--json",
        "-q",
    ]);
    assert_eq!(c.ssh.board.as_deref(), Some("root@h:2222"));
    assert_eq!(c.ssh.ssh_options, ["A=1", "B=2"]);
    assert_eq!(c.ssh.connect_timeout, 3);
    assert_eq!(c.target.target, "x.toml");
    assert_eq!(c.label.as_deref(), Some("v1"));
    assert_eq!((c.transfer.chunk_size, c.transfer.retries), (8192, 0));
    assert!(c.print.json && c.print.quiet);
    let c: FlashConfig = config::<FlashArgs, _>(&["s.img", "-t", "edison", "--dir", "/d"]);
    assert_eq!(c.target.as_deref(), Some("edison"));
    assert_eq!(c.ssh.dir.as_deref(), Some("/d"));
    let c: StatusConfig = config::<StatusArgs, _>(&["--targets-dir", "t", "-i", "k", "--json"]);
    assert_eq!(c.target.targets_dir, Some("t".into()));
    assert_eq!(c.ssh.identity, Some("k".into()));
    assert!(c.json);
}

/// The bench flags reach the config; an inventory and one board exclude each other.
#[test]
fn bench_flags_reach_the_config() {
    let args = [
        "a.safetensors",
        "--boards",
        "lab.toml",
        "-j",
        "2",
        "-n",
        "5",
        "-w",
        "1",
    ];
    let c: BenchConfig = config::<BenchArgs, _>(&args);
    assert_eq!(c.boards, Some("lab.toml".into()));
    assert_eq!((c.jobs, c.iterations, c.warmup), (2, 5, 1));
    let both = ["a.safetensors", "--boards", "lab.toml", "-b", "root@h"];
    assert!(super::parse::<BenchArgs, _, _>(both).is_err());
}

/// KEY=VALUE flags become maps (the last of a repeated key wins); anything else is a
/// usage error before the command runs.
#[test]
fn image_pairs_become_maps() {
    let c: ImageBuildConfig = config::<BuildArgs, _>(&[
        "m.safetensors",
        "-o",
        "s.img",
        "--config",
        "hz=100",
        "--config",
        "url=a=b",
        "--config",
        "hz=50",
        "--golden",
        "m=g.json",
        "--atol",
        "0.5",
        "--no-selftest",
    ]);
    assert_eq!(c.config["hz"], "50");
    assert_eq!(c.config["url"], "a=b");
    assert_eq!(c.golden["m"], PathBuf::from("g.json"));
    assert_eq!(c.tolerance.atol, 0.5);
    assert!(!c.selftest);
    let bad = ["m.safetensors", "-o", "s.img", "--config", "hz"];
    match super::parse::<BuildArgs, _, _>(bad) {
        Ok(_) => panic!("--config hz parsed"),
        Err(e) => assert!(e.to_string().contains("is not KEY=VALUE"), "{e}"),
    }
}
