//! A program running in a private tmux server, with its screen read back as text: the
//! end-to-end tests and the idle-CPU benchmark drive the real `smg-tui` binary with it (a bare
//! PTY cannot answer crossterm's cursor-position query; tmux can).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Session name inside the private server.
const SESSION: &str = "tui";

/// A tmux server of our own (`tmux -L <unique socket>`), killed on drop.
pub struct Tmux {
    socket: String,
    /// Keeps the private config directory alive.
    _home: tempfile::TempDir,
}

impl Tmux {
    /// Whether a usable tmux is installed.
    pub fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Start `program args…` in a detached `width`×`height` session on a unique socket. The
    /// pane stays after the program exits (`remain-on-exit`), so its last screen can still be
    /// read. The program gets a clean environment: no `SMG_*` settings, a private (missing)
    /// smgctl config file, `TERM=xterm-256color`.
    pub fn start(
        program: &Path,
        args: &[impl AsRef<OsStr>],
        width: u16,
        height: u16,
    ) -> std::io::Result<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let socket = format!(
            "smg-tui-test-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let home = tempfile::tempdir()?;
        let mut cmd = Command::new("tmux");
        for var in [
            "SMG_URL",
            "SMG_ADMIN_TOKEN",
            "SMG_API_KEY",
            "SMG_CONTEXT",
            "SMG_METRICS_URL",
            "TMUX",
            "TMUX_PANE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("TERM", "xterm-256color")
            .env("SMGCTL_CONFIG", home.path().join("config.toml"))
            .env("XDG_CONFIG_HOME", home.path())
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args([
                "-s",
                SESSION,
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
            ])
            .arg(program)
            .args(args)
            // In the same client command, before the program can exit.
            .args([";", "set-option", "-t", SESSION, "remain-on-exit", "on"]);
        let out = cmd.output()?;
        let tmux = Self {
            socket,
            _home: home,
        };
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "tmux new-session failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(tmux)
    }

    fn tmux<I, S>(&self, args: I) -> std::io::Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .stdin(Stdio::null())
            .output()
    }

    /// Send tmux key names (`Enter`, `Escape`, `Tab`, `q`, `C-c`, …).
    pub fn keys(&self, keys: &[&str]) {
        let out = self
            .tmux(
                ["send-keys", "-t", SESSION]
                    .iter()
                    .copied()
                    .chain(keys.iter().copied()),
            )
            .expect("tmux send-keys");
        assert!(out.status.success(), "send-keys {keys:?}: {out:?}");
    }

    /// Type `text` literally.
    pub fn type_text(&self, text: &str) {
        let out = self
            .tmux(["send-keys", "-t", SESSION, "-l", text])
            .expect("tmux send-keys -l");
        assert!(out.status.success(), "send-keys -l {text:?}: {out:?}");
    }

    /// The visible screen as text.
    pub fn capture(&self) -> String {
        self.tmux(["capture-pane", "-p", "-t", SESSION])
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    fn pane_format(&self, format: &str) -> Option<String> {
        let out = self
            .tmux(["display-message", "-p", "-t", SESSION, format])
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Process id of the program in the pane.
    pub fn pane_pid(&self) -> Option<u32> {
        self.pane_format("#{pane_pid}")?.parse().ok()
    }

    /// Whether the program has exited, and its status. tmux reports the status once it has
    /// reaped the program, which it sometimes does late (the pane may even show as dead
    /// first); until then the exited program is a zombie whose exit status Linux shows in
    /// `/proc/<pid>/stat`.
    pub fn exit_status(&self) -> Option<i32> {
        let pane = self.pane_format("#{pane_dead}|#{pane_dead_status}|#{pane_pid}")?;
        match pane.split('|').collect::<Vec<_>>()[..] {
            ["1", status, _] if !status.is_empty() => status.parse().ok().or(Some(-1)),
            [_, _, pid] => zombie_exit_status(pid),
            _ => None,
        }
    }

    /// Poll the screen every 100 ms until `check` accepts it; panics with the last screen
    /// after `timeout`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.capture();
            if check(&screen) {
                return screen;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; exit status {:?}; screen:\n{screen}",
                    self.exit_status()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(["kill-server"]);
    }
}

/// The line of `screen` that contains `needle`.
pub fn line_with<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(needle))
}

/// The exit code of process `pid` if it has exited but not been reaped yet (state `Z`):
/// fields 3 (state) and 52 (exit status as `waitpid` reports it) of `/proc/<pid>/stat`.
fn zombie_exit_status(pid: &str) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are space-separated.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    if fields.first() != Some(&"Z") {
        return None;
    }
    let wait_status: i32 = fields.get(49)?.parse().ok()?;
    Some((wait_status >> 8) & 0xff)
}
