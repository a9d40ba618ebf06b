//! Non-negative least squares on relative error: the coefficients of one layer kind.
//!
//! Small problems (a few features, tens of samples), so the normal equations are solved
//! directly. A coefficient that comes out negative (a feature the data cannot separate
//! from the others, which would predict negative time somewhere) is dropped and the rest
//! refitted.

/// Below this many microseconds an error counts as if the time were this long: the
/// clock resolves tens of nanoseconds, so the relative error of a layer that takes
/// 0.05 µs is noise, and weighing it fully would bend the fit away from real layers.
pub const FLOOR_US: f64 = 0.5;

/// Coefficients minimising `Σ ((x_i · c - y_i) / max(y_i, FLOOR_US))²` with every
/// `c_j >= 0`. `rows[i]` are the features of sample `i`, `y[i] >= 0` its time.
pub fn fit_relative(rows: &[Vec<f64>], y: &[f64]) -> Vec<f64> {
    let width = rows.first().map_or(0, Vec::len);
    let mut active: Vec<bool> = (0..width)
        .map(|j| rows.iter().any(|r| r[j] != 0.0))
        .collect();
    loop {
        let cols: Vec<usize> = (0..width).filter(|&j| active[j]).collect();
        let c = solve_weighted(rows, y, &cols);
        let full = {
            let mut full = vec![0.0; width];
            for (&j, &v) in cols.iter().zip(&c) {
                full[j] = v;
            }
            full
        };
        match cols
            .iter()
            .zip(&c)
            .filter(|(_, &v)| v < 0.0)
            .min_by(|a, b| a.1.total_cmp(b.1))
        {
            Some((&j, _)) => active[j] = false,
            None => return full,
        }
    }
}

/// Least squares on the columns `cols`, each sample weighted by `1 / y`. Columns are
/// scaled to a largest value of 1 first, so counts of millions and a constant column
/// solve together.
fn solve_weighted(rows: &[Vec<f64>], y: &[f64], cols: &[usize]) -> Vec<f64> {
    let k = cols.len();
    let scale: Vec<f64> = cols
        .iter()
        .map(|&j| {
            rows.iter()
                .map(|r| r[j].abs())
                .fold(0.0, f64::max)
                .max(1e-300)
        })
        .collect();
    let mut ata = vec![vec![0.0; k]; k];
    let mut atb = vec![0.0; k];
    for (r, &yi) in rows.iter().zip(y) {
        let weight = 1.0 / yi.max(FLOOR_US);
        let a: Vec<f64> = cols
            .iter()
            .zip(&scale)
            .map(|(&j, s)| r[j] / s * weight)
            .collect();
        for p in 0..k {
            atb[p] += a[p] * yi * weight;
            for q in 0..k {
                ata[p][q] += a[p] * a[q];
            }
        }
    }
    solve(ata, atb)
        .iter()
        .zip(&scale)
        .map(|(c, s)| c / s)
        .collect()
}

/// Gaussian elimination with partial pivoting; a singular column gets 0.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        b.swap(col, pivot);
        if a[col][col].abs() < 1e-12 {
            continue;
        }
        let (top, below) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for (offset, row) in below.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            for (x, p) in row[col..n].iter_mut().zip(&pivot_row[col..n]) {
                *x -= f * p;
            }
            b[col + 1 + offset] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        if a[row][row].abs() < 1e-12 {
            continue;
        }
        let s: f64 = (row + 1..n).map(|c| a[row][c] * x[c]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_known_non_negative_coefficients() {
        // y = 2 + 0.5 a + 0 b, sampled without noise.
        let rows: Vec<Vec<f64>> = (1..20)
            .map(|i| vec![1.0, i as f64 * 1000.0, ((i * 7) % 5) as f64])
            .collect();
        let y: Vec<f64> = rows.iter().map(|r| 2.0 + 0.5 * r[1]).collect();
        let c = fit_relative(&rows, &y);
        assert!(
            (c[0] - 2.0).abs() < 1e-6 && (c[1] - 0.5).abs() < 1e-9,
            "{c:?}"
        );
        assert!(c[2].abs() < 1e-9, "{c:?}");
    }

    #[test]
    fn a_coefficient_that_would_be_negative_is_dropped() {
        // Time falls with b in the samples; a negative cost is not a model of work.
        let rows: Vec<Vec<f64>> = (1..10).map(|i| vec![1.0, i as f64]).collect();
        let y: Vec<f64> = (1..10).map(|i| 10.0 - 0.5 * i as f64).collect();
        let c = fit_relative(&rows, &y);
        assert!(c.iter().all(|&v| v >= 0.0), "{c:?}");
        assert_eq!(c[1], 0.0);
    }
}
