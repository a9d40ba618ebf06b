//! A thin wrapper over the system `ssh`, so that `~/.ssh/config`, agents and
//! `known_hosts` work as users expect. Host-key checking is never turned off here: the
//! options add only `BatchMode` (fail instead of prompting), timeouts and keep-alives.
//!
//! Everything a user or a test may need to change comes from flags or the environment:
//!
//! | flag                  | environment             | ssh option            |
//! |-----------------------|-------------------------|-----------------------|
//! | `--board U@H[:PORT]`  | `DEEPIOT_BOARD`         | destination, `-p`     |
//! | `--identity KEY`      | `DEEPIOT_SSH_IDENTITY`  | `-i KEY -o IdentitiesOnly=yes` |
//! | `--ssh-config FILE`   | `DEEPIOT_SSH_CONFIG`    | `-F FILE`             |
//! | `-o NAME=VALUE`       | `DEEPIOT_SSH_OPTIONS`   | `-o NAME=VALUE` (space-separated in the variable) |
//! | `--ssh-command CMD`   | `DEEPIOT_SSH`           | the program instead of `ssh` |
//! | `--connect-timeout S` |                         | `-o ConnectTimeout=S` |
use super::error::{BoardError, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `USER@HOST[:PORT]`, `HOST`, `[v6addr]:PORT`, or a `Host` alias of the ssh config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl Address {
    pub fn parse(text: &str) -> Result<Address> {
        let bad = |why: &str| {
            BoardError::Usage(format!(
                "board address {text:?} {why}; expected USER@HOST[:PORT], e.g. root@edison.local or root@127.0.0.1:2222"
            ))
        };
        let text = text.trim();
        let text = text.strip_prefix("ssh://").unwrap_or(text);
        let (user, rest) = match text.rsplit_once('@') {
            Some((u, r)) => {
                if u.is_empty() {
                    return Err(bad("has an empty user name"));
                }
                (Some(u.to_string()), r)
            }
            None => (None, text),
        };
        let (host, port) = if let Some(r) = rest.strip_prefix('[') {
            let (h, after) = r.split_once(']').ok_or_else(|| bad("has an unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p.parse::<u16>().map_err(|_| bad("has a bad port"))?),
                None if after.is_empty() => None,
                None => return Err(bad("has text after ]")),
            };
            (h.to_string(), port)
        } else if rest.matches(':').count() == 1 {
            let (h, p) = rest.split_once(':').unwrap_or((rest, ""));
            let port = p.parse::<u16>().map_err(|_| bad("has a bad port"))?;
            (h.to_string(), Some(port))
        } else {
            (rest.to_string(), None)
        };
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        if host.starts_with('-') || host.chars().any(|c| c.is_whitespace() || c == '\'') {
            return Err(bad("has characters a host name cannot have"));
        }
        if port == Some(0) {
            return Err(bad("has port 0"));
        }
        Ok(Address { user, host, port })
    }

    /// The destination as ssh takes it (without the port).
    pub fn destination(&self) -> String {
        match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.clone(),
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = self
            .user
            .as_ref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => write!(f, "{user}{host}:{p}"),
            None => write!(f, "{user}{host}"),
        }
    }
}

/// How to run ssh (everything but the destination).
#[derive(Debug, Clone, Default)]
pub struct SshOptions {
    pub identity: Option<PathBuf>,
    pub config: Option<PathBuf>,
    /// `-o` options, `NAME=VALUE`.
    pub options: Vec<String>,
    /// The program and leading arguments used instead of `ssh` (tests use wrappers).
    pub command: Vec<String>,
    /// Seconds to wait for the TCP connection.
    pub connect_timeout: u32,
}

impl SshOptions {
    /// Fills what flags left unset from `DEEPIOT_SSH*` variables.
    pub fn with_env(mut self) -> SshOptions {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        if self.identity.is_none() {
            self.identity = var("DEEPIOT_SSH_IDENTITY").map(PathBuf::from);
        }
        if self.config.is_none() {
            self.config = var("DEEPIOT_SSH_CONFIG").map(PathBuf::from);
        }
        if let Some(opts) = var("DEEPIOT_SSH_OPTIONS") {
            let mut env_opts: Vec<String> = opts.split_whitespace().map(String::from).collect();
            // Flags come first: ssh keeps the first value it sees of an option.
            self.options.append(&mut env_opts);
        }
        if self.command.is_empty() {
            if let Some(c) = var("DEEPIOT_SSH") {
                self.command = c.split_whitespace().map(String::from).collect();
            }
        }
        if self.command.is_empty() {
            self.command = vec!["ssh".into()];
        }
        if self.connect_timeout == 0 {
            self.connect_timeout = 10;
        }
        self
    }
}

/// What a remote command left behind.
#[derive(Debug, Clone)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

/// Quotes `s` for a POSIX shell.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// One board reached over ssh.
#[derive(Debug, Clone)]
pub struct Ssh {
    pub address: Address,
    pub options: SshOptions,
}

/// Size of the pieces written to ssh's standard input (and of progress steps).
const PIECE: usize = 64 * 1024;

impl Ssh {
    pub fn new(address: Address, options: SshOptions) -> Ssh {
        let options = options.with_env();
        Ssh { address, options }
    }

    /// The board as shown in messages.
    pub fn name(&self) -> String {
        self.address.to_string()
    }

    /// The ssh command line for a remote script, without spawning it.
    pub fn command(&self, script: &str) -> Command {
        let o = &self.options;
        let mut cmd = Command::new(&o.command[0]);
        cmd.args(&o.command[1..]);
        if let Some(cfg) = &o.config {
            cmd.arg("-F").arg(cfg);
        }
        // Flags and the user's options first: ssh keeps the first value of an option, so
        // these defaults never override what the user set.
        for opt in &o.options {
            cmd.arg("-o").arg(opt);
        }
        if let Some(key) = &o.identity {
            cmd.arg("-i").arg(key).args(["-o", "IdentitiesOnly=yes"]);
        }
        if let Some(port) = self.address.port {
            cmd.arg("-p").arg(port.to_string());
        }
        cmd.args(["-o", "BatchMode=yes"])
            .arg("-o")
            .arg(format!("ConnectTimeout={}", o.connect_timeout))
            .args(["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"])
            .args(["-o", "LogLevel=ERROR"])
            .arg("-T")
            .arg("--")
            .arg(self.address.destination())
            .arg(format!("sh -c {}", quote(script)));
        cmd
    }

    /// Runs a script on the board and collects its output. `step` names what the script
    /// does, for messages ("while installing").
    pub fn run(&self, script: &str, step: &str) -> Result<Output> {
        self.run_streaming(script, step, |_| {})
    }

    /// Runs a script, handing every stdout line to `on_line` as it arrives.
    pub fn run_streaming(
        &self,
        script: &str,
        step: &str,
        mut on_line: impl FnMut(&str),
    ) -> Result<Output> {
        let mut child = self
            .command(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.spawn_error(e))?;
        let stderr = drain(child.stderr.take());
        let mut stdout = String::new();
        if let Some(out) = child.stdout.take() {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                on_line(&line);
                stdout.push_str(&line);
                stdout.push('\n');
            }
        }
        let status = child
            .wait()
            .map_err(|e| BoardError::Other(format!("waiting for ssh failed: {e}")))?;
        let stderr = stderr.join().unwrap_or_default();
        self.finish(status, stdout, stderr, step)
    }

    /// Runs a script with `data` on its standard input, reporting bytes sent.
    pub fn upload(
        &self,
        script: &str,
        data: &[u8],
        step: &str,
        mut on_progress: impl FnMut(u64),
    ) -> Result<Output> {
        let mut child = self
            .command(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.spawn_error(e))?;
        let stderr = drain(child.stderr.take());
        let stdout = drain(child.stdout.take());
        let mut sent = 0usize;
        if let Some(mut stdin) = child.stdin.take() {
            for piece in data.chunks(PIECE) {
                if stdin.write_all(piece).is_err() {
                    break;
                }
                sent += piece.len();
                on_progress(piece.len() as u64);
            }
            let _ = stdin.flush();
            // Dropping stdin closes it: the remote `cat` sees the end of the data.
        }
        let status = child
            .wait()
            .map_err(|e| BoardError::Other(format!("waiting for ssh failed: {e}")))?;
        let out = self.finish(
            status,
            stdout.join().unwrap_or_default(),
            stderr.join().unwrap_or_default(),
            &format!("{step} ({sent} of {} bytes sent)", data.len()),
        )?;
        if out.ok() && sent < data.len() {
            return Err(BoardError::ConnectionLost {
                board: self.name(),
                during: step.to_string(),
                detail: format!("only {sent} of {} bytes were sent", data.len()),
            });
        }
        Ok(out)
    }

    fn spawn_error(&self, e: std::io::Error) -> BoardError {
        BoardError::Other(format!(
            "cannot start `{}`: {e}; is OpenSSH's client installed?",
            self.options.command[0]
        ))
    }

    /// Turns ssh's exit into an output, or into the connection error it stands for.
    fn finish(
        &self,
        status: std::process::ExitStatus,
        stdout: String,
        stderr: String,
        step: &str,
    ) -> Result<Output> {
        let code = match status.code() {
            Some(c) => c,
            None => {
                return Err(BoardError::ConnectionLost {
                    board: self.name(),
                    during: format!("while {step}"),
                    detail: "ssh was killed by a signal".into(),
                })
            }
        };
        if code == 255 {
            return Err(classify(&self.name(), step, &stderr));
        }
        Ok(Output {
            code,
            stdout,
            stderr,
        })
    }

    /// Checks that the board answers and accepts us, with a bounded number of tries.
    pub fn wait_until_reachable(&self, tries: u32, pause: Duration) -> Result<()> {
        let mut last = None;
        for i in 0..tries.max(1) {
            match self.run("true", "connecting") {
                Ok(_) => return Ok(()),
                Err(e @ BoardError::Unreachable { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
            if i + 1 < tries {
                std::thread::sleep(pause);
            }
        }
        Err(last.unwrap_or_else(|| BoardError::Other("no connection attempt made".into())))
    }
}

fn drain<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut s);
        }
        String::from_utf8_lossy(&s).into_owned()
    })
}

