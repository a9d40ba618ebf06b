//! The board binary, end to end: `deepiot-run` built for i686-unknown-linux-musl with
//! target-cpu=silvermont (the Intel Edison's Atom), run natively (the x86-64 kernel runs
//! static 32-bit binaries) and under `qemu-i386 -cpu Westmere,+movbe,+rdrand` (no AVX:
//! an AVX instruction would die with SIGILL there as on the board), must agree with the
//! x86-64 runtime library on the same file and the same inputs.
//!
//! Needs: `rustup target add i686-unknown-linux-musl`, binutils (`objdump`) and qemu-user
//! (`qemu-i386`). A test whose tool is missing says it was skipped and which package to
//! install; with `DEEPIOT_REQUIRE_TOOLS=1` it fails instead (see `deepiot_tests::require`).
use deepiot_tests::{
    argmax, bilstm_model, branched_model, gru_model, host_scores, i686_runtime, lenet5_random,
    npy_bytes, random_input, raw_f32_bytes, require,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Largest difference allowed between the i686 binary and the x86-64 library.
const TOLERANCE: f32 = 1e-5;

/// The qemu CPU closest to Silvermont: SSE4.2, MOVBE, RDRAND, no AVX.
const QEMU_CPU: &str = "Westmere,+movbe,+rdrand";

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
    p
}

fn run(mut cmd: Command) -> Output {
    let shown = format!("{cmd:?}");
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"))
}

fn native(args: &[&Path]) -> Command {
    let mut c = Command::new(i686_runtime());
    c.args(args);
    c
}

fn under_qemu(args: &[&Path]) -> Command {
    let mut c = Command::new("qemu-i386");
    c.args(["-cpu", QEMU_CPU]).arg(i686_runtime()).args(args);
    c
}

