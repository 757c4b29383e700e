//! Exit codes, the errors that choose them, and how errors are reported on stderr.

use std::fmt;
use std::process::ExitCode;

use smg_sdk::Error as SdkError;

/// The documented exit codes of `smgctl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Ok,
    /// 1: any other failure (including a failed job and `ready` answering "not ready").
    Failure,
    /// 2: usage error (bad flags, or a refused destructive command).
    Usage,
    /// 3: the gateway answered 404, or a worker id prefix matched nothing.
    NotFound,
    /// 4: the gateway answered 401 or 403.
    Auth,
    /// 5: partial failure (a 206 from `cache flush`, `workers flush`, `profile start|stop`).
    Partial,
    /// 6: timed out while waiting for a worker.
    WaitTimeout,
    /// 7: the gateway does not offer the route or feature (e.g. `/admin/*` on upstream SMG,
    /// WASM without `--enable-wasm`).
    NotOffered,
}

impl Exit {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Failure => 1,
            Self::Usage => 2,
            Self::NotFound => 3,
            Self::Auth => 4,
            Self::Partial => 5,
            Self::WaitTimeout => 6,
            Self::NotOffered => 7,
        }
    }

    /// The code a failed SDK call maps to.
    pub fn for_sdk_error(err: &SdkError) -> Self {
        match err {
            SdkError::WaitTimeout { .. } => Self::WaitTimeout,
            SdkError::Unsupported(_) => Self::NotOffered,
            e if e.is_not_found() => Self::NotFound,
            e if e.is_auth() => Self::Auth,
            _ => Self::Failure,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// The exit-code table shown after `smgctl --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  error (including a failed job, and `ready` when the gateway is not ready)
  2  usage error (bad flags; a destructive command refused without --yes; an ambiguous
     worker id prefix)
  3  not found (the gateway answered 404, or no worker id matches)
  4  authentication or permission denied (401/403)
  5  partial failure (a 206: `cache flush`, `workers flush`, `profile start|stop`)
  6  timed out while waiting (--wait, bounded by --timeout or --wait-timeout)
  7  not offered by this gateway (a route upstream SMG lacks, such as /admin/*; WASM
     without --enable-wasm)

Environment:
  SMG_URL, SMG_ADMIN_TOKEN, SMG_API_KEY, SMG_CONTEXT, SMGCTL_CONFIG, NO_COLOR
  Precedence: flag > environment > context (smgctl context …) > default.";

/// A usage error found after parsing (exit 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Something named on the command line does not exist (exit 3), found without a 404 from
/// the gateway (e.g. a worker id prefix that matches no worker).
#[derive(Debug)]
pub struct NotFoundError(pub String);

impl fmt::Display for NotFoundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFoundError {}

/// Stdout was closed by the reader (e.g. `smgctl … | head`): exit 0 quietly.
#[derive(Debug)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Which hint to give for a 404 or a 401/403, from the command that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HintScope {
    /// A command about one worker: a 404 suggests `smgctl workers list`.
    Worker,
    /// A serving route (`/v1/models`): auth hints name the API key.
    Serving,
    /// Anything else.
    #[default]
    Other,
}

/// What to print on stderr, and the exit code, for an error.
pub struct Report {
    /// The `error: …` line (without the prefix).
    pub message: String,
    /// `hint: …` lines.
    pub hints: Vec<String>,
    /// The exit code.
    pub exit: Exit,
}

/// Turn an error into what the user sees.
pub fn report(err: &color_eyre::Report, gateway_url: Option<&str>, scope: HintScope) -> Report {
    let mut context = Vec::new();
    let mut hints = Vec::new();
    let mut sdk = None;
    let mut exit = Exit::Failure;
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<SdkError>() {
            sdk = Some(e);
            break;
        }
        if let Some(u) = cause.downcast_ref::<UsageError>() {
            exit = Exit::Usage;
            context.push(u.to_string());
            break;
        }
        if let Some(n) = cause.downcast_ref::<NotFoundError>() {
            exit = Exit::NotFound;
            context.push(n.to_string());
            if scope == HintScope::Worker {
                hints.push("try: smgctl workers list".to_string());
            }
            break;
        }
        context.push(cause.to_string());
    }
    if let Some(e) = sdk {
        exit = Exit::for_sdk_error(e);
        context.push(describe_sdk_error(e));
        hints.extend(hint_for(e, gateway_url, scope));
    }
    Report {
        message: context.join(": "),
        hints,
        exit,
    }
}

/// `<server message> [<code>] (request id …)` for API answers; the SDK's own text otherwise
/// (which names the gateway for a route it does not offer).
fn describe_sdk_error(err: &SdkError) -> String {
    if err.is_unsupported() {
        return err.to_string();
    }
    match err.api() {
        Some(api) => {
            let mut s = api.message.clone();
            match &api.code {
                Some(code) => s.push_str(&format!(" [{code}]")),
                None => s.push_str(&format!(" [{} {}]", api.status, api.reason())),
            }
            if let Some(id) = &api.request_id {
                s.push_str(&format!(" (request id {id})"));
            }
            s
        }
        None => err.to_string(),
    }
}

fn hint_for(err: &SdkError, gateway_url: Option<&str>, scope: HintScope) -> Option<String> {
    let url = gateway_url.unwrap_or(smg_sdk::config::DEFAULT_URL);
    match err {
        SdkError::Unsupported(u) => match (u.kind, &u.gateway) {
            (smg_sdk::UnsupportedKind::Route, Some(g)) if g.is_upstream() => Some(
                "this is one of smg-gateway's additions to the SMG API (API keys, audit, whoami, \
                 the parser list, /ha/*); `smgctl version` names the gateway"
                    .into(),
            ),
            _ => None,
        },
        SdkError::Connect { .. } => Some(format!(
            "could not reach the gateway at {url} — set --url, SMG_URL, or a context \
             (smgctl context set NAME --url URL)"
        )),
        SdkError::Timeout { .. } => Some(
            "the gateway did not answer in time; raise the per-request --timeout (e.g. --timeout 2m)"
                .into(),
        ),
        e if e.status() == Some(401) => Some(match scope {
            HintScope::Serving => "this route needs a serving API key: pass --api-key or set \
                                   SMG_API_KEY (or store one in a context)"
                .into(),
            _ => "this route needs an admin token: pass --token or set SMG_ADMIN_TOKEN (or store \
                  one in a context: smgctl context set NAME --token-file FILE)"
                .into(),
        }),
        e if e.status() == Some(403) => Some(match scope {
            HintScope::Serving => "the API key was refused for this route: check --api-key / \
                                   SMG_API_KEY"
                .into(),
            _ => "the token was refused for this operation: check that --token / SMG_ADMIN_TOKEN \
                  is an admin token"
                .into(),
        }),
        e if e.is_not_found() && scope == HintScope::Worker => {
            Some("try: smgctl workers list".into())
        }
        _ => None,
    }
}

/// True when the error means stdout was closed under us.
pub fn is_stdout_closed(err: &color_eyre::Report) -> bool {
    err.chain()
        .any(|c| c.downcast_ref::<StdoutClosed>().is_some())
}
