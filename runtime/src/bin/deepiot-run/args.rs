//! Command-line parsing by hand (no clap: it would add about 300 KiB to the board binary).
use crate::prelude::*;
use crate::{shown, Failure, Result};

/// An argument or a path, as the bytes the OS passed (paths need not be UTF-8).
pub type Arg = Vec<u8>;

/// Largest `--iterations`: every latency is kept (8 bytes each) to compute percentiles.
pub const MAX_ITERATIONS: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help(Topic),
    Version,
    Run(RunOpts),
    Bench(BenchOpts),
    Info(InfoOpts),
    /// `point LINK TARGET`: make the symlink LINK point to TARGET in one rename(2).
    Point {
        link: Arg,
        target: Arg,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Main,
    Run,
    Bench,
    Info,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOpts {
    pub model: Arg,
    /// One file per graph input, in the graph's input order; `-` is standard input.
    pub inputs: Vec<Arg>,
    pub json: bool,
    /// Run examples holding NaN or infinity instead of refusing them (exit 4).
    pub allow_nonfinite: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOpts {
    pub model: Arg,
    pub iterations: usize,
    pub warmup: usize,
    pub seed: u64,
    pub json: bool,
    /// Also time each layer, in a second loop after the headline one.
    pub per_layer: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoOpts {
    pub model: Arg,
    pub json: bool,
}

const MAIN_HELP: &str = "\
deepiot-run: run a deepiot model on this board

USAGE:
    deepiot-run MODEL --input FILE [--input FILE2 ...] [--json] [--allow-nonfinite]
    deepiot-run bench MODEL [--iterations N] [--warmup K] [--seed S] [--per-layer] [--json]
    deepiot-run info MODEL [--json]
    deepiot-run point LINK TARGET
    deepiot-run --help | help [run|bench|info]
    deepiot-run --version

COMMANDS:
    (run)    Classify examples. MODEL is a deepiot .safetensors file; FILE holds one or
             more examples as raw little-endian f32 or as a float32 .npy array.
    bench    Time inference: load once, warm up, time each call, report latency
             percentiles, memory and heap allocations (which must be 0).
    info     List the layers with their shapes, parameters and multiply-accumulates.
    point    Make the symlink LINK point to TARGET atomically: a new link LINK.new,
             then rename(2) over LINK, so LINK always names the old or the new target
             (the board's slot switch; it needs no `mv -T`).

EXAMPLES:
    deepiot-run lenet.safetensors --input digit.npy
    deepiot-run lenet.safetensors --input batch.f32 --json > scores.json
    deepiot-run bench lenet.safetensors --iterations 1000 --warmup 50
    deepiot-run info lenet.small.safetensors

EXIT CODES:
    0  success
    1  runtime failure (inference refused, stdout closed, bench saw heap allocations)
    2  usage error (unknown option, missing or malformed argument)
    3  bad model file (unreadable, not a deepiot model, corrupt or inconsistent)
    4  bad input file (unreadable, not f32, length not a multiple of the model input,
       a value that is NaN or infinite)

Run `deepiot-run help run` (or bench, info) for the options of one command.
";

const RUN_HELP: &str = "\
deepiot-run MODEL --input FILE [--json] [--allow-nonfinite]

Runs MODEL on every example in FILE and prints, for each, the output scores and the
winning class (its name too, when the model file lists class names).

OPTIONS:
    -i, --input FILE   Examples for the model's input. Repeat once per graph input, in
                       the order `info` lists them. `-` reads standard input.
                       Formats:
                         *.npy  NumPy array, dtype float32 little-endian ('<f4'),
                                C order; shape [N, ...input shape] or exactly the input
                                shape (one example) or flat.
                         other  raw little-endian f32 values, no header; the length must
                                be a multiple of the model's input length (N examples
                                back to back).
                       From NumPy: np.save('x.npy', x.astype('<f4')) or
                       x.astype('<f4').tofile('x.f32').
        --json         One JSON object on stdout: model, inputs, outputs, classes and
                       `examples: [{index, scores, class, label}]`.
        --allow-nonfinite
                       Run examples that hold NaN or infinity. Without it such an input
                       is refused (exit 4, naming the example and element): a sensor that
                       fails that way must get an error, not a confident class.
    -h, --help         This text.

Example:
    deepiot-run har.small.safetensors --input windows.npy --json
";

const BENCH_HELP: &str = "\
deepiot-run bench MODEL [--iterations N] [--warmup K] [--seed S] [--per-layer] [--json]

Loads MODEL once, runs it K times to warm caches, then times N single inferences one by
one (monotonic clock) on deterministic pseudo-random inputs in [-1, 1). Prints latency
in microseconds (mean, std, p50, p99, min, max), throughput, weight and arena bytes,
peak resident memory (VmHWM), parameters, multiply-accumulates, and the number of heap
allocations during the timed loop. That number must be 0: if it is not, the command
fails with exit code 1.

With --per-layer, a second loop of N runs reads the clock between layers and prints each
layer's p50 and mean and its share of the summed means, in execution order: where the
time goes. The headline latency comes from the first loop, without those clock reads.

OPTIONS:
    -n, --iterations N   Timed runs (default 1000, at most 1000000).
    -w, --warmup K       Untimed runs first (default 20).
        --seed S         Seed of the input values (default 42).
        --per-layer      Also time every layer (a second loop of N runs).
        --json           One JSON object on stdout; latency fields end in `_us`.
    -h, --help           This text.

Build with --release: a debug build is 10-50x slower and the command warns about it.
";

const INFO_HELP: &str = "\
deepiot-run info MODEL [--json]

Describes MODEL without running it: inputs, outputs, class names, provenance (task,
method, accuracy...), and one line per layer with its op, inputs, output shape,
parameters and multiply-accumulates; then weight bytes, arena bytes and totals.

OPTIONS:
        --json   One JSON object on stdout.
    -h, --help   This text.
";

/// The help text for a topic.
pub fn help(topic: Topic) -> &'static str {
    match topic {
        Topic::Main => MAIN_HELP,
        Topic::Run => RUN_HELP,
        Topic::Bench => BENCH_HELP,
        Topic::Info => INFO_HELP,
    }
}

/// Splits `--name=value` and keeps everything else as it is.
fn split_eq(arg: &[u8]) -> Result<(String, Option<String>)> {
    let Ok(s) = core::str::from_utf8(arg) else {
        return Err(Failure::usage(format!(
            "option {} is not valid UTF-8",
            shown(arg)
        )));
    };
    match s.split_once('=') {
        Some((name, value)) if s.starts_with("--") => Ok((name.into(), Some(value.into()))),
        _ => Ok((s.into(), None)),
    }
}

fn number<T: core::str::FromStr>(option: &str, value: &str) -> Result<T> {
    value.trim().parse::<T>().map_err(|_| {
        Failure::usage(format!(
            "{option} needs a whole number, got `{value}` (e.g. {option} 100)"
        ))
    })
}

/// What the options of every command collect before they are checked.
#[derive(Default)]
struct Raw {
    positional: Vec<Arg>,
    inputs: Vec<Arg>,
    json: bool,
    allow_nonfinite: bool,
    per_layer: bool,
    iterations: Option<usize>,
    warmup: Option<usize>,
    seed: Option<u64>,
    help: bool,
    version: bool,
    /// Options given, to reject those that do not belong to the command.
    seen: Vec<&'static str>,
}

/// Parses the arguments after the program name.
pub fn parse(argv: &[Arg]) -> Result<Command> {
    let mut raw = Raw::default();
    let mut it = argv.iter();
    let mut only_positional = false;
    while let Some(arg) = it.next() {
        let is_option = !only_positional && arg.len() > 1 && arg[0] == b'-';
        if !is_option {
            raw.positional.push(arg.clone());
            continue;
        }
        let (name, inline) = split_eq(arg)?;
        let mut value = |opt: &str| -> Result<Arg> {
            match &inline {
                Some(v) => Ok(v.as_bytes().to_vec()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| Failure::usage(format!("{opt} needs a value"))),
            }
        };
        let flag_only = |opt: &str| -> Result<()> {
            match inline {
                Some(_) => Err(Failure::usage(format!("{opt} takes no value"))),
                None => Ok(()),
            }
        };
        match name.as_str() {
            "--" => only_positional = true,
            "-h" | "--help" => {
                flag_only(&name)?;
                raw.help = true;
            }
            "-V" | "--version" => {
                flag_only(&name)?;
                raw.version = true;
            }
            "--json" => {
                flag_only(&name)?;
                raw.json = true;
                raw.seen.push("--json");
            }
            "--per-layer" => {
                flag_only(&name)?;
                raw.per_layer = true;
                raw.seen.push("--per-layer");
            }
            "--allow-nonfinite" => {
                flag_only(&name)?;
                raw.allow_nonfinite = true;
                raw.seen.push("--allow-nonfinite");
            }
            "-i" | "--input" => {
                raw.inputs.push(value("--input")?);
                raw.seen.push("--input");
            }
            "-n" | "--iterations" => {
                let v = value("--iterations")?;
                raw.iterations = Some(number("--iterations", &shown(&v))?);
                raw.seen.push("--iterations");
            }
            "-w" | "--warmup" => {
                let v = value("--warmup")?;
                raw.warmup = Some(number("--warmup", &shown(&v))?);
                raw.seen.push("--warmup");
            }
            "--seed" => {
                let v = value("--seed")?;
                raw.seed = Some(number("--seed", &shown(&v))?);
                raw.seen.push("--seed");
            }
            other => {
                return Err(Failure::usage(format!("unknown option `{other}`")));
            }
        }
    }

    let word = |i: usize| {
        raw.positional
            .get(i)
            .and_then(|s| core::str::from_utf8(s).ok())
    };
    let first = word(0);
    if first == Some("point") && !raw.help {
        if !raw.seen.is_empty() || raw.version {
            return Err(Failure::usage(
                "`point` takes no options: deepiot-run point LINK TARGET",
            ));
        }
        return match &raw.positional[1..] {
            [link, target] => Ok(Command::Point {
                link: link.clone(),
                target: target.clone(),
            }),
            _ => Err(Failure::usage("usage: deepiot-run point LINK TARGET")),
        };
    }
    let (topic, rest_start) = match first {
        Some("bench") => (Topic::Bench, 1),
        Some("info") => (Topic::Info, 1),
        Some("run") => (Topic::Run, 1),
        Some("help") => {
            let t = match word(1) {
                None => Topic::Main,
                Some("run") => Topic::Run,
                Some("bench") => Topic::Bench,
                Some("info") => Topic::Info,
                Some(other) => {
                    return Err(Failure::usage(format!(
                        "no help on `{other}`; topics: run, bench, info"
                    )))
                }
            };
            return Ok(Command::Help(t));
        }
        _ => (Topic::Run, 0),
    };
    if raw.help {
        // `deepiot-run MODEL --help` (no command word) still means the main help.
        return Ok(Command::Help(if rest_start == 0 {
            Topic::Main
        } else {
            topic
        }));
    }
    if raw.version {
        return Ok(Command::Version);
    }
    let rest = &raw.positional[rest_start..];
    if rest.is_empty() {
        if rest_start == 0 && raw.seen.is_empty() {
            return Ok(Command::Help(Topic::Main));
        }
        return Err(Failure::usage(format!(
            "missing MODEL: {}",
            match topic {
                Topic::Bench => "deepiot-run bench MODEL [--iterations N] [--warmup K]",
                Topic::Info => "deepiot-run info MODEL",
                _ => "deepiot-run MODEL --input FILE",
            }
        )));
    }
    if rest.len() > 1 {
        return Err(Failure::usage(format!(
            "unexpected argument `{}` (one MODEL per call; inputs go after --input)",
            shown(&rest[1])
        )));
    }
    let model = rest[0].clone();
    let allowed: &[&str] = match topic {
        Topic::Run | Topic::Main => &["--input", "--json", "--allow-nonfinite"],
        Topic::Bench => &[
            "--iterations",
            "--warmup",
            "--seed",
            "--per-layer",
            "--json",
        ],
        Topic::Info => &["--json"],
    };
    if let Some(bad) = raw.seen.iter().find(|o| !allowed.contains(o)) {
        let cmd = match topic {
            Topic::Bench => "bench",
            Topic::Info => "info",
            _ => "run",
        };
        return Err(Failure::usage(format!(
            "{bad} does not apply to `{cmd}` (it takes {})",
            allowed.join(", ")
        )));
    }
    Ok(match topic {
        Topic::Run | Topic::Main => {
            if raw.inputs.is_empty() {
                return Err(Failure::usage(
                    "missing --input FILE (raw little-endian f32 or .npy); for timing without data use `deepiot-run bench MODEL`",
                ));
            }
            Command::Run(RunOpts {
                model,
                inputs: raw.inputs,
                json: raw.json,
                allow_nonfinite: raw.allow_nonfinite,
            })
        }
        Topic::Bench => {
            let iterations = raw.iterations.unwrap_or(1000);
            if iterations == 0 || iterations > MAX_ITERATIONS {
                return Err(Failure::usage(format!(
                    "--iterations must be between 1 and {MAX_ITERATIONS}, got {iterations}"
                )));
            }
            let warmup = raw.warmup.unwrap_or(20);
            if warmup > MAX_ITERATIONS {
                return Err(Failure::usage(format!(
                    "--warmup must be at most {MAX_ITERATIONS}, got {warmup}"
                )));
            }
            Command::Bench(BenchOpts {
                model,
                iterations,
                warmup,
                seed: raw.seed.unwrap_or(42),
                json: raw.json,
                per_layer: raw.per_layer,
            })
        }
        Topic::Info => Command::Info(InfoOpts {
            model,
            json: raw.json,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command> {
        let v: Vec<Arg> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        parse(&v)
    }

    #[test]
    fn run_is_the_default_command() {
        let c = p(&["m.safetensors", "--input", "x.npy", "--json"]).unwrap();
        assert_eq!(
            c,
            Command::Run(RunOpts {
                model: b"m.safetensors".to_vec(),
                inputs: vec![b"x.npy".to_vec()],
                json: true,
                allow_nonfinite: false,
            })
        );
        assert!(matches!(
            p(&["run", "m", "--input=x"]).unwrap(),
            Command::Run(_)
        ));
    }

    #[test]
    fn bench_options_and_defaults() {
        let c = p(&["bench", "m", "--iterations", "5", "-w", "2", "--json"]).unwrap();
        let Command::Bench(b) = c else { panic!() };
        assert_eq!((b.iterations, b.warmup, b.seed, b.json), (5, 2, 42, true));
        let Command::Bench(b) = p(&["bench", "m"]).unwrap() else {
            panic!()
        };
        assert_eq!((b.iterations, b.warmup, b.per_layer), (1000, 20, false));
        let Command::Bench(b) = p(&["bench", "m", "--per-layer"]).unwrap() else {
            panic!()
        };
        assert!(b.per_layer);
    }

    #[test]
    fn usage_errors_are_usage_errors() {
        for bad in [
            &["m"][..],
            &["m", "--input"],
            &["m", "--frobnicate"],
            &["bench", "m", "--iterations", "x"],
            &["bench", "m", "--iterations", "0"],
            &["bench", "m", "--iterations", "-3"],
            &["bench", "m", "--input", "x"],
            &["bench", "m", "--per-layer=yes"],
            &["m", "--per-layer", "--input", "x"],
            &["info"],
            &["m", "n", "--input", "x"],
            &["m", "--json=yes", "--input", "x"],
            &["help", "nope"],
        ] {
            let e = p(bad).unwrap_err();
            assert_eq!(e.kind, crate::Kind::Usage, "{bad:?}: {}", e.message);
        }
    }

    #[test]
    fn help_and_version() {
        assert_eq!(p(&[]).unwrap(), Command::Help(Topic::Main));
        assert_eq!(p(&["--help"]).unwrap(), Command::Help(Topic::Main));
        assert_eq!(p(&["bench", "-h"]).unwrap(), Command::Help(Topic::Bench));
        assert_eq!(p(&["help", "info"]).unwrap(), Command::Help(Topic::Info));
        assert_eq!(p(&["--version"]).unwrap(), Command::Version);
    }
}
