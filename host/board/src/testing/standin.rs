//! A stand-in board for the board-workflow tests: a real OpenSSH `sshd` on loopback,
//! started per test on its own free port with keys generated in a temporary folder, and
//! stopped by its PID when the test ends. The "board's" install directory is a folder
//! of that temporary folder (or a small tmpfs mounted there, to fill the disk).
//!
//! A test starts one with [`StandinBoard::start_or_skip`]: on a machine without sshd (or
//! without root, for the full-disk board) the test says it was skipped and returns,
//! or fails under `DEEPIOT_REQUIRE_TOOLS=1` (see [`super::require`]).
//!
//! Also here: the board CLI (`deepiot-board`, whose board commands are `deepiot`'s, built
//! once per test process, so these tests need no candle) and wrappers around `ssh` that
//! damage transfers on purpose.
use super::require;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// How the stand-in board differs from a plain one.
#[derive(Debug, Clone, Default)]
pub struct BoardOptions {
    /// What `uname -m` prints on the board (a shim first on the sessions' PATH).
    pub arch: Option<String>,
    /// Mount a tmpfs of this many KiB as the board's storage (needs root).
    pub tmpfs_kib: Option<u64>,
}

/// One running stand-in board. Dropping it stops sshd (by PID) and unmounts the tmpfs.
pub struct StandinBoard {
    pub root: tempfile::TempDir,
    pub port: u16,
    /// The client's private key.
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    /// An ssh config with the key, known_hosts and `StrictHostKeyChecking yes`.
    pub ssh_config: PathBuf,
    /// Where `deepiot` installs (absolute, on "the board").
    pub install_dir: PathBuf,
    pub sshd_log: PathBuf,
    sshd: Option<Child>,
    mounted: Option<PathBuf>,
}

fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port nobody listens on right now (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl StandinBoard {
    /// A plain board for `test`, or `None` after the skip line when this machine cannot
    /// run one: `let Some(board) = StandinBoard::start_or_skip("my_test") else { return };`
    #[track_caller]
    pub fn start_or_skip(test: &str) -> Option<StandinBoard> {
        Self::start_with_or_skip(test, BoardOptions::default())
    }

    /// [`StandinBoard::start_or_skip`] with options (a tmpfs also needs root).
    #[track_caller]
    pub fn start_with_or_skip(test: &str, opts: BoardOptions) -> Option<StandinBoard> {
        if can_start(test, &opts) {
            Some(Self::start_with(opts))
        } else {
            None
        }
    }

    /// A plain board; panics when this machine cannot run one (tests use
    /// [`StandinBoard::start_or_skip`]).
    pub fn start() -> StandinBoard {
        Self::start_with(BoardOptions::default())
    }

    pub fn start_with(opts: BoardOptions) -> StandinBoard {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: apt-get install openssh-server (.ci/run does)"
        );
        let root = tempfile::Builder::new()
            .prefix("deepiot-standin-")
            .tempdir()
            .expect("temp dir");
        let r = root.path();
        let _ = std::fs::create_dir_all("/run/sshd");
        for (name, file) in [("host", "host_key"), ("client", "client_key")] {
            run_ok(
                Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-C"])
                    .arg(format!("deepiot-standin-{name}"))
                    .arg("-f")
                    .arg(r.join(file)),
                "ssh-keygen",
            );
        }
        std::fs::copy(r.join("client_key.pub"), r.join("authorized_keys"))
            .expect("authorized_keys");
        let storage = r.join("board");
        std::fs::create_dir_all(&storage).expect("board dir");
        let mut mounted = None;
        if let Some(kib) = opts.tmpfs_kib {
            run_ok(
                Command::new("mount")
                    .args(["-t", "tmpfs", "-o"])
                    .arg(format!("size={kib}k,mode=0755"))
                    .arg("deepiot-standin")
                    .arg(&storage),
                "mount -t tmpfs (the disk-full test needs root)",
            );
            mounted = Some(storage.clone());
        }
        let mut path_env = String::new();
        if let Some(arch) = &opts.arch {
            let shim = r.join("shim");
            std::fs::create_dir_all(&shim).expect("shim dir");
            let uname = shim.join("uname");
            std::fs::write(
                &uname,
                format!("#!/bin/sh\n# stand-in board: pretend to be another machine\nif [ \"$1\" = -m ]; then echo {arch}; else exec /bin/uname \"$@\"; fi\n"),
            )
            .expect("uname shim");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&uname, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
            path_env = format!(
                " PATH={}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                shim.display()
            );
        }
        // Sessions get their own HOME: root's ~/.bashrc on a build machine (pyenv and the
        // like) would add ~0.3 s to every command, which a busybox board does not have.
        let home = r.join("home");
        std::fs::create_dir_all(&home).expect("home dir");
        // (sshd keeps only the first SetEnv line: one line for all.)
        let set_env = format!("SetEnv HOME={}{path_env}\n", home.display());
        let known_hosts = r.join("known_hosts");
        let ssh_config = r.join("ssh_config");
        let sshd_log = r.join("sshd.log");
        let mut last_err = String::new();
        // A port picked free can be taken before sshd binds it: a few tries.
        for _ in 0..5 {
            let port = free_port();
            let cfg = r.join("sshd_config");
            std::fs::write(
                &cfg,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {pid}\nAuthorizedKeysFile {ak}\n\
                     PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                     UsePAM no\nStrictModes no\nPrintMotd no\nMaxStartups 50\n{set_env}",
                    hk = r.join("host_key").display(),
                    pid = r.join("sshd.pid").display(),
                    ak = r.join("authorized_keys").display(),
                ),
            )
            .expect("sshd_config");
            // -D: stay in the foreground, so the child's PID is sshd's.
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-f")
                .arg(&cfg)
                .arg("-E")
                .arg(&sshd_log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start sshd");
            match wait_for_keyscan(port, &mut child) {
                Ok(keys) => {
                    std::fs::write(&known_hosts, keys).expect("known_hosts");
                    std::fs::write(
                        &ssh_config,
                        format!(
                            "Host standin\n  HostName 127.0.0.1\n  Port {port}\n  User root\n\n\
                             Host *\n  IdentityFile {key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  \
                             StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n",
                            key = r.join("client_key").display(),
                            kh = known_hosts.display()
                        ),
                    )
                    .expect("ssh_config");
                    return StandinBoard {
                        port,
                        key: r.join("client_key"),
                        known_hosts,
                        ssh_config,
                        install_dir: storage.join("deepiot"),
                        sshd_log,
                        sshd: Some(child),
                        mounted,
                        root,
                    };
                }
                Err(e) => {
                    last_err = e;
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        if let Some(m) = &mounted {
            let _ = Command::new("umount").arg(m).status();
        }
        panic!(
            "the stand-in sshd did not come up: {last_err}\n{}",
            std::fs::read_to_string(&sshd_log).unwrap_or_default()
        );
    }

    /// `root@127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("root@127.0.0.1:{}", self.port)
    }

    /// The flags that point `deepiot` at this board.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--board".into(),
            self.address(),
            "--ssh-config".into(),
            self.ssh_config.display().to_string(),
            "--dir".into(),
            self.install_dir.display().to_string(),
            "--connect-timeout".into(),
            "5".into(),
        ]
    }

    /// Runs a shell command on the board (for checks), returning (exit code, stdout).
    pub fn sh(&self, script: &str) -> (i32, String) {
        let out = Command::new("ssh")
            .arg("-F")
            .arg(&self.ssh_config)
            .arg("standin")
            .arg(script)
            .stdin(Stdio::null())
            .output()
            .expect("ssh to the stand-in board");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// Kills (SIGKILL, by PID) the session processes under this board's sshd, which ends
    /// every connection as a dropped link would. The listening sshd stays. Returns how
    /// many processes were killed.
    pub fn kill_sessions(&self) -> usize {
        let Some(master) = self.pid() else { return 0 };
        // Parent of every process, from /proc/PID/stat (the field after the command).
        let mut parent = std::collections::HashMap::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
            if let Some(ppid) = after
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok())
            {
                parent.insert(pid, ppid);
            }
        }
        let under = |mut p: u32| {
            while let Some(&pp) = parent.get(&p) {
                if pp == master {
                    return true;
                }
                if pp <= 1 {
                    return false;
                }
                p = pp;
            }
            false
        };
        // Only sshd's own session processes: the connection dies with them, while what
        // they ran on the board ends as it would after a dropped link (its input closes).
        let is_sshd = |p: u32| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sshd")
        };
        let victims: Vec<u32> = parent
            .keys()
            .copied()
            .filter(|&p| under(p) && is_sshd(p))
            .collect();
        for p in &victims {
            let _ = Command::new("kill")
                .args(["-KILL", &p.to_string()])
                .status();
        }
        victims.len()
    }

    /// The sshd process id.
    pub fn pid(&self) -> Option<u32> {
        self.sshd.as_ref().map(Child::id)
    }
}

