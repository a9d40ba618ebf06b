//! `cargo run -p deepiot-fuzz --bin fuzz-seeds [DIR]`: writes every target's seeds to
//! `DIR/TARGET/` (default `fuzz/corpus`), the starting corpus of `cargo fuzz run`.
use deepiot_fuzz::{seeds, Target};
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    for t in Target::ALL {
        let d = dir.join(t.name());
        std::fs::create_dir_all(&d)?;
        for (i, s) in seeds(t).iter().enumerate() {
            std::fs::write(d.join(format!("seed-{i}")), s)?;
        }
        println!("{}: {} seeds in {}", t.name(), seeds(t).len(), d.display());
    }
    Ok(())
}
