//! Property-based fuzzing of the whole API from its own `/openapi.json` with Schemathesis: a
//! real `smg` (simulated workers registered, WASM enabled, an admin key and a serving key),
//! a fixed seed and a fixed number of examples per operation, and the checks
//! `not_a_server_error` (a 503 only where the operation documents it), `status_code_conformance`,
//! `content_type_conformance` and `response_schema_conformance`. Zero failures.
//!
//! Schemathesis is installed from PyPI into a virtual environment under the cargo target
//! directory, once per machine (reused after, guarded by a file lock). When that cannot be done
//! the test fails and says why; it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use smg_tests::harness::{GatewayProcess, eventually};
use smg_tests::mock::{MockConfig, MockFleet};

/// The pinned release: its CLI (4.x) differs from 3.x, and a fixed version keeps runs
/// reproducible.
const SCHEMATHESIS: &str = "4.32.5";
const ADMIN: &str = "fuzz-admin-secret-0001";
const SERVING: &str = "fuzz-serving-secret-0001";
/// The seed and examples per operation are fixed; `SMG_FUZZ_SEED` and `SMG_FUZZ_EXAMPLES`
/// override them to explore further by hand.
const SEED: &str = "20241205";
/// Examples per operation and phase: enough to reach every documented answer of the
/// operations, small enough for about a minute of CI on two cores.
const MAX_EXAMPLES: &str = "40";
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
const RUN_TIMEOUT: Duration = Duration::from_secs(420);