/// Runs the command, requires exit code 0, and parses its stdout as JSON.
fn json_of(cmd: Command) -> Value {
    let shown = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{shown} failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{shown} printed no valid JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Checks the binary's `--json` scores against the x86-64 library, example by example.
fn assert_agrees(json: &Value, expected: &[Vec<f32>], what: &str) {
    let examples = json["examples"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no `examples` in {json}"));
    assert_eq!(examples.len(), expected.len(), "{what}: number of examples");
    for (i, (ex, want)) in examples.iter().zip(expected).enumerate() {
        assert_eq!(ex["index"], i, "{what}: example order");
        let got: Vec<f32> = ex["scores"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: example {i} has no scores: {ex}"))
            .iter()
            .map(|v| v.as_f64().expect("finite score") as f32)
            .collect();
        assert_eq!(got.len(), want.len(), "{what}: example {i} score count");
        let diff = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            diff <= TOLERANCE,
            "{what}: example {i}: max |i686 - x86-64| = {diff:e} > {TOLERANCE:e}\n  i686:   {got:?}\n  x86-64: {want:?}"
        );
        assert_eq!(
            ex["class"],
            argmax(want),
            "{what}: example {i}: the i686 binary picked another class"
        );
    }
}

/// One model, `n` examples: file, input, binary (native and optionally under qemu) vs host.
/// With `qemu`, the caller has checked that `qemu-i386` is installed.
fn check_model(name: &str, model: &[u8], n: usize, npy_shape: Option<&[usize]>, qemu: bool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let per = deepiot_runtime::Model::load(model)
        .expect("model loads")
        .input_len(0);
    let inputs = random_input(0xD1CE ^ n as u64, n * per);
    let model_path = write(dir.path(), &format!("{name}.safetensors"), model);
    let input_path = match npy_shape {
        Some(shape) => write(dir.path(), "input.npy", &npy_bytes(shape, &inputs)),
        None => write(dir.path(), "input.f32", &raw_f32_bytes(&inputs)),
    };
    let expected = host_scores(model, &inputs);
    let args = [
        model_path.as_path(),
        Path::new("--input"),
        input_path.as_path(),
        Path::new("--json"),
    ];
    assert_agrees(
        &json_of(native(&args)),
        &expected,
        &format!("{name} (native)"),
    );
    if qemu {
        assert_agrees(
            &json_of(under_qemu(&args)),
            &expected,
            &format!("{name} (qemu-i386 -cpu {QEMU_CPU})"),
        );
    }
}

/// The int8 file of a model (every weight matrix int8, as `deepiot quantize` writes it).
fn int8(model: &[u8]) -> Vec<u8> {
    deepiot::quantize::quantize_bytes(model)
        .expect("the model quantizes")
        .0
}

/// int8 sums are exact, so the board binary (whose SSE4.1 register loop the x86-64
/// library does not use) must give the x86-64 library's scores bit for bit.
#[test]
fn int8_models_agree_bit_for_bit_with_the_host_runtime() {
    for (name, bytes, n, npy) in [
        (
            "lenet5",
            int8(&lenet5_random(4)),
            5,
            Some(&[5, 1, 28, 28][..]),
        ),
        ("deepsense_gru", int8(&gru_model(4)), 3, None),
        ("bilstm", int8(&bilstm_model(4)), 2, None),
        (
            "branched",
            int8(&branched_model(4)),
            2,
            Some(&[2, 2, 64][..]),
        ),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let per = deepiot_runtime::Model::load(&bytes).unwrap().input_len(0);
        let inputs = random_input(0x18 ^ n as u64, n * per);
        let model = write(dir.path(), "m.safetensors", &bytes);
        let input = match npy {
            Some(shape) => write(dir.path(), "x.npy", &npy_bytes(shape, &inputs)),
            None => write(dir.path(), "x.f32", &raw_f32_bytes(&inputs)),
        };
        let json = json_of(native(&[
            model.as_path(),
            Path::new("--input"),
            input.as_path(),
            Path::new("--json"),
        ]));
        let expected = host_scores(&bytes, &inputs);
        for (i, (ex, want)) in json["examples"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&expected)
            .enumerate()
        {
            let got: Vec<f32> = ex["scores"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(&got, want, "{name} int8: example {i}, i686 vs x86-64");
        }
        assert_eq!(json["examples"].as_array().unwrap().len(), n, "{name}");
    }
}

#[test]
fn conv_model_agrees_with_the_host_runtime() {
    // Three LeNet-5 examples in one .npy of shape [3, 1, 28, 28].
    check_model("lenet5", &lenet5_random(5), 3, Some(&[3, 1, 28, 28]), false);
}

#[test]
fn gru_model_agrees_with_the_host_runtime() {
    // Raw f32, four examples back to back.
    check_model("deepsense_gru", &gru_model(6), 4, None, false);
}

#[test]
fn bidirectional_lstm_model_agrees_with_the_host_runtime() {
    // A flat .npy vector holding two examples.
    check_model("bilstm", &bilstm_model(7), 2, Some(&[2 * 16 * 8]), false);
}

#[test]
fn branched_model_agrees_with_the_host_runtime() {
    check_model("branched", &branched_model(8), 3, Some(&[3, 2, 64]), false);
}

#[test]
fn every_model_runs_under_qemu_without_avx() {
    if !require::tool(
        "every_model_runs_under_qemu_without_avx",
        "qemu-i386",
        "qemu-user",
    ) {
        return;
    }
    // qemu enforces CPUID: an AVX (or other post-Westmere) instruction is SIGILL here.
    check_model("lenet5", &lenet5_random(9), 2, Some(&[2, 1, 28, 28]), true);
    check_model("deepsense_gru", &gru_model(9), 2, None, true);
    check_model("bilstm", &bilstm_model(9), 1, None, true);
    check_model("branched", &branched_model(9), 1, Some(&[1, 2, 64]), true);
    // The int8 kernels (pmovsxbw is SSE4.1, which Silvermont and this CPU have).
    check_model(
        "lenet5_int8",
        &int8(&lenet5_random(9)),
        2,
        Some(&[2, 1, 28, 28]),
        true,
    );
    check_model("bilstm_int8", &int8(&bilstm_model(9)), 1, None, true);
    // The bench loop too (it uses the clock and the counting allocator).
    let dir = tempfile::tempdir().expect("temp dir");
    let model = write(dir.path(), "gru.safetensors", &gru_model(9));
    let cmd = under_qemu(&[
        Path::new("bench"),
        model.as_path(),
        Path::new("--iterations"),
        Path::new("5"),
        Path::new("--warmup"),
        Path::new("1"),
        Path::new("--json"),
    ]);
    let json = json_of(cmd);
    assert_eq!(json["allocations"], 0, "{json}");
}

#[test]
fn binary_is_a_static_32bit_i386_elf() {
    let bytes = std::fs::read(i686_runtime()).expect("read the binary");
    assert!(bytes.len() > 52, "too short for an ELF header");
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(bytes[4], 1, "EI_CLASS must be 1 (32-bit)");
    assert_eq!(bytes[5], 1, "EI_DATA must be 1 (little-endian)");
    let machine = u16::from_le_bytes([bytes[18], bytes[19]]);
    assert_eq!(machine, 3, "e_machine must be 3 (EM_386)");
    // Static: no program header asks for a dynamic loader (PT_INTERP = 3).
    let phoff = u32::from_le_bytes(bytes[28..32].try_into().unwrap()) as usize;
    let phentsize = u16::from_le_bytes([bytes[42], bytes[43]]) as usize;
    let phnum = u16::from_le_bytes([bytes[44], bytes[45]]) as usize;
    assert!(phnum > 0 && phentsize >= 32);
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let p_type = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_ne!(
            p_type, 3,
            "the binary has a PT_INTERP header: it is not static"
        );
    }
}

#[test]
fn binary_fits_the_size_budget() {
    // The board ships this file; README records the figure.
    let size = std::fs::metadata(i686_runtime()).expect("stat").len();
    assert!(
        size < 600 * 1024,
        "stripped static i686 deepiot-run is {size} bytes; the budget is 600 KiB"
    );
}

#[test]
fn binary_has_no_avx_or_vex_instructions() {
    if !require::tool(
        "binary_has_no_avx_or_vex_instructions",
        "objdump",
        "binutils",
    ) {
        return;
    }
    let out = run({
        let mut c = Command::new("objdump");
        c.arg("-d").arg(i686_runtime());
        c
    });
    assert!(out.status.success(), "objdump failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let instructions = text.lines().filter(|l| l.contains(":\t")).count();
    assert!(
        instructions > 10_000,
        "objdump shows only {instructions} instructions"
    );
    // `%ymm|%zmm`: 256/512-bit registers. `\sv[a-z0-9]+\s.*%xmm`: VEX-encoded 128-bit
    // forms (vaddps, vmovups ...). Both are AVX; the board has none.
    let wide: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("%ymm") || l.contains("%zmm"))
        .collect();
    let vex: Vec<&str> = text.lines().filter(|l| is_vex_xmm(l)).collect();
    assert!(
        wide.is_empty(),
        "{} ymm/zmm instructions, e.g. {:?}",
        wide.len(),
        &wide[..wide.len().min(5)]
    );
    assert!(
        vex.is_empty(),
        "{} VEX xmm instructions, e.g. {:?}",
        vex.len(),
        &vex[..vex.len().min(5)]
    );
}

/// `\sv[a-z0-9]+\s.*%xmm` (platform.md) without a regex crate.
fn is_vex_xmm(line: &str) -> bool {
    let b = line.as_bytes();
    (1..b.len()).any(|i| {
        if !b[i - 1].is_ascii_whitespace() || b[i] != b'v' {
            return false;
        }
        let mut j = i + 1;
        while j < b.len() && (b[j].is_ascii_lowercase() || b[j].is_ascii_digit()) {
            j += 1;
        }
        j > i + 1 && j < b.len() && b[j].is_ascii_whitespace() && line[j..].contains("%xmm")
    })
}

#[test]
fn vex_pattern_matches_what_it_should() {
    assert!(is_vex_xmm("  804a: c5 f8 58 c1 \tvaddps %xmm1,%xmm0,%xmm0"));
    assert!(!is_vex_xmm("  804a: 0f 58 c1    \taddps  %xmm1,%xmm0"));
    assert!(!is_vex_xmm("  804a: 0f 58 c1    \tmovd   %xmm1,%eax"));
}

#[test]
fn bench_reports_zero_allocations() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, bytes) in [
        ("lenet5", lenet5_random(3)),
        ("bilstm", bilstm_model(3)),
        ("lenet5_int8", int8(&lenet5_random(3))),
        ("bilstm_int8", int8(&bilstm_model(3))),
    ] {
        let model = write(dir.path(), &format!("{name}.safetensors"), &bytes);
        let json = json_of(native(&[
            Path::new("bench"),
            model.as_path(),
            Path::new("--iterations"),
            Path::new("50"),
            Path::new("--warmup"),
            Path::new("5"),
            Path::new("--json"),
        ]));
        assert_eq!(json["allocations"], 0, "{name}: {json}");
        assert_eq!(json["iterations"], 50);
        assert_eq!(json["unit"], "us");
        let host = deepiot_runtime::Model::load(&bytes).unwrap();
        assert_eq!(json["params"], host.param_count());
        assert_eq!(json["macs"], host.macs());
        assert_eq!(json["weight_bytes"], host.weight_bytes());
        assert_eq!(json["arena_bytes"], host.arena_bytes());
        let f = |k: &str| {
            json[k]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: `{k}` missing in {json}"))
        };
        assert!(f("min_us") > 0.0 && f("min_us") <= f("p50_us"));
        assert!(f("p50_us") <= f("p99_us") && f("p99_us") <= f("max_us"));
        assert!(f("min_us") <= f("mean_us") && f("mean_us") <= f("max_us"));
        // Peak RSS covers at least the weights.
        assert!(
            f("peak_rss_kib") * 1024.0 >= host.weight_bytes() as f64,
            "{json}"
        );
        assert_eq!(json["debug_build"], false);
    }
}

