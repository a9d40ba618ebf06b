//! `deepiot quickstart`: the whole path from a model to timed inference in the board
//! runtime, on a built-in default that needs no data and no board.
use crate::runtime_build::{build_runtime, EDISON_TRIPLE};
use anyhow::{bail, Context, Result};
use deepiot_format::{write, Graph, Op, Pool2d, TensorData};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The paper's LeNet-5 (431K parameters) with seeded random weights.
fn lenet5(seed: u64) -> Result<Vec<u8>> {
    let mut g = Graph::new("image", &[1, 28, 28]);
    let pool = Op::MaxPool2d(Pool2d { kernel: [2, 2], stride: [2, 2] });
    g.push("conv1", Op::Conv2d { out_channels: 20, kernel: [5, 5], stride: [1, 1], padding: [0, 0] });
    g.push("pool1", pool.clone());
    g.push("conv2", Op::Conv2d { out_channels: 50, kernel: [5, 5], stride: [1, 1], padding: [0, 0] });
    g.push("pool2", pool);
    g.push("flatten", Op::Flatten);
    g.push("fc1", Op::Dense { units: 500 });
    g.push("relu1", Op::Relu);
    g.push("fc2", Op::Dense { units: 10 });
    g.classes = (0..10).map(|d| d.to_string()).collect();
    let info = g.infer()?;
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    let mut values: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for p in info.params.iter().flatten() {
        let fan_in: usize = p.shape[1..].iter().product::<usize>().max(1);
        let bound = (1.0 / fan_in as f32).sqrt();
        let v = (0..p.len())
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * bound
            })
            .collect();
        values.push((p.name.clone(), p.shape.clone(), v));
    }
    let tensors: Vec<TensorData> =
        values.iter().map(|(n, s, v)| TensorData { name: n, shape: s, values: v }).collect();
    let mut prov = BTreeMap::new();
    prov.insert("task".to_string(), "quickstart".to_string());
    prov.insert("weights".to_string(), format!("random, seed {seed}"));
    Ok(write(&g, &prov, &tensors)?)
}

pub fn run(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let model = out.join("lenet5-random.safetensors");
    std::fs::write(&model, lenet5(7)?).with_context(|| format!("cannot write {}", model.display()))?;
    println!("[1/3] wrote {} (LeNet-5 shape, random weights)", model.display());
    crate::inspect::run(&model, false)?;

    println!("[2/3] building the board runtime for {EDISON_TRIPLE} ...");
    let bin = build_runtime(EDISON_TRIPLE)?;
    let size = std::fs::metadata(&bin)?.len();
    println!("      {} ({} KiB, static 32-bit)", bin.display(), size / 1024);

    println!("[3/3] timing the model in the i686 runtime on this machine:");
    let status = Command::new(&bin)
        .arg("bench")
        .arg(&model)
        .args(["--iterations", "500", "--warmup", "50"])
        .status()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !status.success() {
        bail!("the runtime failed on {}", model.display());
    }
    Ok(())
}