/// `target/` of this build (the test binary is `target/<profile>/deps/<test>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "deps"))
        .and_then(|deps| deps.parent())
        .and_then(|profile| profile.parent())
        .expect("the test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// Run `cmd` to completion, at most `timeout`; stdout and stderr are captured in `log`.
fn run_bounded(mut cmd: Command, log: &Path, timeout: Duration) -> (Option<i32>, String) {
    let out = File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let text = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{cmd:?} did not finish within {timeout:?}; its output:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    (code, std::fs::read_to_string(log).unwrap_or_default())
}

/// The last `lines` lines of `text`, each cut to 400 characters (tracebacks can hold huge ones).
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| match l.char_indices().nth(400) {
            Some((cut, _)) => format!("{}…", &l[..cut]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `st` executable of the pinned Schemathesis, installing it first if this machine has
/// none yet. Concurrent test processes wait on one lock; an interrupted install is redone.
fn schemathesis() -> PathBuf {
    let root = target_dir().join("schemathesis");
    std::fs::create_dir_all(&root).unwrap();
    let lock = File::create(root.join("install.lock")).unwrap();
    lock.lock().expect("lock the Schemathesis install");
    let venv = root.join(format!("venv-{SCHEMATHESIS}"));
    let st = venv.join("bin").join("st");
    let done = venv.join(".installed");
    if done.exists() && st.exists() {
        return st;
    }
    if venv.exists() {
        std::fs::remove_dir_all(&venv).unwrap();
    }
    let python = std::env::var("SMG_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "venv"]).arg(&venv);
    let (code, out) = match cmd.stdin(Stdio::null()).output() {
        Ok(o) => (
            o.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => panic!(
            "the Schemathesis fuzz test needs Python 3 to install Schemathesis, but `{python}` \
             cannot be run ({e}). Install python3 with its venv module (Debian: apt-get install \
             python3 python3-venv), or point SMG_PYTHON at a Python 3 interpreter."
        ),
    };
    assert_eq!(
        code,
        Some(0),
        "cannot create a Python virtual environment at {} with `{python} -m venv` (Debian: \
         apt-get install python3-venv, or set SMG_PYTHON):\n{}",
        venv.display(),
        tail(&out, 20)
    );
    let mut pip = Command::new(venv.join("bin").join("python"));
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--quiet",
        &format!("schemathesis=={SCHEMATHESIS}"),
    ]);
    let (code, out) = run_bounded(pip, &root.join("install.log"), INSTALL_TIMEOUT);
    assert_eq!(
        code,
        Some(0),
        "cannot install schemathesis=={SCHEMATHESIS} from PyPI into {} (the fuzz test needs \
         PyPI once per machine; the venv is reused after). pip said:\n{}",
        venv.display(),
        tail(&out, 30)
    );
    assert!(
        st.exists(),
        "pip installed Schemathesis but {} is missing",
        st.display()
    );
    std::fs::write(&done, SCHEMATHESIS).unwrap();
    st
}

/// A TOML string literal.
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Schemathesis' configuration: a bearer for each security scheme, and per operation the 5xx
/// statuses its documentation announces as normal answers (503 where documented; `/ha/*`'s
/// 501, which is all those reserved routes ever answer).
fn config(document: &Value) -> String {
    let mut toml = format!(
        "[auth.openapi.admin_bearer]\nbearer = {}\n\n[auth.openapi.serving_api_key]\nbearer = {}\n",
        toml_str(ADMIN),
        toml_str(SERVING)
    );
    let paths = document["paths"]
        .as_object()
        .expect("the document has paths");
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let Some(responses) = operation["responses"].as_object() else {
                continue;
            };
            let mut allowed: Vec<String> = ["2xx", "3xx", "4xx"].map(String::from).to_vec();
            if responses.contains_key("503") {
                allowed.push("503".into());
            }
            if path.starts_with("/ha") && responses.contains_key("501") {
                allowed.push("501".into());
            }
            if allowed.len() == 3 {
                continue;
            }
            let statuses: Vec<String> = allowed.iter().map(|s| toml_str(s)).collect();
            toml.push_str(&format!(
                "\n[[operations]]\ninclude-name = {}\nchecks.not_a_server_error.expected-statuses = [{}]\n",
                toml_str(&format!("{} {path}", method.to_uppercase())),
                statuses.join(", ")
            ));
        }
    }
    toml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing() {
    let st = tokio::task::spawn_blocking(schemathesis).await.unwrap();

    let fleet = MockFleet::start(0, 2, MockConfig::default()).await.unwrap();
    let urls = fleet.urls();
    let admin = format!("fuzz:fuzz:admin:{ADMIN}");
    let mut args = vec![
        "--enable-wasm",
        "--api-key",
        SERVING,
        "--control-plane-api-keys",
        &admin,
        // Tokenizer sources the fuzzer invents must not reach the network.
        "--hf-endpoint",
        "http://127.0.0.1:9",
        "--worker-urls",
    ];
    args.extend(urls.iter().map(String::as_str));
    let gw = GatewayProcess::start(&args).await;
    let client = gw.admin_client(ADMIN);
    eventually(
        Duration::from_secs(30),
        "the workers to be ready",
        || async {
            let list = client.workers().list().await.ok()?;
            (list.workers.iter().filter(|w| w.is_healthy).count() == urls.len()).then_some(())
        },
    )
    .await;

    let document: Value = reqwest::get(format!("{}/openapi.json", gw.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let config_path = work.path().join("schemathesis.toml");
    std::fs::write(&config_path, config(&document)).unwrap();

    let mut cmd = Command::new(&st);
    cmd.current_dir(work.path())
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .arg("--config-file")
        .arg(&config_path)
        .arg("run")
        .arg(format!("{}/openapi.json", gw.url))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--seed",
            &std::env::var("SMG_FUZZ_SEED").unwrap_or_else(|_| SEED.into()),
            "--max-examples",
            &std::env::var("SMG_FUZZ_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.into()),
            "--generation-database",
            "none",
            // One worker: reproducible for a seed, and Hypothesis' lambda introspection is not
            // thread-safe on every Python (`SystemError: AST constructor recursion depth`).
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--no-color",
            "--suppress-health-check",
            "all",
        ]);
    let log = work.path().join("schemathesis.log");
    let started = Instant::now();
    let (code, out) = tokio::task::spawn_blocking(move || run_bounded(cmd, &log, RUN_TIMEOUT))
        .await
        .unwrap();
    eprintln!("{}", tail(&out, 60));
    eprintln!("schemathesis took {:?}", started.elapsed());
    assert_eq!(
        code,
        Some(0),
        "Schemathesis found failures (exit {code:?}); its report:\n{}\n\ngateway log (tail):\n{}",
        tail(&out, 400),
        tail(&gw.logs(), 80)
    );
    assert!(
        !out.contains("No operations"),
        "Schemathesis tested nothing:\n{out}"
    );
}
