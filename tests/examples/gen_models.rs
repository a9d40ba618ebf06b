//! Writes the reference models with random weights, and matching example inputs, into a
//! folder, for trying `deepiot-run` (and for the README's figures):
//!
//! ```text
//! cargo run -p deepiot-tests --example gen_models -- /tmp/models [SEED]
//! ```
//!
//! Files: `lenet5.safetensors`, `deepsense_gru.safetensors`, `bilstm.safetensors`,
//! `branched.safetensors`, and for each `NAME.input.npy` (4 examples, uniform in [-1, 1)).
use deepiot_tests::{bilstm_model, branched_model, gru_model, lenet5_random, npy_bytes};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: gen_models DIR [SEED]");
        return ExitCode::from(2);
    };
    let seed = match args.next().map(|s| s.parse::<u64>()) {
        None => 1,
        Some(Ok(s)) => s,
        Some(Err(_)) => {
            eprintln!("SEED must be a whole number");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return ExitCode::from(1);
    }
    for (name, bytes) in [
        ("lenet5", lenet5_random(seed)),
        ("deepsense_gru", gru_model(seed)),
        ("bilstm", bilstm_model(seed)),
        ("branched", branched_model(seed)),
    ] {
        let model = deepiot_runtime::Model::load(&bytes).expect("generated models are valid");
        let mut shape = vec![4];
        shape.extend_from_slice(model.input_shape(0));
        let x = deepiot_tests::random_input(seed ^ 0xA5A5, 4 * model.input_len(0));
        let files = [
            (format!("{name}.safetensors"), bytes),
            (format!("{name}.input.npy"), npy_bytes(&shape, &x)),
        ];
        for (file, data) in files {
            let path = dir.join(&file);
            if let Err(e) = std::fs::write(&path, data) {
                eprintln!("cannot write {}: {e}", path.display());
                return ExitCode::from(1);
            }
            println!("{}", path.display());
        }
    }
    ExitCode::SUCCESS
}
