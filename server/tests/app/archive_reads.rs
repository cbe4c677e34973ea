//! The requests that unpack an archive (`/templates`, `/values`, the chart page; issue 17 item 2
//! bounds them to two at once). The soak got 503s from ordinary concurrency; now a request
//! beyond the two waits its turn in a short bounded queue, and only a full queue or a turn that
//! does not come in time gets 503 with `Retry-After`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use chartroom_server::config::ArgValues;
use chartroom_storage::faulty::{Fault, Faulty, Op};
use object_store::memory::InMemory;
use tower::ServiceExt;

use super::{TestApp, body_text, chart, faulty_app_with};

const TEMPLATES: &str = "/api/charts/demo/1.0.0/templates";

/// An app with one chart whose archive reads can be made to hang; no background storage calls
/// (poller, resync), so every GET is a request's.
async fn app(queue: usize, wait: Duration) -> (TestApp, Arc<Faulty<InMemory>>) {
    let (app, faulty) = faulty_app_with(ArgValues::default(), |o| {
        o.poll_interval = None;
        o.resync_interval = None;
        o.archive_read_queue = queue;
        o.archive_read_wait = wait;
    })
    .await;
    assert_eq!(app.send(Method::POST, "/api/charts", chart("demo", "1.0.0", "d")).await.status(), StatusCode::CREATED);
    (app, faulty)
}

fn templates(app: &TestApp) -> tokio::task::JoinHandle<Response> {
    let router = app.router.clone();
    tokio::spawn(async move { router.oneshot(Request::get(TEMPLATES).body(Body::empty()).unwrap()).await.unwrap() })
}

/// Two requests take the two turns, their archive reads hanging in storage.
async fn hold_both_turns(app: &TestApp, faulty: &Faulty<InMemory>) -> Vec<tokio::task::JoinHandle<Response>> {
    let mut held = Vec::new();
    for n in 1..=2 {
        faulty.inject(Some(Op::Get), 0, Fault::Hang);
        held.push(templates(app));
        while faulty.hanging() < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    faulty.clear();
    held
}

async fn busy(r: Response) -> String {
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned()), Some("1".into()));
    body_text(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_request_waits_its_turn_and_one_beyond_the_queue_gets_503_with_retry_after() {
    let (app, faulty) = app(1, Duration::from_secs(60)).await;
    let held = hold_both_turns(&app, &faulty).await;
    let queued = templates(&app);
    while app.repo.archive_reads_waiting() < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let refused = busy(app.send(Method::GET, TEMPLATES, Vec::new()).await).await;
    assert_eq!(
        refused,
        r#"{"error":"too many chart contents are being unpacked at once (at most 2) and 1 requests are waiting for a turn already: retry after the time in Retry-After"}"#
    );
    faulty.release();
    for r in held.into_iter().chain([queued]) {
        let r = r.await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(body_text(r).await.contains("templates/cm.yaml"));
    }
    assert_eq!(app.repo.archive_reads_waiting(), 0);
    assert_eq!(app.send(Method::GET, TEMPLATES, Vec::new()).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_turn_does_not_come_in_time_gets_503_with_retry_after() {
    let (app, faulty) = app(8, Duration::from_millis(100)).await;
    let held = hold_both_turns(&app, &faulty).await;
    let refused = busy(app.send(Method::GET, TEMPLATES, Vec::new()).await).await;
    assert!(refused.contains("no turn came within 100 ms"), "{refused}");
    assert_eq!(app.repo.archive_reads_waiting(), 0, "it left the queue");
    faulty.release();
    for r in held {
        assert_eq!(r.await.unwrap().status(), StatusCode::OK);
    }
}