/// Whether this machine has what a board with `opts` needs; if not, the skip line (or
/// the failure under `DEEPIOT_REQUIRE_TOOLS=1`) for `test`.
#[track_caller]
fn can_start(test: &str, opts: &BoardOptions) -> bool {
    if !require::file(test, Path::new(SSHD), "sshd", "openssh-server") {
        return false;
    }
    for client in ["ssh", "ssh-keygen", "ssh-keyscan"] {
        if !require::tool(test, client, "openssh-client") {
            return false;
        }
    }
    opts.tmpfs_kib.is_none() || require::root(test, "mounting the board's small tmpfs")
}

fn wait_for_keyscan(port: u16, child: &mut Child) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("sshd exited: {status}"));
        }
        let out = Command::new("ssh-keyscan")
            .args(["-T", "2", "-t", "ed25519", "-p"])
            .arg(port.to_string())
            .arg("127.0.0.1")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("ssh-keyscan: {e}"))?;
        let keys = String::from_utf8_lossy(&out.stdout).into_owned();
        if keys.contains("ssh-ed25519") {
            return Ok(keys);
        }
        if Instant::now() > deadline {
            return Err("no answer to ssh-keyscan within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for StandinBoard {
    fn drop(&mut self) {
        if let Some(mut child) = self.sshd.take() {
            // SIGTERM by PID, then wait (bounded) and SIGKILL if it lingers.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(3);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    _ if Instant::now() > deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        if let Some(m) = self.mounted.take() {
            // Sessions may still hold files for a moment.
            for _ in 0..20 {
                let ok = Command::new("umount")
                    .arg(&m)
                    .stderr(Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                if ok {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Builds the binary `bin` of the workspace package `package` (a debug build, as the
/// tests are) and returns its path.
pub fn cargo_bin(package: &str, bin: &str) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(crate::runtime_build::workspace_root())
        .args([
            "build",
            "-p",
            package,
            "--bin",
            bin,
            "--message-format=json-render-diagnostics",
        ])
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building {bin} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" && msg["target"]["name"] == bin {
            if let Some(exe) = msg["executable"].as_str() {
                return Ok(PathBuf::from(exe));
            }
        }
    }
    Err(format!("cargo reported no executable for {bin}"))
}

/// Builds the board CLI `deepiot-board` once per test process and returns its path. Its
/// board commands are `deepiot`'s (one `cli::run`), without candle to compile.
pub fn deepiot_bin() -> &'static Path {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(|| cargo_bin("deepiot-board", "deepiot-board")) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// What a `deepiot` run left.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub seconds: f64,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Panics with everything printed unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Panics with the stream unless stderr contains `text`.
    pub fn expect_stderr(&self, text: &str) -> &Run {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Panics with the stream unless stdout contains `text`.
    pub fn expect_stdout(&self, text: &str) -> &Run {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}:\n{}",
            self.stdout
        );
        self
    }
}

/// Runs `deepiot ARGS...` (the board CLI, see [`deepiot_bin`]) with no DEEPIOT_*
/// variables from the outside.
pub fn deepiot(args: &[&str]) -> Run {
    deepiot_env(args, &[])
}

pub fn deepiot_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    run_bin(deepiot_bin(), args, env)
}

/// Runs `bin ARGS...` with `env` and no DEEPIOT_* variables from the outside (so a test
/// can run the `deepiot` binary itself the same way).
pub fn run_bin(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(bin);
    cmd.args(args).stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("DEEPIOT_") || k == "SOURCE_DATE_EPOCH" {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let t = Instant::now();
    let out: Output = cmd.output().expect("run deepiot");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        seconds: t.elapsed().as_secs_f64(),
    }
}

/// Starts `deepiot ARGS...` without waiting (stdout and stderr captured).
pub fn deepiot_spawn(args: &[String]) -> Child {
    let mut cmd = Command::new(deepiot_bin());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("DEEPIOT_") {
            cmd.env_remove(k);
        }
    }
    cmd.spawn().expect("start deepiot")
}

/// Waits for a [`deepiot_spawn`]ed run.
pub fn finish(child: Child) -> Run {
    let t = Instant::now();
    let out = child.wait_with_output().expect("wait for deepiot");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        seconds: t.elapsed().as_secs_f64(),
    }
}

