//! `deepiot board status`: the active slot, the versions in both slots, and the result of
//! the last deploy or flash.
use super::error::Result;
use super::progress::Progress;
use super::session::{BoardState, Transfer};
use super::{human_bytes, SshConfig, TargetConfig};

/// Which board `board status` looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusConfig {
    pub ssh: SshConfig,
    pub target: TargetConfig,
    /// Print JSON on stdout.
    pub json: bool,
}

/// The state as JSON (also used by tests and scripts).
pub fn state_json(board: &str, dir: &str, st: &BoardState) -> serde_json::Value {
    let slots: serde_json::Map<String, serde_json::Value> = st
        .slots
        .iter()
        .map(|(name, s)| {
            (
                name.clone(),
                serde_json::json!({
                    "active": st.active.as_deref() == Some(name.as_str()),
                    "info": s.info,
                    "files": s.sums.iter().map(|(h, p)| serde_json::json!({"path": p, "sha256": h})).collect::<Vec<_>>(),
                }),
            )
        })
        .collect();
    serde_json::json!({
        "board": board,
        "dir": dir,
        "installed": !st.no_dir && st.active.is_some(),
        "arch": st.arch,
        "free_bytes": st.avail_bytes,
        "active": st.active,
        "slots": slots,
        "last": st.status,
        "settled_now": st.settled,
    })
}

/// Prints the board's active slot, the versions in both slots and the last operation's
/// result.
pub fn run(a: &StatusConfig) -> Result<()> {
    let target = a.target.load()?;
    let session = a
        .ssh
        .session(target, Transfer::default(), Progress::new(true))?;
    let st = session.look()?;
    if a.json {
        println!("{}", state_json(&session.board(), &session.dir, &st));
        return Ok(());
    }
    println!(
        "board {} ({}; {} free)",
        session.board(),
        st.arch,
        st.avail_bytes.map_or("unknown".into(), human_bytes)
    );
    println!("install dir {}", session.dir);
    if st.no_dir || (st.active.is_none() && st.slots.is_empty()) {
        println!("nothing installed yet (run `deepiot deploy` or `deepiot flash`)");
    }
    if !session.target.arch.contains(&st.arch) {
        println!(
            "warning: `uname -m` = {} is not an architecture of target {} ({})",
            st.arch,
            session.target.name,
            session.target.arch.join(", ")
        );
    }
    for (name, s) in &st.slots {
        let active = st.active.as_deref() == Some(name.as_str());
        let get = |k: &str| s.info.get(k).map(String::as_str).unwrap_or("?");
        println!(
            "slot {name}{}: version {} ({}{}), installed {}",
            if active { " (active)" } else { " (previous)" },
            get("version"),
            get("source"),
            s.info
                .get("image_sha256")
                .map(|h| format!(", image {}", &h[..h.len().min(16)]))
                .unwrap_or_default(),
            get("installed_at")
        );
        println!("    models: {}", get("models"));
        println!("    runtime sha256 {}", get("runtime_sha256"));
    }
    if st.active.is_none() && !st.slots.is_empty() {
        println!("warning: no slot is active");
    }
    match &st.status {
        Some(s) => {
            let get = |k: &str| s.get(k).map(String::as_str).unwrap_or("?");
            println!(
                "last operation: {} {} at {}{}",
                get("op"),
                get("result"),
                get("at"),
                s.get("exit_code")
                    .map(|c| format!(" (exit {c})"))
                    .unwrap_or_default()
            );
            if let Some(m) = s.get("message") {
                println!("    {m}");
            }
            if let Some(m) = s.get("settled") {
                println!("    then: {m}");
            }
        }
        None => println!("last operation: none recorded"),
    }
    Ok(())
}