/// Maps ssh's own failure (exit 255) to what the user needs to know.
pub fn classify(board: &str, step: &str, stderr: &str) -> BoardError {
    let detail = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let detail = if detail.is_empty() {
        "ssh exited with status 255 and said nothing".to_string()
    } else {
        detail
    };
    let has = |s: &str| stderr.contains(s);
    let board = board.to_string();
    if has("Permission denied") || has("Too many authentication failures") {
        BoardError::Auth { board, detail }
    } else if has("Host key verification failed")
        || has("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || has("host key is known")
        || has("No ED25519 host key")
    {
        BoardError::HostKey { board, detail }
    } else if has("Could not resolve hostname")
        || has("Connection refused")
        || has("Connection timed out")
        || has("No route to host")
        || has("Network is unreachable")
        || has("Operation timed out")
        || has("kex_exchange_identification")
        || has("Name or service not known")
        || has("connect to host")
    {
        BoardError::Unreachable { board, detail }
    } else {
        BoardError::ConnectionLost {
            board,
            during: format!("while {step}"),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = Address::parse("root@edison.local").unwrap();
        assert_eq!(
            (a.user.as_deref(), a.host.as_str(), a.port),
            (Some("root"), "edison.local", None)
        );
        let a = Address::parse("root@127.0.0.1:2222").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", Some(2222)));
        assert_eq!(a.to_string(), "root@127.0.0.1:2222");
        let a = Address::parse("edison").unwrap();
        assert_eq!((a.user, a.port), (None, None));
        let a = Address::parse("root@[::1]:22").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", Some(22)));
        for bad in [
            "",
            "@h",
            "root@",
            "root@h:x",
            "root@h:0",
            "root@-oProxyCommand=x",
            "a@b c",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("/home/root/deepiot"), "/home/root/deepiot");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn ssh_failures_are_told_apart() {
        let c = |s: &str| classify("b", "x", s).exit_code();
        use super::super::error::code;
        assert_eq!(
            c("ssh: connect to host 127.0.0.1 port 1: Connection refused"),
            code::UNREACHABLE
        );
        assert_eq!(
            c("ssh: Could not resolve hostname nope: Name or service not known"),
            code::UNREACHABLE
        );
        assert_eq!(
            c("root@127.0.0.1: Permission denied (publickey)."),
            code::AUTH
        );
        assert_eq!(c("Host key verification failed."), code::HOST_KEY);
        assert_eq!(
            c("client_loop: send disconnect: Broken pipe"),
            code::CONNECTION_LOST
        );
        assert_eq!(c(""), code::CONNECTION_LOST);
    }

    #[test]
    fn the_command_line_keeps_host_key_checking() {
        let ssh = Ssh::new(
            Address::parse("root@h:2222").unwrap(),
            SshOptions {
                command: vec!["ssh".into()],
                identity: Some("k".into()),
                ..Default::default()
            },
        );
        let cmd = ssh.command("echo hi");
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let line = args.join(" ");
        assert!(line.contains("-p 2222"));
        assert!(line.contains("-i k -o IdentitiesOnly=yes"));
        assert!(line.contains("BatchMode=yes"));
        assert!(!line.contains("StrictHostKeyChecking"));
        assert!(!line.contains("UserKnownHostsFile"));
        assert_eq!(args.last().unwrap(), "sh -c 'echo hi'");
    }
}
