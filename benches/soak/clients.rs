//! The clients besides the load workers: slow clients on every server, real Helm on every site.

use std::path::Path;
use std::time::{Duration, Instant};

use chartroom_testkit::{Helm, load_client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::load::{Op, Tally, chart};
use crate::{Res, Site};

/// How long a slow client dribbles before it gives up itself.
const SLOW_PATIENCE: Duration = Duration::from_secs(30);
const STABLE_CHART: &str = "soak-stable";
const STABLE_VERSION: &str = "1.0.0";

/// The Helm repositories of the run: one per server (`<site>-<i>`), each holding the chart
/// `soak-stable` that no worker touches, so that `helm pull` always has something to pull.
pub struct HelmRepos {
    repos: Vec<(&'static str, String)>,
}

pub async fn prepare_helm(helm: &Helm, sites: &[Site]) -> Res<HelmRepos> {
    let http = load_client();
    let mut repos = Vec::new();
    for site in sites {
        let bases = site.bases();
        let tgz = chart(STABLE_CHART, STABLE_VERSION, 0);
        let r = http.post(format!("{}/api/charts", bases[0])).body(tgz).send().await.map_err(|e| e.to_string())?;
        if r.status() != 201 {
            return Err(format!("{}: uploading {STABLE_CHART}: {}", site.name, r.status()));
        }
        for (i, base) in bases.iter().enumerate() {
            let url = format!("{base}/api/charts/{STABLE_CHART}/{STABLE_VERSION}");
            let waited = Instant::now();
            while !http.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
                if waited.elapsed() > Duration::from_secs(30) {
                    return Err(format!("{}: {STABLE_CHART} not visible on {base} after 30 s", site.name));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let repo = format!("{}-{i}", site.name);
            let out = helm.output_in(None, &["repo", "add", &repo, base]);
            if !out.status.success() {
                return Err(format!("helm repo add {repo} {base}: {}", String::from_utf8_lossy(&out.stderr)));
            }
            repos.push((site.name, repo));
        }
    }
    Ok(HelmRepos { repos })
}

/// Every `every` until `deadline`: `helm repo update` and `helm pull` of the stable chart on
/// every server (blocking: Helm runs as a process).
pub fn helm_loop(helm: &Helm, repos: &HelmRepos, every: Duration, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    let pulls = tempfile::tempdir().expect("temporary folder");
    while Instant::now() < deadline {
        let round = Instant::now();
        for (site, repo) in &repos.repos {
            let chart_ref = format!("{repo}/{STABLE_CHART}");
            // `helm pull -d` writes into an existing folder only.
            let dest = pulls.path().join(repo);
            let _ = std::fs::create_dir_all(&dest);
            let steps: [&[&str]; 2] =
                [&["repo", "update", repo], &["pull", &chart_ref, "--version", STABLE_VERSION, "-d", path(&dest)]];
            for args in steps {
                let out = helm.output_in(None, args);
                let status = if out.status.success() { 200 } else { 0 };
                tally.record(site, Op::Helm, status, || {
                    format!("helm {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr))
                });
            }
            let _ = std::fs::remove_dir_all(&dest);
        }
        while Instant::now() < deadline && round.elapsed() < every {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    tally
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// A slow client, again and again until `deadline`: even `s` sends a request header one byte
/// every 2 s, odd `s` a complete upload header and then its body at the same pace. Each
/// connection ends when the server closes it or after [`SLOW_PATIENCE`]; outcomes are counted.
pub async fn slow_client(base: String, s: usize, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    let addr = base.trim_start_matches("http://").split('/').next().unwrap_or_default().to_owned();
    let kind = if s.is_multiple_of(2) { "slow header" } else { "slow body" };
    // Spread the starts so that connections do not all end at once.
    tokio::time::sleep(Duration::from_millis(700 * s as u64)).await;
    while Instant::now() + Duration::from_secs(2) < deadline {
        let Ok(mut conn) = TcpStream::connect(&addr).await else {
            tally.note(format!("{kind}: connect failed"));
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let (head, drip): (&[u8], &[u8]) = if s.is_multiple_of(2) {
            (
                b"GET /index.yaml HTTP/1.1\r\n",
                b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            )
        } else {
            (b"POST /api/charts HTTP/1.1\r\nHost: soak\r\nContent-Length: 100000\r\n\r\n", &[0x1f; 100])
        };
        let opened = Instant::now();
        let mut outcome = "gave up (still open)";
        if conn.write_all(head).await.is_err() {
            outcome = "closed by server";
        } else {
            let mut byte = 0;
            let mut buf = [0u8; 512];
            while opened.elapsed() < SLOW_PATIENCE && Instant::now() < deadline {
                // Wait 2 s for the server to answer or close, then send one more byte.
                match tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => {
                        outcome = "closed by server";
                        break;
                    }
                    Ok(Ok(_)) => {
                        outcome = "answered by server";
                        break;
                    }
                    Err(_) => {}
                }
                if conn.write_all(&drip[byte % drip.len()..][..1]).await.is_err() {
                    outcome = "closed by server";
                    break;
                }
                byte += 1;
            }
        }
        let secs = opened.elapsed().as_secs();
        let bucket = match secs {
            0..5 => "< 5 s",
            5..15 => "5-15 s",
            15..30 => "15-30 s",
            _ => "≥ 30 s",
        };
        tally.note(format!("{kind}: {outcome} after {bucket}"));
    }
    tally
}
