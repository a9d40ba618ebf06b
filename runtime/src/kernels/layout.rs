//! Moving values without arithmetic: axis permutation and concatenation.

/// Permutes a tensor of rank up to 4: output axis `i` is input axis `perm[i]`.
/// `shape` and `perm` are padded to rank 4 by the caller with leading 1-axes.
pub fn permute(shape: [usize; 4], perm: [usize; 4], x: &[f32], y: &mut [f32]) {
    let mut stride = [0usize; 4];
    let mut s = 1;
    for a in (0..4).rev() {
        stride[a] = s;
        s *= shape[a];
    }
    let os = [
        shape[perm[0]],
        shape[perm[1]],
        shape[perm[2]],
        shape[perm[3]],
    ];
    let is = [
        stride[perm[0]],
        stride[perm[1]],
        stride[perm[2]],
        stride[perm[3]],
    ];
    let mut k = 0;
    for a in 0..os[0] {
        for b in 0..os[1] {
            for c in 0..os[2] {
                let base = a * is[0] + b * is[1] + c * is[2];
                for d in 0..os[3] {
                    y[k] = x[base + d * is[3]];
                    k += 1;
                }
            }
        }
    }
}

/// Copies one concatenation operand into its place: the output has `outer` blocks of
/// `out_block` values, and this operand fills `block` of them starting at `offset`.
pub fn concat_part(
    outer: usize,
    block: usize,
    out_block: usize,
    offset: usize,
    x: &[f32],
    y: &mut [f32],
) {
    for o in 0..outer {
        y[o * out_block + offset..o * out_block + offset + block]
            .copy_from_slice(&x[o * block..(o + 1) * block]);
    }
}
