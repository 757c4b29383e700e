//! The real `smgctl` against a real gateway with control-plane auth: `keys`, `whoami` and
//! `audit` end to end, with the exit codes scripts rely on (4 = 401/403, 3 = 404, 2 = usage).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;

use serde_json::Value;
use smg_tests::harness::{self, GatewayProcess, assert_exit, stderr, stdout};

const OPS_SECRET: &str = "cli-e2e-static-admin-0001";

/// `smgctl --url URL ARGS` with `SMG_ADMIN_TOKEN` set to `token`, as an operator would.
async fn smgctl(gw: &GatewayProcess, token: Option<&str>, args: &[&str]) -> Output {
    harness::smgctl(&gw.url, token, args, None).await
}

/// The one secret a `create`/`rotate` prints: stdout is exactly that line, and stderr warns
/// without repeating it.
#[track_caller]
fn shown_once(o: &Output, what: &str) -> String {
    assert_exit(o, 0, what);
    let out = stdout(o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: stdout is the secret alone: {out:?}"
    );
    let secret = lines[0].to_string();
    assert!(secret.starts_with("sk-") && secret.len() >= 35, "{what}");
    let err = stderr(o);
    assert!(
        err.contains("warning: this is the only time the key is shown"),
        "{what}: {err}"
    );
    assert!(!err.contains(&secret), "{what}: the secret on stderr");
    secret
}

