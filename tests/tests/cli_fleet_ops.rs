//! The real `smgctl` against a real gateway and simulated workers, for issues 13 and 14's
//! client side: cordon/uncordon, retire with its steps, force delete, per-worker flush,
//! profiling, `smgctl api`, `--jq` and `smgctl openapi`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use smg_sdk::WorkerSpec;
use smg_tests::harness::{self, GatewayProcess, assert_exit, eventually, stderr, stdout};
use smg_tests::mock::{DEFAULT_MODEL, Fault, FlushFault, MockConfig, MockFleet};

const WAIT: Duration = Duration::from_secs(20);

async fn smgctl(gw: &GatewayProcess, args: &[&str]) -> Output {
    harness::smgctl(&gw.url, None, args, None).await
}

async fn fleet(count: usize) -> MockFleet {
    MockFleet::start(0, count, MockConfig::default())
        .await
        .unwrap()
}

async fn add_ready(gw: &GatewayProcess, url: &str) -> String {
    let client = gw.client();
    let created = client
        .workers()
        .create(&WorkerSpec::new(url.to_string()))
        .await
        .unwrap();
    client
        .workers()
        .wait_for_worker(&created.worker_id, WAIT)
        .await
        .unwrap();
    created.worker_id
}

/// The tables' short id: the id's last 8 characters.
fn short(id: &str) -> &str {
    &id[id.len() - 8..]
}

/// One non-streamed chat request through the data plane; its status.
async fn chat(gw_url: &str) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{gw_url}/v1/chat/completions"))
        .json(&json!({
            "model": DEFAULT_MODEL,
            "messages": [{"role": "user", "content": "hello"}],
            "max_tokens": 4,
        }))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap()
        .status()
}