/// An `ssh` wrapper that pauses every upload for `secs` seconds after `bytes` bytes (a
/// slow link), so a test can cut the connection in the middle.
pub fn slow_ssh(dir: &Path, bytes: u64, secs: u32) -> PathBuf {
    script(
        &dir.join("ssh-slow"),
        &format!(
            "#!/bin/sh\n\
             case \"$*\" in\n\
             *deepiot-upload*) {{ head -c {bytes}; sleep {secs}; cat; }} | ssh \"$@\"; exit $? ;;\n\
             esac\n\
             exec ssh \"$@\"\n"
        ),
    )
}

/// Writes an executable shell script.
pub fn script(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).expect("write script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.to_path_buf()
}

/// An `ssh` wrapper that lets the first `keep` uploads through and cuts every later one
/// after `bytes` bytes, as a dropped link would (ssh's exit 255 and its message).
pub fn cutting_ssh(dir: &Path, keep: u32, bytes: u64) -> PathBuf {
    let state = dir.join("cut.count");
    script(
        &dir.join("ssh-cut"),
        &format!(
            "#!/bin/sh\n\
             case \"$*\" in\n\
             *deepiot-upload*)\n\
               n=$(cat '{s}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{s}'\n\
               if [ $n -gt {keep} ]; then\n\
                 head -c {bytes} | ssh \"$@\" >/dev/null 2>&1\n\
                 echo 'client_loop: send disconnect: Broken pipe' >&2\n\
                 exit 255\n\
               fi ;;\n\
             esac\n\
             exec ssh \"$@\"\n",
            s = state.display()
        ),
    )
}

/// An `ssh` wrapper that flips one byte (at offset `at`) of every upload on the way.
pub fn corrupting_ssh(dir: &Path, at: u64) -> PathBuf {
    script(
        &dir.join("ssh-corrupt"),
        &format!(
            "#!/bin/sh\n\
             case \"$*\" in\n\
             *deepiot-upload*)\n\
               {{ head -c {at}; head -c 1 | tr '\\000-\\377' '\\377\\000-\\376'; cat; }} | ssh \"$@\"\n\
               exit $? ;;\n\
             esac\n\
             exec ssh \"$@\"\n"
        ),
    )
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
    p
}

/// `args` followed by the board's flags, as owned strings for [`deepiot`].
pub fn with_board(args: &[&str], board: &StandinBoard) -> Vec<String> {
    args.iter()
        .map(|s| s.to_string())
        .chain(board.args())
        .collect()
}

/// Runs `deepiot` with owned arguments.
pub fn deepiot_owned(args: &[String]) -> Run {
    let v: Vec<&str> = args.iter().map(String::as_str).collect();
    deepiot(&v)
}

/// `deepiot board status --json` of the stand-in board.
pub fn status(board: &StandinBoard) -> serde_json::Value {
    let r = deepiot_owned(&with_board(&["board", "status", "--json"], board));
    r.expect_code(0);
    r.json()
}

/// Runs the active runtime on the board on `input` (raw f32) and returns the scores.
pub fn run_on_board(board: &StandinBoard, model_name: &str, input: &Path) -> Vec<Vec<f32>> {
    let d = board.install_dir.display();
    let (code, out) = board.sh(&format!(
        "{d}/active/deepiot-run {d}/active/models/{model_name}.safetensors --input {} --json",
        input.display()
    ));
    assert_eq!(code, 0, "deepiot-run on the board failed: {out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("runtime JSON");
    v["examples"]
        .as_array()
        .expect("examples")
        .iter()
        .map(|e| {
            e["scores"]
                .as_array()
                .expect("scores")
                .iter()
                .map(|x| x.as_f64().unwrap_or(f64::NAN) as f32)
                .collect()
        })
        .collect()
}
