//! The comparison as Markdown tables, laid out like the paper's per-model tables: layers
//! down the side, one column per method, then the totals.
use super::{percent, Comparison, Entry};

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        // A separator before every digit with a multiple of three digits after it.
        if i > 0 && i % 3 == s.len() % 3 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn layer_name(layer: &str, direction: usize) -> String {
    if direction == 1 {
        format!("{layer} (backward)")
    } else {
        layer.to_string()
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    a as f64 / b.max(1) as f64
}

/// Per layer: units and share of parameters kept by each result.
pub fn per_layer(c: &Comparison) -> String {
    let mut s = String::from("| layer | original |");
    for r in &c.results {
        s += &format!(" {} |", r.label());
    }
    s += "\n|---|---:|";
    for _ in &c.results {
        s += "---:|";
    }
    s += "\n";
    for (i, l) in c.original.layers.iter().enumerate() {
        let units = if l.units_before > 0 {
            format!("{} units, ", l.units_before)
        } else {
            String::new()
        };
        s += &format!(
            "| {} | {units}{} params |",
            layer_name(&l.layer, l.direction),
            thousands(l.params_before as u64)
        );
        for r in &c.results {
            match r.layers.get(i) {
                Some(x) if x.units_before > 0 => {
                    s += &format!(
                        " {} units, {} |",
                        x.units_after,
                        percent(ratio(x.params_after, x.params_before))
                    )
                }
                Some(x) => s += &format!(" {} |", percent(ratio(x.params_after, x.params_before))),
                None => s += " |",
            }
        }
        s += "\n";
    }
    let row = |name: &str, f: &dyn Fn(&Entry) -> String| -> String {
        let mut s = format!("| **{name}** | {} |", f(&c.original));
        for r in &c.results {
            s += &format!(" {} |", f(r));
        }
        s + "\n"
    };
    s += &row("parameters", &|e| {
        format!(
            "{} ({})",
            thousands(e.params as u64),
            percent(e.kept_fraction)
        )
    });
    s += &row("test accuracy", &|e| {
        format!("{:.2} %", 100.0 * e.test_accuracy)
    });
    s += &row("model file", &|e| {
        format!("{} B ({})", thousands(e.deploy_bytes), e.deploy_format)
    });
    s += &row("latency (median)", &|e| match e.latency_us {
        Some(us) => format!("{us:.1} µs"),
        None => "—".into(),
    });
    s += &row("FLOPs", &|e| thousands(e.flops()));
    s
}

/// One line per model: size, accuracy, latency and their changes from the original.
pub fn summary(c: &Comparison) -> String {
    let o = &c.original;
    let mut s = String::from(
        "| model | source | parameters | kept | test accuracy | change | file bytes | format | latency mean | latency p50 | p50 change | FLOPs |\n\
         |---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n",
    );
    for e in std::iter::once(o).chain(&c.results) {
        let mean = e
            .bench_sparse
            .as_ref()
            .filter(|_| e.deploy_format == "sparse")
            .or(e.bench_dense.as_ref())
            .map_or("—".into(), |b| format!("{:.1} µs", b.mean_us));
        let lat_change = match (e.latency_us, o.latency_us) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:+.1} %", 100.0 * (a / b - 1.0)),
            _ => "—".into(),
        };
        s += &format!(
            "| {} | {} | {} | {} | {:.2} % | {:+.2} pt | {} | {} | {} | {} | {} | {} |\n",
            if e.method == "original" {
                "original".to_string()
            } else {
                e.label()
            },
            e.source,
            thousands(e.params as u64),
            percent(e.kept_fraction),
            100.0 * e.test_accuracy,
            100.0 * (e.test_accuracy - o.test_accuracy),
            thousands(e.deploy_bytes),
            e.deploy_format,
            mean,
            e.latency_us.map_or("—".into(), |us| format!("{us:.1} µs")),
            lat_change,
            thousands(e.flops()),
        );
    }
    s
}