#[test]
fn bench_per_layer_names_every_computing_layer_and_its_share() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, bytes) in [("lenet5", lenet5_random(4)), ("bilstm", bilstm_model(4))] {
        let model = write(dir.path(), &format!("{name}.safetensors"), &bytes);
        let args = |extra: &'static str| {
            let mut a = vec![Path::new("bench"), model.as_path()];
            a.extend(["--iterations", "40", "--warmup", "3", extra].map(Path::new));
            a
        };
        let json = json_of(native(
            &[args("--per-layer"), vec![Path::new("--json")]].concat(),
        ));
        let report_json =
            deepiot_runtime::format::report::BenchReport::parse(json.to_string().as_bytes())
                .unwrap_or_else(|e| panic!("{name}: {e}: {json}"));
        assert_eq!(report_json.allocations, 0, "{name}");
        let layers = report_json.layers.expect("--per-layer reports layers");
        // Every node that computes (views such as flatten share memory), in graph order.
        let host = deepiot_runtime::Model::load(&bytes).unwrap();
        let expected: Vec<&str> = host
            .graph()
            .nodes
            .iter()
            .filter(|n| !matches!(n.op.kind(), "flatten" | "reshape"))
            .map(|n| n.name.as_str())
            .collect();
        let got: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(got, expected, "{name}");
        let share: f64 = layers.iter().map(|l| l.share).sum();
        assert!((share - 1.0).abs() < 1e-4, "{name}: shares sum to {share}");
        assert!(layers.iter().all(|l| l.p50_us >= 0.0 && l.mean_us >= 0.0));
        assert_eq!(
            layers.iter().map(|l| l.macs).sum::<u64>(),
            host.macs(),
            "{name}: the layers' MACs are the model's"
        );
        // Without the flag the report has no `layers` key at all.
        let plain = json_of(native(&[args("--json")].concat()));
        assert!(plain.get("layers").is_none(), "{plain}");
    }
}