/// The line of `workers list` for the worker whose short id is `id`.
fn row<'a>(table: &'a str, id: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(short(id)))
        .unwrap_or_else(|| panic!("no row for {id} in\n{table}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn cordon_shows_as_a_status_and_only_that_worker_loses_traffic() {
    let fleet = fleet(2).await;
    let gw = GatewayProcess::start(&[]).await;
    let a = add_ready(&gw, &fleet.urls()[0]).await;
    let b = add_ready(&gw, &fleet.urls()[1]).await;

    // By the tables' short id.
    let cordon = smgctl(&gw, &["workers", "cordon", short(&a)]).await;
    assert_exit(&cordon, 0, "cordon");
    assert_eq!(stdout(&cordon).trim(), format!("worker {a} cordoned"));

    let list = smgctl(&gw, &["workers", "list"]).await;
    assert_exit(&list, 0, "list");
    let table = stdout(&list);
    assert!(row(&table, &a).contains(" ready,cordoned "), "{table}");
    assert!(!row(&table, &b).contains("cordoned"), "{table}");
    assert!(row(&table, &b).contains(" ready "), "{table}");

    let get = smgctl(&gw, &["workers", "get", &a]).await;
    let details = stdout(&get);
    let status = details.lines().find(|l| l.starts_with("Status:")).unwrap();
    assert!(status.ends_with("ready,cordoned"), "{details}");
    let json = smgctl(&gw, &["workers", "get", &a, "-o", "json"]).await;
    let info: Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(info["disabled"], true);
    assert_eq!(info["status"], "ready", "the wire status keeps the health");

    // The other worker takes all the traffic; the gateway stays ready.
    fleet.workers()[0].reset();
    fleet.workers()[1].reset();
    for _ in 0..6 {
        assert_eq!(chat(&gw.url).await, StatusCode::OK);
    }
    assert_eq!(fleet.workers()[0].stats().requests_total, 0);
    assert_eq!(fleet.workers()[1].stats().requests_total, 6);
    assert_exit(
        &smgctl(&gw, &["ready"]).await,
        0,
        "ready with one worker left",
    );

    // Several ids at once; one unknown id is named and exits 3 without stopping the others.
    let uncordon = smgctl(&gw, &["workers", "uncordon", &a, &b]).await;
    assert_exit(&uncordon, 0, "uncordon");
    assert_eq!(stdout(&uncordon).lines().count(), 2);
    let table = stdout(&smgctl(&gw, &["workers", "list"]).await);
    assert!(!table.contains("cordoned"), "{table}");
    assert_eq!(chat(&gw.url).await, StatusCode::OK);

    let missing = smgctl(&gw, &["workers", "cordon", "ffffffffff"]).await;
    assert_exit(&missing, 3, "cordon an unknown worker");
    assert!(
        stderr(&missing).contains("ffffffffff"),
        "{}",
        stderr(&missing)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retire_wait_prints_each_step_and_the_worker_is_flushed_and_gone() {
    let fleet = fleet(2).await;
    let gw = GatewayProcess::start(&[]).await;
    let client = gw.client();
    let a = add_ready(&gw, &fleet.urls()[0]).await;
    let b = add_ready(&gw, &fleet.urls()[1]).await;

    // Destructive: refused without a terminal unless --yes.
    let refused = smgctl(&gw, &["workers", "retire", &a]).await;
    assert_exit(&refused, 2, "retire without --yes");
    assert!(client.workers().get(&a).await.is_ok());

    // A slow request in flight to `a` (both workers are equally slow; find the busy one).
    for w in fleet.workers() {
        w.set_fault(Fault {
            latency_ms: 1500,
            ..Fault::default()
        });
    }
    let url = gw.url.clone();
    let request = tokio::spawn(async move { chat(&url).await });
    let (busy, busy_index) = eventually(WAIT, "a request in flight", || async {
        for (i, id) in [&a, &b].into_iter().enumerate() {
            if client.workers().get(id).await.unwrap().load > 0 {
                return Some((id.clone(), i));
            }
        }
        None
    })
    .await;
    let (idle, idle_index) = if busy == a {
        (b.clone(), 1)
    } else {
        (a.clone(), 0)
    };

    let retire = smgctl(
        &gw,
        &[
            "workers",
            "retire",
            &busy,
            "--wait",
            "--yes",
            "--wait-timeout",
            "20s",
        ],
    )
    .await;
    assert_exit(&retire, 0, "retire --wait");
    let out = stdout(&retire);
    let lines: Vec<&str> = out.lines().collect();
    let at = |step: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(step))
            .unwrap_or_else(|| panic!("no '{step}' step in\n{out}"))
    };
    assert_eq!(
        lines[0],
        format!("worker {busy} retirement accepted"),
        "{out}"
    );
    let (cordoned, draining, flushing, removing, removed) = (
        at("cordoned"),
        at("draining"),
        at("flushing"),
        at("removing"),
        at("removed"),
    );
    assert!(
        cordoned < draining && draining < flushing && flushing < removing && removing < removed,
        "{out}"
    );
    assert!(
        lines[draining].contains("1 in-flight"),
        "the in-flight count: {out}"
    );
    assert_eq!(lines[removed], format!("removed: worker {busy} is gone"));
    assert_eq!(
        request.await.unwrap(),
        StatusCode::OK,
        "the request finished"
    );
    let gone = client.workers().get(&busy).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");
    assert_eq!(fleet.workers()[busy_index].stats().flushes, 1, "flushed");

    // With -o json: stdout is the 202 document, the steps go to stderr.
    fleet.workers()[idle_index].set_fault(Fault::default());
    let json = smgctl(
        &gw,
        &["workers", "retire", &idle, "--wait", "--yes", "-o", "json"],
    )
    .await;
    assert_exit(&json, 0, "retire --wait -o json");
    let doc: Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(doc["worker_id"], idle.as_str());
    let steps = stderr(&json);
    assert!(
        steps.contains("flushing") && steps.contains(&format!("removed: worker {idle} is gone")),
        "{steps}"
    );
    assert_eq!(fleet.workers()[idle_index].stats().flushes, 1);
    assert!(client.workers().list().await.unwrap().workers.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retirement_that_cannot_drain_exits_1_and_says_why() {
    let fleet = fleet(1).await;
    let gw = GatewayProcess::start(&[]).await;
    let client = gw.client();
    let id = add_ready(&gw, &fleet.urls()[0]).await;
    fleet.workers()[0].set_fault(Fault {
        latency_ms: 4000,
        ..Fault::default()
    });
    let url = gw.url.clone();
    let request = tokio::spawn(async move { chat(&url).await });
    eventually(WAIT, "the request to be in flight", || async {
        (client.workers().get(&id).await.unwrap().load > 0).then_some(())
    })
    .await;
    let retire = smgctl(
        &gw,
        &[
            "workers",
            "retire",
            &id,
            "--timeout-secs",
            "1",
            "--wait",
            "--yes",
        ],
    )
    .await;
    assert_exit(&retire, 1, "a failed retirement");
    assert!(
        stderr(&retire).contains("drain timed out"),
        "{}",
        stderr(&retire)
    );
    assert!(stdout(&retire).contains("draining"), "{}", stdout(&retire));
    let info = client.workers().get(&id).await.unwrap();
    assert!(info.is_disabled(), "stays registered and cordoned");
    assert_eq!(request.await.unwrap(), StatusCode::OK);

    // A wait shorter than the drain: exit 6.
    fleet.workers()[0].set_fault(Fault {
        latency_ms: 4000,
        ..Fault::default()
    });
    let uncordon = smgctl(&gw, &["workers", "uncordon", &id]).await;
    assert_exit(&uncordon, 0, "uncordon");
    let url = gw.url.clone();
    let request = tokio::spawn(async move { chat(&url).await });
    eventually(WAIT, "the request to be in flight", || async {
        (client.workers().get(&id).await.unwrap().load > 0).then_some(())
    })
    .await;
    let short_wait = smgctl(
        &gw,
        &[
            "workers",
            "retire",
            &id,
            "--wait",
            "--wait-timeout",
            "1s",
            "--yes",
        ],
    )
    .await;
    assert_exit(&short_wait, 6, "a wait that runs out");
    assert_eq!(request.await.unwrap(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn force_delete_and_per_worker_flush() {
    let fleet = fleet(2).await;
    let gw = GatewayProcess::start(&[]).await;
    let client = gw.client();
    let a = add_ready(&gw, &fleet.urls()[0]).await;
    let b = add_ready(&gw, &fleet.urls()[1]).await;

    let flush = smgctl(&gw, &["workers", "flush", short(&a)]).await;
    assert_exit(&flush, 0, "flush");
    assert!(stdout(&flush).starts_with("success"), "{}", stdout(&flush));
    assert_eq!(fleet.workers()[0].stats().flushes, 1);
    assert_eq!(fleet.workers()[1].stats().flushes, 0, "only that worker");

    fleet.workers()[1].set_fault(Fault {
        flush: FlushFault::Fail,
        ..Fault::default()
    });
    let failed = smgctl(&gw, &["workers", "flush", &b, "-o", "json"]).await;
    assert_exit(&failed, 5, "a failed flush");
    let body: Value = serde_json::from_str(&stdout(&failed)).unwrap();
    assert_eq!(body["status"], "partial_success");
    let err = stderr(&failed);
    assert!(
        err.contains(&format!("worker {b} was not flushed")) && err.contains(&fleet.urls()[1]),
        "{err}"
    );

    let refused = smgctl(&gw, &["workers", "delete", &a, "--force"]).await;
    assert_exit(&refused, 2, "force delete without --yes");
    assert!(stderr(&refused).contains("--yes"), "{}", stderr(&refused));

    let delete = smgctl(
        &gw,
        &["workers", "delete", &a, "--force", "--yes", "--wait"],
    )
    .await;
    assert_exit(&delete, 0, "force delete");
    assert_eq!(stdout(&delete).trim(), format!("worker {a} deleted"));
    assert!(client.workers().get(&a).await.unwrap_err().is_not_found());
    assert!(
        client.workers().get(&b).await.is_ok(),
        "the other one stays"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_start_and_stop_reach_the_workers() {
    let fleet = fleet(2).await;
    let gw = GatewayProcess::start(&[]).await;
    for url in fleet.urls() {
        add_ready(&gw, &url).await;
    }

    let start = smgctl(
        &gw,
        &[
            "profile",
            "start",
            "--output-dir",
            "/tmp/traces",
            "--num-steps",
            "3",
            "--activity",
            "CPU,GPU",
        ],
    )
    .await;
    assert_exit(&start, 0, "profile start");
    assert!(stdout(&start).starts_with("success"), "{}", stdout(&start));
    for w in fleet.workers() {
        let stats = w.stats();
        assert_eq!(stats.profile_starts, 1);
        let options = stats.last_profile_options.unwrap();
        assert_eq!(options["output_dir"], "/tmp/traces");
        assert_eq!(options["num_steps"], 3);
        assert_eq!(options["activities"], json!(["CPU", "GPU"]));
    }

    let stop = smgctl(
        &gw,
        &[
            "profile",
            "stop",
            "--worker",
            &fleet.urls()[1],
            "-o",
            "json",
        ],
    )
    .await;
    assert_exit(&stop, 0, "profile stop one worker");
    let body: Value = serde_json::from_str(&stdout(&stop)).unwrap();
    assert_eq!(body["total_workers"], 1);
    assert_eq!(fleet.workers()[0].stats().profile_stops, 0);
    assert_eq!(fleet.workers()[1].stats().profile_stops, 1);

    let unknown = smgctl(&gw, &["profile", "stop", "--worker", "http://127.0.0.1:9"]).await;
    assert_exit(&unknown, 3, "no worker with that URL");
    assert!(
        stderr(&unknown).contains("no registered worker has the URL http://127.0.0.1:9"),
        "{}",
        stderr(&unknown)
    );

    // One worker that cannot be reached: 206, exit 5, the worker named.
    fleet.workers()[0].set_fault(Fault {
        drop_connections: true,
        ..Fault::default()
    });
    let partial = smgctl(&gw, &["profile", "stop"]).await;
    assert_exit(&partial, 5, "partial profile stop");
    let err = stderr(&partial);
    assert!(
        err.contains("failed on 1 of 2 workers") && err.contains(&fleet.urls()[0]),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn api_sends_any_route_with_the_right_credential() {
    const SECRET: &str = "sk-fleet-ops-admin-0123456789abcdef";
    const UNKNOWN: &str = "00000000-0000-7000-8000-000000000000";
    let fleet = fleet(1).await;
    let admin = format!("ops:Ops team:admin:{SECRET}");
    let gw = GatewayProcess::start(&["--control-plane-api-keys", &admin]).await;
    let api = |token: Option<&'static str>, args: Vec<String>| {
        let url = gw.url.clone();
        async move {
            let mut argv = vec!["api".to_string()];
            argv.extend(args);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            harness::smgctl(&url, token, &argv, None).await
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    // POST with -d: the admin token goes to /workers.
    let body = json!({"url": fleet.urls()[0]}).to_string();
    let add = api(Some(SECRET), s(&["POST", "/workers", "-d", &body])).await;
    assert_exit(&add, 0, "api POST /workers");
    let created: Value = serde_json::from_str(&stdout(&add)).unwrap();
    assert_eq!(created["status"], "accepted");
    assert!(stdout(&add).contains("\n  \"status\""), "pretty JSON");
    let id = created["worker_id"].as_str().unwrap().to_string();
    gw.admin_client(SECRET)
        .workers()
        .wait_for_worker(&id, WAIT)
        .await
        .unwrap();

    let patch = api(
        Some(SECRET),
        s(&[
            "patch",
            &format!("/workers/{id}"),
            "-d",
            r#"{"priority": 77}"#,
        ]),
    )
    .await;
    assert_exit(&patch, 0, "api PATCH");
    let get = api(Some(SECRET), s(&["GET", &format!("/workers/{id}")])).await;
    let info: Value = serde_json::from_str(&stdout(&get)).unwrap();
    assert_eq!(info["priority"], 77);

    // Without the token: 401 → exit 4, the D1 message on stderr, nothing on stdout.
    let denied = api(None, s(&["GET", "/workers"])).await;
    assert_exit(&denied, 4, "no token");
    assert!(stdout(&denied).is_empty());
    assert!(
        stderr(&denied).starts_with("error: "),
        "{}",
        stderr(&denied)
    );
    // An Authorization header of one's own is used as given.
    let header = format!("Authorization: Bearer {SECRET}");
    let own = api(None, s(&["GET", "/workers", "-H", &header])).await;
    assert_exit(&own, 0, "-H Authorization");
    // A public route needs nothing.
    assert_exit(&api(None, s(&["GET", "/liveness"])).await, 0, "public");

    // 404 → exit 3 with the gateway's message; 400 → exit 1.
    let missing = api(Some(SECRET), s(&["GET", &format!("/workers/{UNKNOWN}")])).await;
    assert_exit(&missing, 3, "404");
    assert!(stdout(&missing).is_empty());
    let err = stderr(&missing);
    assert!(
        err.contains(UNKNOWN) && err.contains("[WORKER_NOT_FOUND]"),
        "{err}"
    );
    let bad = api(
        Some(SECRET),
        s(&["POST", "/workers", "-d", r#"{"url": 5}"#]),
    )
    .await;
    assert_exit(&bad, 1, "400");
    assert!(stderr(&bad).contains("error: "), "{}", stderr(&bad));
    // A body that is not JSON is refused before anything is sent.
    let local = api(Some(SECRET), s(&["POST", "/workers", "-d", "{oops"])).await;
    assert_exit(&local, 2, "invalid JSON body");
    assert!(
        stderr(&local).contains("not valid JSON"),
        "{}",
        stderr(&local)
    );

    // A body from a file, and --jq on the answer.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("patch.json");
    std::fs::write(&file, r#"{"priority": 12}"#).unwrap();
    let from_file = api(
        Some(SECRET),
        s(&[
            "PATCH",
            &format!("/workers/{id}"),
            "-f",
            file.to_str().unwrap(),
        ]),
    )
    .await;
    assert_exit(&from_file, 0, "api -f");
    let jq = api(
        Some(SECRET),
        s(&["GET", "/workers", "--jq", ".workers[] | [.url, .priority]"]),
    )
    .await;
    assert_exit(&jq, 0, "api --jq");
    assert_eq!(stdout(&jq).trim(), json!([fleet.urls()[0], 12]).to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn jq_filters_every_json_output_and_refuses_a_bad_expression() {
    let fleet = fleet(2).await;
    let gw = GatewayProcess::start(&[]).await;
    let a = add_ready(&gw, &fleet.urls()[0]).await;
    add_ready(&gw, &fleet.urls()[1]).await;

    let urls = smgctl(&gw, &["workers", "list", "--jq", ".workers[].url"]).await;
    assert_exit(&urls, 0, "list --jq");
    let mut got: Vec<String> = stdout(&urls).lines().map(str::to_string).collect();
    got.sort();
    let mut want = fleet.urls();
    want.sort();
    assert_eq!(got, want, "strings raw, one per line");

    let get = smgctl(&gw, &["workers", "get", short(&a), "--jq", "{id, status}"]).await;
    assert_exit(&get, 0, "get --jq");
    assert_eq!(
        stdout(&get),
        format!("{}\n", json!({"id": a, "status": "ready"}))
    );
    let count = smgctl(&gw, &["--jq", ".total", "workers", "list"]).await;
    assert_eq!(stdout(&count), "2\n", "the flag is global");
    let api = smgctl(
        &gw,
        &["api", "GET", "/workers", "--jq", "[.workers[].id] | length"],
    )
    .await;
    assert_eq!(stdout(&api), "2\n");

    let bad = smgctl(&gw, &["workers", "list", "--jq", ".workers["]).await;
    assert_exit(&bad, 2, "bad expression");
    assert!(stdout(&bad).is_empty());
    assert!(
        stderr(&bad).starts_with("error: invalid --jq expression '.workers['"),
        "{}",
        stderr(&bad)
    );
    let unknown = smgctl(&gw, &["workers", "list", "--jq", "nosuchfilter"]).await;
    assert_exit(&unknown, 2, "unknown filter");
    assert!(
        stderr(&unknown).contains("nosuchfilter"),
        "{}",
        stderr(&unknown)
    );
    let yaml = smgctl(&gw, &["workers", "list", "--jq", ".", "-o", "yaml"]).await;
    assert_exit(&yaml, 2, "--jq with -o yaml");
    let runtime = smgctl(&gw, &["workers", "list", "--jq", ".total | keys"]).await;
    assert_exit(&runtime, 1, "a filter that fails on the document");
    assert!(
        stderr(&runtime).contains("--jq failed"),
        "{}",
        stderr(&runtime)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_prints_the_document() {
    let gw = GatewayProcess::start(&[]).await;
    let doc = smgctl(&gw, &["openapi"]).await;
    assert_exit(&doc, 0, "openapi");
    let parsed: Value = serde_json::from_str(&stdout(&doc)).unwrap();
    assert!(
        parsed["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        parsed["openapi"]
    );
    assert!(parsed["paths"]["/workers"].is_object());
    let version = smgctl(&gw, &["openapi", "--jq", ".openapi"]).await;
    assert_exit(&version, 0, "openapi --jq");
    assert!(stdout(&version).starts_with("3.1"), "{}", stdout(&version));
    let yaml = smgctl(&gw, &["openapi", "-o", "yaml"]).await;
    assert!(
        stdout(&yaml).starts_with("openapi: 3.1"),
        "{}",
        stdout(&yaml)
    );
}
