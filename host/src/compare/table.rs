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
    let energy = c.energy.as_ref();
    let mut s = String::from(
        "| model | source | parameters | kept | test accuracy | change | file bytes | format | latency mean | latency p50 | p50 change | FLOPs |",
    );
    s += if energy.is_some() {
        " energy (est.) |\n|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n"
    } else {
        "\n|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n"
    };
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
            "| {} | {} | {} | {} | {:.2} % | {:+.2} pt | {} | {} | {} | {} | {} | {} |",
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
        if let Some(en) = energy {
            s += &format!(
                " {} |",
                e.latency_us
                    .map_or("—".into(), |l| format!("{:.1} µJ", en.microjoules(l)))
            );
        }
        s += "\n";
    }
    s
}

/// The result of each method that keeps the fewest parameters while its accuracy stays
/// within `c.within_pt` points of the original's: the paper's "equal accuracy" reading.
pub fn best_within(c: &Comparison) -> Vec<&Entry> {
    let floor = c.original.test_accuracy - c.within_pt / 100.0 - 1e-9;
    let mut methods: Vec<&str> = Vec::new();
    for r in &c.results {
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
    }
    methods
        .into_iter()
        .filter_map(|m| {
            c.results
                .iter()
                .filter(|r| r.method == m && r.test_accuracy >= floor)
                .min_by(|a, b| a.kept_fraction.total_cmp(&b.kept_fraction))
        })
        .collect()
}

/// The equal-accuracy table and its verdict in words: does DeepIoT keep fewer
/// parameters and run faster than every baseline that reaches the same accuracy?
pub fn equal_accuracy(c: &Comparison) -> String {
    let o = &c.original;
    let best = best_within(c);
    let mut s = format!(
        "Per method, the result with the fewest parameters among those at most {} point below \
         the original's {:.2} %.\n\n",
        c.within_pt,
        100.0 * o.test_accuracy
    );
    let mut methods: Vec<&str> = Vec::new();
    for r in &c.results {
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
    }
    s += "| method | result | kept | test accuracy | latency (median) | FLOPs |\n|---|---|---:|---:|---:|---:|\n";
    for m in &methods {
        match best.iter().find(|e| e.method == *m) {
            Some(e) => {
                s += &format!(
                    "| {m} | {} | {} | {:.2} % | {} | {} |\n",
                    e.label(),
                    percent(e.kept_fraction),
                    100.0 * e.test_accuracy,
                    e.latency_us.map_or("—".into(), |us| format!("{us:.1} µs")),
                    thousands(e.flops())
                )
            }
            None => s += &format!("| {m} | none within {} point | | | | |\n", c.within_pt),
        }
    }
    let Some(d) = best.iter().find(|e| e.method == "deepiot") else {
        if methods.contains(&"deepiot") {
            s += "\nNo DeepIoT result is within the tolerance.\n";
        }
        return s;
    };
    s += "\n";
    for b in best.iter().filter(|e| e.method != "deepiot") {
        let fewer = match d.params.cmp(&b.params) {
            std::cmp::Ordering::Less => "fewer",
            std::cmp::Ordering::Equal => "as many",
            std::cmp::Ordering::Greater => "more",
        };
        let faster = match (d.latency_us, b.latency_us) {
            (Some(x), Some(y)) => Some(x < y),
            _ => None,
        };
        s += &format!(
            "- against {}: DeepIoT keeps {} parameters ({} vs {}){}.\n",
            b.method,
            fewer,
            percent(d.kept_fraction),
            percent(b.kept_fraction),
            match (faster, d.latency_us, b.latency_us) {
                (Some(f), Some(x), Some(y)) => format!(
                    " and runs {} ({x:.1} vs {y:.1} µs, {:.2}x)",
                    if f { "faster" } else { "slower" },
                    y / x
                ),
                _ => String::new(),
            }
        );
    }
    for m in methods
        .iter()
        .filter(|m| !best.iter().any(|e| e.method == **m))
    {
        s += &format!(
            "- {m}: no result within {} point, at any target tried.\n",
            c.within_pt
        );
    }
    s += &headline(d, &best);
    s
}

/// The paper's claim in one line: at equal accuracy DeepIoT keeps fewer parameters than
/// every baseline and runs at least as fast as the fastest of them.
fn headline(d: &Entry, best: &[&Entry]) -> String {
    let baselines: Vec<&&Entry> = best.iter().filter(|e| e.method != "deepiot").collect();
    if baselines.is_empty() {
        return String::new();
    }
    let fewest = baselines.iter().all(|b| d.params < b.params);
    let fastest = baselines
        .iter()
        .filter_map(|b| b.latency_us.map(|l| (l, b.method.as_str())))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    let mut s = format!(
        "\n**Verdict:** fewer parameters than every baseline at equal accuracy: **{}**",
        if fewest { "yes" } else { "no" }
    );
    if let (Some((l, m)), Some(x)) = (fastest, d.latency_us) {
        s += &format!(
            "; at least as fast as the fastest baseline ({m}, {l:.1} µs): **{}** ({x:.1} µs).\n",
            if x <= l { "yes" } else { "no" }
        );
    } else {
        s += ".\n";
    }
    s
}