fn exit_code(cmd: Command) -> (i32, String) {
    let out = run(cmd);
    let code = out.status.code().unwrap_or_else(|| {
        panic!(
            "killed by a signal (a crash): {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn exit_codes_are_the_documented_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let good = gru_model(4);
    let model = write(d, "gru.safetensors", &good);
    let per = 20 * 60;
    let input = write(d, "two.f32", &raw_f32_bytes(&random_input(1, 2 * per)));
    let p = Path::new;

    // 0: success, and `info` and `--help` work.
    assert_eq!(exit_code(native(&[&model, p("--input"), &input])).0, 0);
    assert_eq!(exit_code(native(&[p("info"), &model])).0, 0);
    assert_eq!(exit_code(native(&[p("--help")])).0, 0);
    let info = json_of(native(&[p("info"), &model, p("--json")]));
    assert_eq!(info["layers"].as_array().map(Vec::len), Some(5), "{info}");

    // 3: corrupt model files: truncated, flipped header length, garbage, missing, empty.
    let truncated = write(d, "truncated.safetensors", &good[..good.len() / 2]);
    let mut flipped = good.clone();
    flipped[0] ^= 0x40;
    let flipped = write(d, "flipped.safetensors", &flipped);
    let garbage = write(d, "garbage.safetensors", b"definitely not a model");
    let empty = write(d, "empty.safetensors", b"");
    for bad in [
        truncated.as_path(),
        &flipped,
        &garbage,
        &empty,
        &d.join("missing.safetensors"),
        d,
    ] {
        let (code, err) = exit_code(native(&[bad, p("--input"), &input]));
        assert_eq!(code, 3, "model {}: {err}", bad.display());
        assert!(err.starts_with("deepiot-run: error: "), "{err}");
        let (code, _) = exit_code(native(&[p("bench"), bad, p("--iterations"), p("1")]));
        assert_eq!(code, 3, "bench on model {}", bad.display());
    }

    // 4: wrong-length inputs, non-f32 .npy, missing input.
    let short = write(d, "short.f32", &raw_f32_bytes(&random_input(1, per + 7)));
    let odd = write(d, "odd.f32", &[0u8; 4 * 10 + 3]);
    let empty_in = write(d, "empty.f32", b"");
    let wrong_npy = write(d, "wrong.npy", &npy_bytes(&[3, 7], &[0.0; 21]));
    let mut f64_npy = npy_bytes(&[per], &vec![0.0; per]);
    let at = f64_npy.windows(3).position(|w| w == b"<f4").unwrap();
    f64_npy[at..at + 3].copy_from_slice(b"<f8");
    let f64_npy = write(d, "float64.npy", &f64_npy);
    let fake_npy = write(d, "fake.npy", &raw_f32_bytes(&random_input(1, per)));
    for bad in [
        short.as_path(),
        &odd,
        &empty_in,
        &wrong_npy,
        &f64_npy,
        &fake_npy,
        &d.join("missing.f32"),
    ] {
        let (code, err) = exit_code(native(&[&model, p("--input"), bad]));
        assert_eq!(code, 4, "input {}: {err}", bad.display());
        assert!(err.starts_with("deepiot-run: error: "), "{err}");
    }
    let (_, err) = exit_code(native(&[&model, p("--input"), &short]));
    assert!(
        err.contains("not a multiple of the model's input length 1200"),
        "{err}"
    );

    // 2: usage errors.
    for args in [
        &[model.as_path()][..],
        &[&model, p("--input")],
        &[&model, p("--input"), &input, p("--bogus")],
        &[p("bench"), &model, p("--iterations"), p("many")],
        &[p("bench")],
    ] {
        let (code, err) = exit_code(native(args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("--help"), "{err}");
    }
}

#[test]
fn human_output_names_the_class() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = gru_model(11);
    let model = write(dir.path(), "gru.safetensors", &bytes);
    let x = random_input(2, 20 * 60);
    let input = write(dir.path(), "x.npy", &npy_bytes(&[20, 60], &x));
    let out = run(native(&[&model, Path::new("--input"), &input]));
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let class = argmax(&host_scores(&bytes, &x)[0]);
    let label = deepiot_tests::models::hhar_classes()[class].clone();
    assert!(
        text.starts_with(&format!("example 0: class {class} ({label})")),
        "{text}"
    );
}

#[test]
fn reads_examples_from_standard_input() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = bilstm_model(12);
    let model = write(dir.path(), "bilstm.safetensors", &bytes);
    let x = random_input(3, 2 * 16 * 8);
    let mut child = native(&[
        &model,
        Path::new("--input"),
        Path::new("-"),
        Path::new("--json"),
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .spawn()
    .expect("start deepiot-run");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&raw_f32_bytes(&x))
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{out:?}");
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_agrees(&json, &host_scores(&bytes, &x), "bilstm from stdin");
}
