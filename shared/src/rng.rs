//! SplitMix64, the one seeded generator of the project.
//!
//! It lives in the format crate because the host and the board must draw the same
//! numbers bit for bit: `deepiot-run bench` times a model on [`fill_symmetric`] inputs,
//! and a firmware image's self-test ships the outputs the host computed from the same
//! inputs, which the board then reproduces. The host's weight initialisation, shuffles
//! and the tests' model generators build on [`SplitMix64`] too, so a seed means the same
//! numbers everywhere, whatever the dependency versions.

/// SplitMix64 (Steele, Lea and Flood 2014): one `u64` of state, passes BigCrush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 24 bits, so every value is exactly an f32.
    pub fn next_unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `[-1, 1)`, from the same 24 bits.
    pub fn next_symmetric(&mut self) -> f32 {
        self.next_unit() * 2.0 - 1.0
    }
}

/// Fills `values` with [`SplitMix64::next_symmetric`] draws from `seed`: the inputs of
/// `deepiot-run bench` and of a firmware image's self-test.
pub fn fill_symmetric(seed: u64, values: &mut [f32]) {
    let mut rng = SplitMix64::new(seed);
    for v in values {
        *v = rng.next_symmetric();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_outputs_are_the_published_ones() {
        // Reference values of SplitMix64 from seed 0 (as in Vigna's splitmix64.c).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn symmetric_values_stay_in_range() {
        let mut v = [0.0f32; 1000];
        fill_symmetric(7, &mut v);
        assert!(v.iter().all(|x| (-1.0..1.0).contains(x)));
        assert!(v.iter().any(|&x| x < -0.9) && v.iter().any(|&x| x > 0.9));
    }
}