/// The events of `smgctl audit -o json` (the gateway's answer: newest first).
fn audit_events(o: &Output) -> Vec<Value> {
    let body: Value = serde_json::from_str(&stdout(o)).unwrap();
    assert_eq!(body["count"], body["events"].as_array().unwrap().len());
    body["events"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_whoami_and_audit_against_a_real_gateway() {
    let static_admin = format!("ops:Ops team:admin:{OPS_SECRET}");
    let gw = GatewayProcess::start(&["--control-plane-api-keys", &static_admin]).await;
    let ops = Some(OPS_SECRET);

    // create: the secret once on stdout, the warning on stderr.
    let created = smgctl(
        &gw,
        ops,
        &[
            "keys", "create", "--id", "ci", "--name", "CI", "--role", "user",
        ],
    )
    .await;
    let first = shown_once(&created, "keys create");
    assert!(
        stderr(&created).contains("created API key 'ci' (role user"),
        "{}",
        stderr(&created)
    );

    // whoami with the new secret.
    let who = smgctl(&gw, Some(&first), &["whoami", "-o", "json"]).await;
    assert_exit(&who, 0, "whoami with the new key");
    let who: Value = serde_json::from_str(&stdout(&who)).unwrap();
    assert_eq!(
        (&who["id"], &who["role"], &who["auth_method"]),
        (
            &Value::from("ci"),
            &Value::from("user"),
            &Value::from("api_key:ci")
        )
    );
    let table = smgctl(&gw, Some(&first), &["whoami"]).await;
    assert_exit(&table, 0, "whoami table");
    assert!(
        stdout(&table).contains("serving routes only"),
        "{}",
        stdout(&table)
    );

    // audit shows the create, under the principal that made it, without the secret.
    let audit = smgctl(
        &gw,
        ops,
        &["audit", "--since", "1h", "--principal", "ops", "-o", "json"],
    )
    .await;
    assert_exit(&audit, 0, "audit");
    let events = audit_events(&audit);
    let create = events
        .iter()
        .find(|e| e["method"] == "POST" && e["path"] == "/admin/api-keys")
        .unwrap_or_else(|| panic!("no create event in {events:?}"));
    assert_eq!(
        (
            &create["principal_id"],
            &create["status"],
            &create["outcome"]
        ),
        (
            &Value::from("ops"),
            &Value::from(201),
            &Value::from("success")
        )
    );
    assert!(!stdout(&audit).contains(&first));
    let audit_table = smgctl(&gw, ops, &["audit", "--path", "/admin/api-keys"]).await;
    assert_exit(&audit_table, 0, "audit table");
    let text = stdout(&audit_table);
    assert!(
        text.contains("PRINCIPAL") && text.contains("/admin/api-keys") && text.contains("ops"),
        "{text}"
    );
    // The audit log needs the admin role: a user key gets exit 4.
    let denied = smgctl(&gw, Some(&first), &["audit"]).await;
    assert_exit(&denied, 4, "audit with a user key");

    // list is masked.
    let list = smgctl(&gw, ops, &["keys", "list"]).await;
    assert_exit(&list, 0, "keys list");
    let masked = format!("sk-***{}", &first[first.len() - 4..]);
    assert!(stdout(&list).contains(&masked), "{}", stdout(&list));
    assert!(!stdout(&list).contains(&first));

    // rotate: a new secret once; the old one is refused at once (exit 4).
    let refused = smgctl(&gw, ops, &["keys", "rotate", "ci"]).await;
    assert_exit(&refused, 2, "rotate without --yes and without a terminal");
    let rotated = smgctl(&gw, ops, &["keys", "rotate", "ci", "--yes"]).await;
    let second = shown_once(&rotated, "keys rotate");
    assert_ne!(first, second);
    let old = smgctl(&gw, Some(&first), &["whoami"]).await;
    assert_exit(&old, 4, "whoami with the rotated-away secret");
    assert!(!stderr(&old).contains(&first));
    let new = smgctl(&gw, Some(&second), &["whoami"]).await;
    assert_exit(&new, 0, "whoami with the new secret");

    // disable / enable take effect at once.
    let disabled = smgctl(&gw, ops, &["keys", "disable", "ci"]).await;
    assert_exit(&disabled, 0, "keys disable");
    assert_eq!(stdout(&disabled).trim(), "API key 'ci' disabled");
    assert_exit(
        &smgctl(&gw, Some(&second), &["whoami"]).await,
        4,
        "whoami while disabled",
    );
    assert_exit(
        &smgctl(&gw, ops, &["keys", "enable", "ci"]).await,
        0,
        "keys enable",
    );
    assert_exit(
        &smgctl(&gw, Some(&second), &["whoami"]).await,
        0,
        "whoami once enabled",
    );

    // delete: refused without --yes off a terminal, then gone (whoami 4, get 3).
    assert_exit(
        &smgctl(&gw, ops, &["keys", "delete", "ci"]).await,
        2,
        "delete without --yes",
    );
    let deleted = smgctl(&gw, ops, &["keys", "delete", "ci", "--yes"]).await;
    assert_exit(&deleted, 0, "keys delete");
    assert_exit(
        &smgctl(&gw, Some(&second), &["whoami"]).await,
        4,
        "whoami after delete",
    );
    assert_exit(
        &smgctl(&gw, ops, &["keys", "get", "ci"]).await,
        3,
        "get a deleted key",
    );

    // Every step is in the audit log, in order, under ops.
    let audit = smgctl(
        &gw,
        ops,
        &["audit", "--path", "/admin/api-keys", "-o", "json"],
    )
    .await;
    assert_exit(&audit, 0, "audit of the key changes");
    let mut events = audit_events(&audit);
    events.reverse();
    let steps: Vec<(String, String)> = events
        .into_iter()
        .filter(|e| e["outcome"] == "success")
        .map(|e| {
            assert_eq!(e["principal_id"], "ops", "{e}");
            (
                e["method"].as_str().unwrap().to_string(),
                e["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("POST", "/admin/api-keys"),
        ("POST", "/admin/api-keys/ci/rotate"),
        ("POST", "/admin/api-keys/ci/disable"),
        ("POST", "/admin/api-keys/ci/enable"),
        ("DELETE", "/admin/api-keys/ci"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(steps, expected);

    let logs = gw.logs();
    for secret in [OPS_SECRET, first.as_str(), second.as_str()] {
        assert!(!logs.contains(secret), "a secret in the gateway logs");
    }
}
