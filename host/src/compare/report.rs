//! `report.md` (tables and figures) and `report.json` (every number) of a comparison.
use super::{plot, seeds, table, Comparison};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The Markdown report; `figures` are file names relative to the report.
pub fn markdown(c: &Comparison, figures: &[String]) -> String {
    let mut s = format!("# Compression methods compared: {}\n\n", c.task);
    s += &format!(
        "Test accuracy on the {} test examples of `{}`, measured in the host network for \
         every model. Parameters count the nonzero weights plus every bias; FLOPs are \
         2 x the multiply-adds those weights take part in, per example.\n",
        c.test_examples, c.data
    );
    match &c.runtime {
        Some(r) => {
            s += &format!(
                "Latency: median (p50) per example of `deepiot-run bench` ({} iterations after {} \
                 warm-up) with `{r}`, every model timed in one run in the order listed. For a \
                 model with both a dense and a sparse file the faster is reported (as the \
                 paper did for DyNS), and its file size with it.\n",
                c.iterations, c.warmup
            )
        }
        None => s += "Latency was not measured (`--no-bench`).\n",
    }
    if let Some(e) = &c.energy {
        s += &format!(
            "Energy per inference is an **estimate**, not a measurement: p50 x {} W, the \
             board's active power from its target description ({}). With one power figure \
             for every model, the estimated energy change is the p50 change; the paper \
             measured 72.2-95.7 % less energy on an Edison.\n",
            e.watts, e.source
        );
    }
    let several = seeds::has_several(c);
    s += "\n## Summary\n\n";
    s += &table::summary(c);
    if several {
        s += "\n## Mean ± standard deviation over seeds\n\n";
        s += "Each method at each target, over its seeds (search and fine-tuning seeded \
              alike); the verdict and the figures below read these means.\n\n";
        s += &seeds::table(c);
    }
    s += &format!("\n## At equal accuracy (within {} point)\n\n", c.within_pt);
    s += &table::equal_accuracy(&seeds::by_mean(c));
    s += "\n## Per layer (units kept, share of the layer's parameters kept)\n\n";
    s += &table::per_layer(c);
    s += "\n## Figures\n\n";
    for f in figures.iter().filter(|f| f.ends_with(".png")) {
        let svg = f.replace(".png", ".svg");
        s += &format!("![{f}]({f})\n\n([SVG]({svg}))\n\n");
    }
    s
}

/// Writes `report.json`, the figures and `report.md` into `dir`; returns their paths.
pub fn write(c: &Comparison, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = dir.join("report.json");
    crate::paths::write_atomic(&json, &serde_json::to_vec_pretty(c)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    let mut files = plot::draw_all(&seeds::by_mean(c), dir)?;
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let md = dir.join("report.md");
    crate::paths::write_atomic(&md, markdown(c, &names).as_bytes())
        .with_context(|| format!("cannot write {}", md.display()))?;
    println!("{}", table::summary(c));
    println!("wrote {} and {}", md.display(), json.display());
    files.push(json);
    files.push(md);
    Ok(files)
}
