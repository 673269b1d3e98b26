use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::*;

fn guard(allowed: &[&str]) -> WebhookGuard {
    WebhookGuard::new(allowed.iter().map(|n| Network::parse(n).unwrap()).collect())
}

async fn check(guard: &WebhookGuard, raw: &str) -> Result<(), GuardError> {
    guard.check(&guard.parse_url(raw)?).await
}

#[test]
fn only_plain_http_urls_parse() {
    let g = guard(&[]);
    let ok = g
        .parse_url("https://hooks.example.com/ragd?team=infra")
        .unwrap();
    assert_eq!(ok.as_str(), "https://hooks.example.com/ragd?team=infra");
    assert!(g.parse_url("http://hooks.example.com:8080/x").is_ok());
    type Expected = fn(&GuardError) -> bool;
    let cases: [(&str, Expected); 8] = [
        (
            "ftp://example.com/x",
            |e| matches!(e, GuardError::Scheme(s) if s == "ftp"),
        ),
        ("file:///etc/passwd", |e| matches!(e, GuardError::Scheme(_))),
        ("gopher://example.com/", |e| {
            matches!(e, GuardError::Scheme(_))
        }),
        ("https://user:pw@example.com/", |e| {
            matches!(e, GuardError::Credentials)
        }),
        ("https://token@example.com/", |e| {
            matches!(e, GuardError::Credentials)
        }),
        ("https://example.com/#frag", |e| {
            matches!(e, GuardError::Fragment)
        }),
        ("not a url", |e| matches!(e, GuardError::Malformed(_))),
        ("http://", |e| {
            matches!(e, GuardError::Malformed(_) | GuardError::NoHost)
        }),
    ];
    for (raw, expected) in cases {
        let err = g.parse_url(raw).unwrap_err();
        assert!(expected(&err), "{raw}: {err:?}");
    }
    let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
    assert!(matches!(
        g.parse_url(&long),
        Err(GuardError::TooLong { .. })
    ));
    // Percent-encoding can make the stored URL longer than what was sent.
    let grows = format!("https://example.com/{}", "é".repeat(MAX_URL_LEN / 3));
    assert!(matches!(
        g.parse_url(&grows),
        Err(GuardError::TooLong { .. })
    ));
}

#[test]
fn the_message_says_what_to_do() {
    let err = guard(&[])
        .admit("10.0.0.5", "10.0.0.5".parse().unwrap())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "webhook URL host 10.0.0.5 resolves to 10.0.0.5, a private address; list its network in \
         RAGD_WEBHOOK_ALLOWED_NETWORKS to allow it"
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn ip_literals_in_every_spelling_are_refused() {
    let g = guard(&[]);
    let cases = [
        ("http://127.0.0.1/", Refusal::Loopback),
        ("http://127.1/", Refusal::Loopback),
        ("http://2130706433/", Refusal::Loopback),
        ("http://0x7f.0.0.1/", Refusal::Loopback),
        ("http://0177.0.0.1/", Refusal::Loopback),
        ("http://0/", Refusal::Unspecified),
        ("http://[::1]:8080/", Refusal::Loopback),
        ("http://[::]/", Refusal::Unspecified),
        ("http://[::ffff:127.0.0.1]/", Refusal::Loopback),
        ("http://[::ffff:a00:5]/", Refusal::Private),
        ("http://[fe80::1]/", Refusal::LinkLocal),
        ("http://[fd12::1]/", Refusal::Private),
        ("http://[64:ff9b::192.168.0.1]/", Refusal::Private),
        ("https://10.0.0.5/hook", Refusal::Private),
        ("https://172.20.1.1/", Refusal::Private),
        ("https://192.168.1.10/", Refusal::Private),
        ("https://100.64.1.1/", Refusal::Shared),
        ("https://169.254.1.1/", Refusal::LinkLocal),
        ("https://224.0.0.251/", Refusal::Multicast),
        ("https://255.255.255.255/", Refusal::Broadcast),
        ("https://192.0.2.1/", Refusal::Documentation),
        ("https://198.18.0.1/", Refusal::Benchmarking),
    ];
    for (raw, expected) in cases {
        match check(&g, raw).await {
            Err(GuardError::Refused { reason, .. }) => assert_eq!(reason, expected, "{raw}"),
            other => panic!("{raw}: {other:?}"),
        }
    }
    for raw in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://[::ffff:169.254.169.254]/",
    ] {
        assert!(
            matches!(check(&g, raw).await, Err(GuardError::Metadata { .. })),
            "{raw}"
        );
    }
    assert!(check(&g, "https://8.8.8.8/").await.is_ok());
    assert!(check(&g, "https://[2606:4700:4700::1111]/").await.is_ok());
}

