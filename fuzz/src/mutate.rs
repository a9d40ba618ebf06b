//! The stable driver's mutations: what libFuzzer does blindly, minus the coverage
//! feedback. Byte flips, interesting values, insertions, deletions, truncation, chunk
//! copies and splices between corpus files, and numbers in text (JSON headers, `.npy`
//! dicts, probe lines) replaced by hostile ones.
use deepiot_format::rng::SplitMix64;

/// The project's one seeded generator, so a run is repeatable from its seed.
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(SplitMix64::new(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u8] = &[
    0, 1, 0x7f, 0x80, 0xff, b'"', b'{', b'}', b'[', b']', b',', b':',
];
const HOSTILE_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "1e308",
    "-0",
    "65535",
    "2147483648",
    "999999999999",
];

/// One input: a corpus file with 1 to 8 mutations.
pub fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut v = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(8) {
        mutate_once(rng, &mut v, corpus);
    }
    v
}

fn mutate_once(rng: &mut Rng, v: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    let len = v.len();
    match rng.below(9) {
        0 if len > 0 => {
            let i = rng.below(len);
            v[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            v[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        2 if len > 0 => {
            let i = rng.below(len);
            v[i] = rng.next_u64() as u8;
        }
        3 => {
            let i = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            v.splice(i..i, bytes);
        }
        4 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(64));
            v.drain(i..i + n);
        }
        5 => v.truncate(rng.below(len + 1)),
        6 if len > 1 => {
            // Copy a chunk of the input over another place of it.
            let (a, b) = (rng.below(len), rng.below(len));
            let n = 1 + rng.below((len - a.max(b)).min(64));
            let chunk = v[a..a + n].to_vec();
            v[b..b + n].copy_from_slice(&chunk);
        }
        7 => {
            // Splice: the head of this input, the tail of another.
            let other = &corpus[rng.below(corpus.len())];
            let cut = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            v.truncate(cut);
            v.extend_from_slice(&other[from..]);
        }
        _ => replace_number(rng, v),
    }
}

/// Replaces one run of ASCII digits by a hostile number.
fn replace_number(rng: &mut Rng, v: &mut Vec<u8>) {
    let starts: Vec<usize> = (0..v.len())
        .filter(|&i| v[i].is_ascii_digit() && (i == 0 || !v[i - 1].is_ascii_digit()))
        .collect();
    if starts.is_empty() {
        return;
    }
    let s = starts[rng.below(starts.len())];
    let e = (s..v.len())
        .find(|&i| !v[i].is_ascii_digit())
        .unwrap_or(v.len());
    let n = HOSTILE_NUMBERS[rng.below(HOSTILE_NUMBERS.len())];
    // A safetensors file starts with its JSON header's length: keep it true when the
    // number is inside that header, so the parser reads the hostile value itself.
    let header = (v.len() >= 8)
        .then(|| u64::from_le_bytes(v[..8].try_into().unwrap_or([0; 8])) as usize)
        .filter(|&h| 8 + h <= v.len() && s >= 8 && e <= 8 + h);
    v.splice(s..e, n.bytes());
    if let Some(h) = header {
        let h = (h + n.len()) as u64 - (e - s) as u64;
        v[..8].copy_from_slice(&h.to_le_bytes());
    }
}
