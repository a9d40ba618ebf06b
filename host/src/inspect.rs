//! `deepiot inspect`: what is in a model file.
use anyhow::{Context, Result};
use deepiot_format::parse;
use std::path::Path;

pub fn run(path: &Path, json: bool) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = parse(&bytes)
        .with_context(|| format!("{} is not a valid deepiot model", path.display()))?;
    let (g, info) = (&file.graph, &file.info);
    let params = info.param_count();
    let macs = info.total_macs(g);
    if json {
        let layers: Vec<serde_json::Value> = g
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                serde_json::json!({
                    "name": n.name, "op": n.op.kind(), "inputs": n.inputs,
                    "output_shape": info.node_shapes[i],
                    "params": info.params[i].iter().map(|p| p.len()).sum::<usize>(),
                    "macs": info.macs(g, i),
                })
            })
            .collect();
        let v = serde_json::json!({
            "file": path, "bytes": bytes.len(), "params": params, "weight_bytes": params * 4,
            "macs": macs, "inputs": g.inputs, "outputs": g.outputs, "classes": g.classes,
            "layers": layers, "provenance": file.provenance,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("{}  ({} bytes)", path.display(), bytes.len());
    for i in &g.inputs {
        println!("input  {:<12} {:?}", i.name, i.shape);
    }
    println!(
        "{:<14} {:<11} {:<18} {:>10} {:>12}",
        "layer", "op", "output", "params", "MACs"
    );
    for (i, n) in g.nodes.iter().enumerate() {
        let p: usize = info.params[i].iter().map(|p| p.len()).sum();
        println!(
            "{:<14} {:<11} {:<18} {:>10} {:>12}",
            n.name,
            n.op.kind(),
            format!("{:?}", info.node_shapes[i]),
            p,
            info.macs(g, i)
        );
    }
    println!(
        "total: {params} parameters ({} bytes of f32), {macs} MACs per example",
        params * 4
    );
    if !g.classes.is_empty() {
        println!("classes: {}", g.classes.join(", "));
    }
    for (k, v) in &file.provenance {
        println!("{k}: {v}");
    }
    Ok(())
}