#[tokio::test]
async fn an_allowed_network_lets_its_addresses_through_but_never_metadata() {
    let g = guard(&["10.0.0.0/8", "fd00::/8", "169.254.0.0/16", "100.64.0.0/10"]);
    for raw in [
        "http://10.0.0.5/",
        "http://10.200.3.4:9000/",
        "http://[::ffff:10.0.0.5]/",
        "http://[fd12::1]/",
        "http://169.254.1.1/",
        "http://100.64.0.1/",
    ] {
        assert!(check(&g, raw).await.is_ok(), "{raw}");
    }
    assert!(matches!(
        check(&g, "http://192.168.1.1/").await,
        Err(GuardError::Refused {
            reason: Refusal::Private,
            ..
        })
    ));
    assert!(check(&g, "http://127.0.0.1/").await.is_err());
    for raw in [
        "http://169.254.169.254/",
        "http://100.100.100.200/",
        "http://[fd00:ec2::254]/",
    ] {
        assert!(
            matches!(check(&g, raw).await, Err(GuardError::Metadata { .. })),
            "{raw}"
        );
    }
    let host = guard(&["192.168.1.10"]);
    assert!(check(&host, "http://192.168.1.10/").await.is_ok());
    assert!(check(&host, "http://192.168.1.11/").await.is_err());
}

#[tokio::test]
async fn names_are_judged_by_what_they_resolve_to() {
    let g = guard(&[]);
    assert!(matches!(
        check(&g, "http://localhost:1/").await,
        Err(GuardError::Refused {
            reason: Refusal::Loopback,
            ..
        })
    ));
    let err = check(&g, "http://no-such-host.invalid/").await.unwrap_err();
    assert!(
        matches!(err, GuardError::Unresolved { .. }) && err.is_transient(),
        "{err:?}"
    );
}

/// A real HTTP server on 127.0.0.1: answers every request with `response` and counts them.
async fn receiver(response: &'static str) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0_u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request).to_lowercase();
                assert!(head.contains("user-agent: ragd-webhooks/"), "{head}");
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, hits)
}

const NO_CONTENT: &str = "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n";

fn client(g: &WebhookGuard) -> reqwest::Client {
    g.client(Duration::from_secs(2), Duration::from_secs(5))
        .unwrap()
}

#[tokio::test]
async fn a_loopback_receiver_is_refused_unless_allowed() {
    let (port, hits) = receiver(NO_CONTENT).await;
    let url = format!("http://127.0.0.1:{port}/hook");

    let strict = guard(&[]);
    assert!(matches!(
        check(&strict, &url).await,
        Err(GuardError::Refused {
            reason: Refusal::Loopback,
            ..
        })
    ));

    let open = guard(&["127.0.0.0/8"]);
    check(&open, &url).await.unwrap();
    let response = client(&open).post(&url).body("{}").send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_resolver_refuses_a_name_that_leads_to_loopback() {
    let (port, hits) = receiver(NO_CONTENT).await;
    // What a rebinding name does: pass `check` as a public address, then resolve to loopback
    // when the client connects. The client's own resolver is the last line.
    let url = format!("http://localhost:{port}/hook");
    let err = client(&guard(&[]))
        .post(&url)
        .body("{}")
        .send()
        .await
        .unwrap_err();
    let chain = format!("{:?}", anyhow::Error::from(err));
    assert!(chain.contains("a loopback address"), "{chain}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    // Allowed, the name works: its ::1 is dropped, its 127.0.0.1 kept.
    let response = client(&guard(&["127.0.0.0/8"]))
        .post(&url)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn redirects_are_answers_not_detours() {
    let (port, hits) = receiver(
        "HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/latest/meta-data/\r\n\
         content-length: 0\r\nconnection: close\r\n\r\n",
    )
    .await;
    let url = format!("http://127.0.0.1:{port}/hook");
    let response = client(&guard(&["127.0.0.0/8"]))
        .post(&url)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
