//! A rolling restart costs no request: SIGTERM one instance while clients query through nginx.
//! The instance first drains (`/health/ready` is 503, answers carry `Connection: close` so nginx
//! stops reusing its connections), then stops accepting — nginx retries the refused connection
//! on another instance — finishes what it has in flight and exits 0.

use std::time::{Duration, Instant};

use crate::fleet::Fleet;
use crate::load::{Load, failures};

/// Above the shipped nginx's upstream `keepalive_timeout` (1 s, deploy/nginx/ragd.conf), as the
/// README asks: nginx has closed every idle connection to the instance before its drain ends.
const DRAIN_SECS: u64 = 2;
const TIMEOUT_SECS: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_through_nginx_fails_no_request() {
    let drain = DRAIN_SECS.to_string();
    let timeout = TIMEOUT_SECS.to_string();
    let Some(mut fleet) = Fleet::start(&[
        ("RAGD_SHUTDOWN_DRAIN_SECS", &drain),
        ("RAGD_SHUTDOWN_TIMEOUT_SECS", &timeout),
    ])
    .await
    else {
        return;
    };
    let admin = fleet.token().await;
    fleet.upload_corpus(&admin, crate::load::LOAD_CORPUS).await;

    let client = fleet.nginx.client(Duration::from_secs(30));
    let load = Load::start(&client, &[fleet.nginx.base.clone()], &admin, 4);
    load.wait_for(40, "before the SIGTERM").await;
    let victim = &fleet.nodes[1];
    let metrics = fleet
        .client
        .get(victim.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"endpoint="/query",status="200""#),
        "nginx sent ragd-2 no query: {metrics}"
    );

    let term = load.now();
    victim.signal("TERM");
    let ready_while_draining =
        readiness_after_sigterm(&fleet.client, &victim.url("/health/ready")).await;

    let exit = fleet.nodes[1]
        .exit_within(Duration::from_secs(DRAIN_SECS + TIMEOUT_SECS + 10))
        .await;
    let exited = load.now();
    load.wait_for(40, "after ragd-2 stopped").await;
    let seen = load.stop().await;

    let logs = fleet.nodes[1].logs();
    eprintln!(
        "{} requests; SIGTERM at {term:?}, exit at {exited:?} ({exit})",
        seen.len()
    );
    let failed = failures(&seen);
    assert!(
        failed.is_empty(),
        "SIGTERM at {term:?}, exit at {exited:?}: {failed}"
    );
    assert!(exit.success(), "ragd-2 exited with {exit}:\n{logs}");
    assert_eq!(
        ready_while_draining,
        Ok(503),
        "ragd-2 /health/ready within 1 s of SIGTERM"
    );
    assert!(logs.contains("SIGTERM received"), "{logs}");
    assert!(
        logs.contains("draining: /health/ready answers 503"),
        "{logs}"
    );
    assert!(
        exited - term >= Duration::from_secs(DRAIN_SECS),
        "ragd-2 exited {:?} after SIGTERM, before its {DRAIN_SECS} s drain",
        exited - term
    );
    // The two left still answer, directly and through nginx.
    for base in [
        &fleet.nodes[0].base,
        &fleet.nodes[2].base,
        &fleet.nginx.base,
    ] {
        let r = fleet.query(base, &admin, "What causes spring tides?").await;
        assert_eq!(r.status(), 200, "{base}");
    }
}

/// What `/health/ready` answers once SIGTERM is sent: polled for at most 1 s until it is 503
/// (draining: not ready any more, still serving).
async fn readiness_after_sigterm(client: &reqwest::Client, url: &str) -> Result<u16, String> {
    let signalled = Instant::now();
    loop {
        let status = client
            .get(url)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| format!("no answer: {e}"))?;
        if status == 503 || signalled.elapsed() > Duration::from_secs(1) {
            return Ok(status);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
